package das

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/control/wire"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
)

func engineConfig(t *testing.T, key *wire.PrivateKey, faults ...Fault) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Fleet = sim.Config{Meters: 4, Interval: 15 * time.Minute, Seed: 7, IDPrefix: "M-", TimeZone: "UTC"}
	cfg.Keys = wire.NewKeyring(key.Public())
	cfg.ExecDelay = 0
	cfg.Faults = faults
	cfg.Clock = func() time.Time { return t0 }
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// rawRegisters returns the load model's registers (relay always closed) of meter i at the
// boundaries from t0, n of them: what the engine's fleet draws.
func rawRegisters(t *testing.T, cfg Config, i, n int) []int64 {
	t.Helper()
	fc := cfg.Fleet
	fc.From, fc.To = t0, t0.Add(time.Duration(n-1)*fc.Interval)
	f, err := sim.New(fc)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	var r schema.Reading
	for k := 0; f.Next(&r); k++ {
		if k%fc.Meters == i {
			out = append(out, r.RegisterWh)
		}
	}
	return out
}

func send(t *testing.T, e *engine, c *wire.Command, at time.Time) {
	t.Helper()
	b, err := wire.AppendCommand(nil, c)
	if err != nil {
		t.Fatal(err)
	}
	e.advance(at)
	e.receive(c.MeterID, b, at)
}

// take empties the outbox, returning acks as "meter status relay reason" (or "meter
// event relay") and the readings of meter id.
func take(e *engine, id string) (acks []string, readings []schema.Reading) {
	for _, a := range e.out.acks {
		if a.Kind == wire.KindEvent {
			acks = append(acks, fmt.Sprintf("%s %s %s @%s", a.MeterID, a.Event, a.Relay, a.At.Sub(t0)))
			continue
		}
		acks = append(acks, fmt.Sprintf("%s %s %s %s %s @%s", a.CommandID, a.MeterID, a.Status, a.Relay, a.Reason, a.At.Sub(t0)))
	}
	for _, r := range e.out.readings {
		if r.MeterID == id {
			readings = append(readings, r)
		}
	}
	e.out = outbox{}
	return acks, readings
}

