package das

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/control/wire"
	"github.com/meterhouse/meterhouse/ingest"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/sim"
)

// manualClock is a clock the test moves.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// topicReader reads a test topic from its start, partition 0.
func topicReader(t *testing.T, topic string) *kafka.Reader {
	t.Helper()
	k := testenv.Kafka()
	dialer, err := k.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: k.Brokers, Dialer: dialer, Topic: topic, Partition: 0,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
	t.Cleanup(func() { r.Close() })
	return r
}

// readAcks reads n acks as "command meter status relay reason" (an event as "meter event
// relay"), checking each message's key and timestamp.
func readAcks(ctx context.Context, t *testing.T, r *kafka.Reader, n int) []string {
	t.Helper()
	var out []string
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("after %d acks %q: %v", len(out), out, err)
		}
		a, err := wire.DecodeAck(m.Value)
		if err != nil {
			t.Fatalf("ack %s: %v", m.Value, err)
		}
		if string(m.Key) != a.MeterID || !m.Time.Equal(a.At.Truncate(time.Millisecond)) {
			t.Errorf("ack %s: key %q, timestamp %s", m.Value, m.Key, m.Time)
		}
		if a.Kind == wire.KindEvent {
			out = append(out, fmt.Sprintf("%s %s %s", a.MeterID, a.Event, a.Relay))
			continue
		}
		out = append(out, fmt.Sprintf("%s %s %s %s %s", a.CommandID, a.MeterID, a.Status, a.Relay, a.Reason))
	}
	return out
}