// TestRelayInReadings: a meter meters only the time its relay is closed — a share of the
// interval it is switched in, nothing while disconnected or armed.
func TestRelayInReadings(t *testing.T) {
	key := testKey(t, "k1")
	cfg := engineConfig(t, key)
	e, err := newEngine(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	raw := rawRegisters(t, cfg, 0, 9)
	q := 15 * time.Minute
	send(t, e, command(t, key, "c1", "M-000001", wire.ActionDisconnect, t0, time.Hour), t0.Add(5*time.Minute))
	send(t, e, command(t, key, "c2", "M-000001", wire.ActionArm, t0, 2*time.Hour), t0.Add(40*time.Minute))
	send(t, e, command(t, key, "c3", "M-000001", wire.ActionReconnect, t0, 3*time.Hour), t0.Add(70*time.Minute))
	e.advance(t0.Add(8 * q))
	acks, rs := take(e, "M-000001")
	want := []string{
		"c1 M-000001 accepted   @5m0s", "c1 M-000001 executed disconnected  @5m0s",
		"c2 M-000001 accepted   @40m0s", "c2 M-000001 executed armed  @40m0s",
		"c3 M-000001 accepted   @1h10m0s", "c3 M-000001 executed connected  @1h10m0s",
	}
	if !slices.Equal(acks, want) {
		t.Errorf("acks\n%q\nwant\n%q", acks, want)
	}
	if len(rs) != 9 {
		t.Fatalf("%d readings, want 9", len(rs))
	}
	// Connected 5 of the first 15 minutes, then open until 1h10, then closed.
	on := []time.Duration{5 * time.Minute, 0, 0, 0, 5 * time.Minute, q, q, q}
	reg := raw[0]
	for k, r := range rs {
		if !r.TS.Equal(t0.Add(time.Duration(k) * q)) {
			t.Fatalf("reading %d at %s", k, r.TS)
		}
		if k > 0 {
			reg += int64(float64(raw[k]-raw[k-1]) * float64(on[k-1]) / float64(q))
		}
		if r.RegisterWh != reg {
			t.Errorf("reading at %s: register %d, want %d (load model %d)", r.TS.Sub(t0), r.RegisterWh, reg, raw[k])
		}
	}
	if rs[3].RegisterWh != rs[1].RegisterWh || raw[3] == raw[1] {
		t.Errorf("consumption while open: %d → %d (load model %d → %d)", rs[1].RegisterWh, rs[3].RegisterWh, raw[1], raw[3])
	}
	// The other meters meter as the load model does.
	other := rawRegisters(t, cfg, 1, 9)
	if got := e.meters[1].register(); got != other[8] {
		t.Errorf("meter 2: register %d, want %d", got, other[8])
	}
}

func TestFaults(t *testing.T) {
	key := testKey(t, "k1")
	cfg := engineConfig(t, key,
		Fault{Kind: FaultSilent, Meters: []string{"M-000001"}},
		Fault{Kind: FaultLate, Meters: []string{"M-000002"}, Delay: 10 * time.Minute},
		Fault{Kind: FaultFail, Meters: []string{"M-000003"}},
		Fault{Kind: FaultDuplicate, Meters: []string{"M-000004"}},
		Fault{Kind: FaultOnSite, Meters: []string{"M-000003"}, Delay: 20 * time.Minute},
	)
	cfg.ExecDelay = time.Minute
	e, err := newEngine(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		send(t, e, command(t, key, fmt.Sprintf("c%d", i), fmt.Sprintf("M-%06d", i), wire.ActionDisconnect, t0, time.Hour), t0)
	}
	e.advance(t0.Add(9 * time.Minute))
	acks, _ := take(e, "")
	want := []string{
		"c1 M-000001 accepted   @0s",
		"c2 M-000002 accepted   @0s",
		"c3 M-000003 accepted   @0s",
		"c4 M-000004 accepted   @0s", "c4 M-000004 accepted   @0s",
		"c4 M-000004 refused  replay @0s", "c4 M-000004 refused  replay @0s",
		"c3 M-000003 failed connected relay_stuck @1m0s",
		"c4 M-000004 executed disconnected  @1m0s", "c4 M-000004 executed disconnected  @1m0s",
	}
	if !slices.Equal(acks, want) {
		t.Errorf("acks to 9m\n%q\nwant\n%q", acks, want)
	}
	e.advance(t0.Add(time.Hour))
	acks, _ = take(e, "")
	want = []string{"c2 M-000002 executed disconnected  @10m0s", "M-000003 relay_changed_on_site disconnected @20m0s"}
	if !slices.Equal(acks, want) {
		t.Errorf("acks to 1h\n%q\nwant\n%q", acks, want)
	}
	if m := e.meters[0]; m.relay != wire.RelayConnected {
		t.Errorf("the silent meter's relay is %s", m.relay)
	}

	// A share of the fleet: drawn from the seed, the same every time.
	cfg.Fleet.Meters = 1000
	cfg.Faults = []Fault{{Kind: FaultSilent, Share: 0.1}}
	a, err := newEngine(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newEngine(cfg, t0)
	n := 0
	for i := range a.meters {
		if a.meters[i].silent != b.meters[i].silent {
			t.Fatal("the share differs between two engines of one seed")
		}
		if a.meters[i].silent {
			n++
		}
	}
	if n < 60 || n > 140 {
		t.Errorf("%d of 1000 meters silent, want about 100", n)
	}
	cfg.Faults = []Fault{{Kind: FaultSilent, Meters: []string{"M-999999"}}}
	if _, err := newEngine(cfg, t0); err == nil {
		t.Error("a fault of a meter outside the fleet was accepted")
	}
}

// TestNotBeforeAndReadNow: a command waits for its not_before; read_now publishes a
// reading of the register now.
func TestNotBeforeAndReadNow(t *testing.T) {
	key := testKey(t, "k1")
	cfg := engineConfig(t, key)
	e, err := newEngine(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	send(t, e, command(t, key, "c1", "M-000002", wire.ActionDisconnect, t0.Add(30*time.Minute), time.Hour), t0.Add(time.Minute))
	e.advance(t0.Add(29 * time.Minute))
	acks, _ := take(e, "")
	if want := []string{"c1 M-000002 accepted   @1m0s"}; !slices.Equal(acks, want) {
		t.Errorf("before not_before: %q", acks)
	}
	e.advance(t0.Add(30 * time.Minute))
	acks, _ = take(e, "")
	if want := []string{"c1 M-000002 executed disconnected  @30m0s"}; !slices.Equal(acks, want) {
		t.Errorf("at not_before: %q", acks)
	}
	send(t, e, command(t, key, "c2", "M-000003", wire.ActionReadNow, t0, time.Hour), t0.Add(37*time.Minute+500*time.Millisecond))
	acks, rs := take(e, "M-000003")
	if want := []string{"c2 M-000003 accepted   @37m0.5s", "c2 M-000003 executed connected  @37m0.5s"}; !slices.Equal(acks, want) {
		t.Errorf("read_now: %q", acks)
	}
	if len(rs) != 1 || !rs[0].TS.Equal(t0.Add(37*time.Minute)) || rs[0].RegisterWh != e.meters[2].register() {
		t.Errorf("read_now readings %+v", rs)
	}
}

// BenchmarkEngineCommand measures verifying and answering one command (decode, Ed25519
// verification, nonce, accepted and executed) without Kafka; reports commands/s. The
// message key's formatting is inside the loop, a small part of the time.
func BenchmarkEngineCommand(b *testing.B) {
	key, err := wire.GenerateKey("k1")
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Fleet = sim.Config{Meters: 10000, Interval: 15 * time.Minute, Seed: 7, IDPrefix: "M-", TimeZone: "UTC"}
	cfg.Keys, cfg.ExecDelay = wire.NewKeyring(key.Public()), 0
	e, err := newEngine(cfg, t0)
	if err != nil {
		b.Fatal(err)
	}
	// Every command new (its own nonce), a meter's in turn: the path of an accepted one.
	msgs := make([][]byte, b.N)
	for i := range msgs {
		c := command(b, key, fmt.Sprint("c", i), fmt.Sprintf("M-%06d", i%10000+1), wire.ActionDisconnect, t0, time.Hour)
		if msgs[i], err = wire.AppendCommand(nil, c); err != nil {
			b.Fatal(err)
		}
	}
	e.advance(t0)
	b.ResetTimer()
	for i, m := range msgs {
		e.receive(fmt.Sprintf("M-%06d", i%10000+1), m, t0)
		e.out = outbox{}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commands/s")
}