// TestDASOnKafka runs the DAS against the real Kafka on fresh topics with an injected
// clock: signed commands in, acks out (refusals, a duplicated delivery, a stuck relay, a
// late answer, a relay changed on site), and readings in the format ingest accepts that
// show no consumption while the relay is open.
func TestDASOnKafka(t *testing.T) {
	topics := testenv.Topics(t, []int{1, 1, 1}, "readings", "commands", "command-acks")
	key, stranger := testKey(t, "k-test"), testKey(t, "k-stranger")
	t0 := time.Now().UTC().Truncate(15 * time.Minute) // within the topics' retention
	clock := &manualClock{now: t0.Add(time.Minute)}
	cfg := DefaultConfig()
	cfg.Kafka = testenv.Kafka() // the das user's ACLs name the standard topics only
	cfg.ReadingsTopic, cfg.CommandsTopic, cfg.AcksTopic = topics[0], topics[1], topics[2]
	cfg.Group = "das-sim-" + testenv.Suffix()
	cfg.Fleet = sim.Config{Meters: 6, Interval: 15 * time.Minute, Seed: 1, IDPrefix: "MTR-", TimeZone: "UTC"}
	cfg.Keys = wire.NewKeyring(key.Public())
	cfg.Clock, cfg.ExecDelay, cfg.Tick = clock.Now, 0, 20*time.Millisecond
	cfg.Log = testenv.Logger(t)
	cfg.Faults = []Fault{
		{Kind: FaultDuplicate, Meters: []string{"MTR-000002"}},
		{Kind: FaultFail, Meters: []string{"MTR-000003"}},
		{Kind: FaultLate, Meters: []string{"MTR-000004"}, Delay: 10 * time.Minute},
		{Kind: FaultOnSite, Meters: []string{"MTR-000005"}, Delay: 20 * time.Minute},
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	valid := t0.Add(-time.Minute)
	tampered := command(t, key, "c-tamper", "MTR-000006", wire.ActionDisconnect, valid, 15*time.Minute)
	tampered.MeterID = "MTR-000001"
	cmds := []struct {
		key string
		cmd *wire.Command
	}{
		{"MTR-000001", command(t, key, "c1", "MTR-000001", wire.ActionDisconnect, valid, 15*time.Minute)},
		{"MTR-000001", nil}, // c1 again: a replay
		{"MTR-000001", command(t, key, "c-exp", "MTR-000001", wire.ActionDisconnect, t0.Add(-time.Hour), 15*time.Minute)},
		{"MTR-000006", command(t, stranger, "c-key", "MTR-000006", wire.ActionDisconnect, valid, 15*time.Minute)},
		{"MTR-000001", tampered},
		{"MTR-000006", command(t, key, "c-rekeyed", "MTR-000003", wire.ActionDisconnect, valid, 15*time.Minute)},
		{"MTR-000099", command(t, key, "c-unknown", "MTR-000099", wire.ActionDisconnect, valid, 15*time.Minute)},
		{"MTR-000002", command(t, key, "c2", "MTR-000002", wire.ActionDisconnect, valid, 15*time.Minute)},
		{"MTR-000003", command(t, key, "c3", "MTR-000003", wire.ActionDisconnect, valid, 15*time.Minute)},
		{"MTR-000004", command(t, key, "c4", "MTR-000004", wire.ActionArm, valid, 15*time.Minute)},
		{"MTR-000006", command(t, key, "c6", "MTR-000006", wire.ActionReadNow, valid, 15*time.Minute)},
	}
	var msgs []kafka.Message
	for i, c := range cmds {
		if c.cmd == nil {
			msgs = append(msgs, msgs[i-1])
			continue
		}
		b, err := wire.AppendCommand(nil, c.cmd)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Key: []byte(c.key), Value: b})
	}
	k := testenv.Kafka()
	transport, err := k.Transport()
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: k.Addr(), Transport: transport, Topic: cfg.CommandsTopic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	acks := topicReader(t, cfg.AcksTopic)
	got := readAcks(ctx, t, acks, 19)
	want := []string{
		"c1 MTR-000001 accepted  ", "c1 MTR-000001 executed disconnected ",
		"c1 MTR-000001 refused  replay",
		"c-exp MTR-000001 refused  expired",
		"c-key MTR-000006 refused  unknown_key",
		"c-tamper MTR-000001 refused  bad_signature",
		"c-rekeyed MTR-000003 refused  meter_id_mismatch",
		"c-unknown MTR-000099 refused  unknown_meter",
		"c2 MTR-000002 accepted  ", "c2 MTR-000002 accepted  ",
		"c2 MTR-000002 refused  replay", "c2 MTR-000002 refused  replay",
		"c2 MTR-000002 executed disconnected ", "c2 MTR-000002 executed disconnected ",
		"c3 MTR-000003 accepted  ", "c3 MTR-000003 failed connected relay_stuck",
		"c4 MTR-000004 accepted  ",
		"c6 MTR-000006 accepted  ", "c6 MTR-000006 executed connected ",
	}
	if !slices.Equal(got, want) {
		t.Errorf("acks\n%q\nwant\n%q", got, want)
	}
	// The late answer comes when the DAS's clock reaches it; the change on site at 20
	// minutes after the start.
	clock.Set(t0.Add(11 * time.Minute))
	if got := readAcks(ctx, t, acks, 1); got[0] != "c4 MTR-000004 executed armed " {
		t.Errorf("late answer %q", got)
	}
	clock.Set(t0.Add(30 * time.Minute))
	if got := readAcks(ctx, t, acks, 1); got[0] != "MTR-000005 relay_changed_on_site disconnected" {
		t.Errorf("on-site change %q", got)
	}
	if err := testenv.WaitCommitted(ctx, cfg.Group, cfg.CommandsTopic); err != nil {
		t.Errorf("the command offsets: %v", err)
	}

	// Readings: 6 meters at t0, +15m and +30m, and the on-demand one of MTR-000006 at
	// t0+1m; each one ingest's decoder accepts.
	readings := topicReader(t, cfg.ReadingsTopic)
	dec := ingest.NewJSONDecoder(ingest.DefaultConfig().Window)
	var cols ingest.Columns
	for cols.Len() < 19 {
		m, err := readings.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("after %d readings: %v", cols.Len(), err)
		}
		if rej, ok := dec.Decode(m.Key, m.Value, m.Time, &cols); !ok {
			t.Fatalf("ingest refuses %s: %+v", m.Value, rej)
		}
	}
	reg := map[string]map[time.Duration]int64{}
	for i := range cols.Len() {
		id := cols.MeterID[i]
		if reg[id] == nil {
			reg[id] = map[time.Duration]int64{}
		}
		reg[id][cols.TS[i].Sub(t0)] = cols.RegisterWh[i]
	}
	q := 15 * time.Minute
	for _, id := range []string{"MTR-000001", "MTR-000002", "MTR-000004"} {
		// Disconnected from minute 1, armed from minute 11: nothing metered in 15–30.
		if reg[id][2*q] != reg[id][q] {
			t.Errorf("%s consumed %d Wh while disconnected", id, reg[id][2*q]-reg[id][q])
		}
	}
	for _, id := range []string{"MTR-000003", "MTR-000006"} {
		if !(reg[id][2*q] > reg[id][q] && reg[id][q] > reg[id][0]) {
			t.Errorf("%s connected, registers %v", id, reg[id])
		}
	}
	if r, ok := reg["MTR-000006"][time.Minute]; !ok || r != reg["MTR-000006"][0] {
		t.Errorf("read_now reading at 1m: %d, %v (register at 0: %d)", r, ok, reg["MTR-000006"][0])
	}
	if len(reg) != 6 {
		t.Errorf("readings of %d meters", len(reg))
	}
}
