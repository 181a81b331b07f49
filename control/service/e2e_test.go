package service

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/calendar/holidays"
	"github.com/meterhouse/meterhouse/control"
	"github.com/meterhouse/meterhouse/control/audit"
	"github.com/meterhouse/meterhouse/control/rules"
	"github.com/meterhouse/meterhouse/control/wire"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/registry"
	"github.com/meterhouse/meterhouse/sim"
	"github.com/meterhouse/meterhouse/sim/das"
	"github.com/meterhouse/meterhouse/weather"
)

// The end-to-end tests run the real command service against the real DAS simulator
// (sim/das, in-process) over fresh Kafka topics, with the real safety rules over the real
// registry, calendar and weather stores and the real hash-chained audit log (anchored on
// a fresh Kafka topic) in a fresh database. Service and DAS share one injected clock,
// set to a working day of the last week (within the topics' retention, never in the
// future), so that calendars, cut-off hours and expiry are decided without sleeping.

// e2eMeter is a meter of the DAS's fleet as the registry lists it.
type e2eMeter struct {
	region, feeder, zone string
	lifeSupport          bool
}

// e2eSpec is what an end-to-end fixture runs.
type e2eSpec struct {
	meters    []e2eMeter // MTR-000001, MTR-000002, … in order
	faults    []das.Fault
	execDelay time.Duration
	config    func(*Config)
	// mitm puts a relay between the service's commands topic and the DAS's, which tests
	// use to replay, hold back and tamper with published commands.
	mitm bool
}

// e2e is a service, a DAS, the rules and the audit log over a fresh database and topics.
type e2e struct {
	t       *testing.T
	ctx     context.Context
	cfg     Config
	deps    Deps
	conn    driver.Conn
	private string
	clock   *clock
	key     *wire.PrivateKey
	log     *audit.Log
	anchor  *audit.KafkaAnchor
	mitm    *mitm
	dasCfg  das.Config
	workday time.Time // 09:00 UTC of the working day the clock starts on
	weekend time.Time // 09:00 UTC of a weekend day of the last week
	svc     *Service
	stop    func()
}

// e2eDays returns 09:00 UTC of the latest weekday and of the latest weekend day before
// today, both at most six days back.
func e2eDays(now time.Time) (workday, weekend time.Time) {
	today := now.UTC().Truncate(24 * time.Hour)
	for d := 1; d <= 6; d++ {
		day := today.AddDate(0, 0, -d).Add(9 * time.Hour)
		switch wd := day.Weekday(); {
		case wd == time.Saturday || wd == time.Sunday:
			if weekend.IsZero() {
				weekend = day
			}
		case workday.IsZero():
			workday = day
		}
	}
	return workday, weekend
}

// e2eRules is the rule set of the test regions: R1 blocks weekends, holidays, the day
// before one, disconnects from 20:00 local time and 6 hours before a forecast outside
// -10 … 35 °C; RC has its cut-off at 10:00. RH's calendar has a holiday on the working
// day, RD on the day after it, and RM's forecast is cold (region data in newE2E).
func e2eRules() rules.Config {
	r1 := rules.Region{CutoffHour: 20, BlockWeekends: true, BlockHolidays: true, BlockDayBeforeHoliday: true,
		Moratorium: rules.Moratorium{Hours: 6, MinC: -10, MaxC: 35}}
	rc := r1
	rc.CutoffHour = 10
	return rules.Config{Default: r1, Regions: map[string]rules.Region{"RC": rc}}
}

func newE2E(t *testing.T, spec e2eSpec) *e2e {
	t.Helper()
	chCfg, conn := testenv.ClickHouse(t)
	topics := testenv.Topics(t, []int{1, 1, 1, 1, 1}, "readings", "commands", "commands-das", "command-acks", "audit-anchors")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	workday, weekend := e2eDays(time.Now())
	f := &e2e{t: t, ctx: ctx, conn: conn, private: chCfg.PrivateDatabase(), clock: &clock{t: workday}, workday: workday, weekend: weekend}

	// The registry: the fleet's meters, a life-support agreement; the regions' calendars
	// and forecasts.
	reg, err := registry.NewStore(conn, f.private)
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var mvs []registry.MeterVersion
	var avs []registry.AgreementVersion
	for i, m := range spec.meters {
		id := fmt.Sprintf("MTR-%06d", i+1)
		mvs = append(mvs, registry.MeterVersion{MeterID: id, ValidFrom: since, Feeder: m.feeder, Region: m.region, TimeZone: m.zone, Status: registry.StatusActive})
		if m.lifeSupport {
			avs = append(avs, registry.AgreementVersion{AgreementID: "AG-" + id, AccountID: "ACC-" + id, ServicePointID: "SP-" + id, MeterID: id,
				Tariff: "T1", CustomerClass: "residential", CycleDay: 1, Start: since, ValidFrom: since,
				Customer: registry.Customer{Name: "Customer " + id, LifeSupport: true}})
		}
	}
	if _, err := reg.PutMeters(ctx, "e2e", mvs); err != nil {
		t.Fatal(err)
	}
	if len(avs) > 0 {
		if _, err := reg.PutAgreements(ctx, "e2e", avs); err != nil {
			t.Fatal(err)
		}
	}
	cal, err := holidays.NewStore(conn)
	if err != nil {
		t.Fatal(err)
	}
	day := workday.Truncate(24 * time.Hour)
	later := day.AddDate(0, 0, 60)
	var entries []holidays.Entry
	for region, d := range map[string]time.Time{"R1": later, "RC": later, "RM": later, "RH": day, "RD": day.AddDate(0, 0, 1)} {
		entries = append(entries, holidays.Entry{Region: region, Date: d, Kind: holidays.EntryHoliday, Name: "Test Day"})
	}
	if _, err := cal.Load(ctx, entries, "e2e"); err != nil {
		t.Fatal(err)
	}
	ws, err := weather.NewStore(conn)
	if err != nil {
		t.Fatal(err)
	}
	from, to := day, weekend.Truncate(24*time.Hour)
	if to.Before(from) {
		from, to = to, from
	}
	from, to = from.AddDate(0, 0, -1), to.AddDate(0, 0, 2)
	var values []weather.Value
	for _, region := range []string{"R1", "RC", "RM", "RH", "RD"} {
		for h := from; h.Before(to); h = h.Add(time.Hour) {
			temp := 8.0
			if region == "RM" && h.Equal(workday.Add(2*time.Hour)) {
				temp = -15
			}
			values = append(values, weather.Value{Region: region, ValidTime: h, IssuedAt: from, Kind: weather.Forecast, Source: "e2e", TemperatureC: temp})
		}
	}
	if _, err := ws.Load(ctx, values); err != nil {
		t.Fatal(err)
	}
	checker, err := rules.New(e2eRules(), rules.Deps{Meters: reg, Agreements: reg, Calendars: cal, Weather: ws})
	if err != nil {
		t.Fatal(err)
	}

	// The audit log, anchored on Kafka.
	if f.anchor, err = audit.NewKafkaAnchor(testenv.Kafka(), topics[4]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.anchor.Close() })
	if f.log, err = audit.Open(ctx, conn, f.private, f.anchor, audit.WithClock(f.clock.Now)); err != nil {
		t.Fatal(err)
	}

	// The signing key, and the DAS that holds its public half.
	if f.key, err = wire.GenerateKey("e2e-1"); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "control.key")
	if err := wire.WriteKeyFile(keyFile, f.key); err != nil {
		t.Fatal(err)
	}
	dasCommands := topics[1]
	if spec.mitm {
		dasCommands = topics[2]
	}
	f.dasCfg = das.DefaultConfig()
	f.dasCfg.Kafka = testenv.Kafka()
	f.dasCfg.ReadingsTopic, f.dasCfg.CommandsTopic, f.dasCfg.AcksTopic = topics[0], dasCommands, topics[3]
	f.dasCfg.Group = "das-sim-" + testenv.Suffix()
	f.dasCfg.Fleet = sim.Config{Meters: len(spec.meters), Interval: 15 * time.Minute, Seed: 1, IDPrefix: "MTR-", TimeZone: "UTC"}
	f.dasCfg.Keys = wire.NewKeyring(f.key.Public())
	f.dasCfg.Clock, f.dasCfg.Tick, f.dasCfg.ExecDelay, f.dasCfg.Faults = f.clock.Now, 20*time.Millisecond, spec.execDelay, spec.faults
	f.dasCfg.Log = testenv.Logger(t)
	d, err := das.New(f.dasCfg)
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "das", d.Run)
	if spec.mitm {
		f.mitm = newMITM(t, topics[1], dasCommands)
		run(t, ctx, "mitm", f.mitm.run)
	}

	cfg := DefaultConfig()
	cfg.Enabled, cfg.KeyFile = true, keyFile
	cfg.CommandsTopic, cfg.AcksTopic, cfg.GroupID = topics[1], topics[3], "meterhouse-control-"+testenv.Suffix()
	cfg.ApprovalThreshold, cfg.ApprovalTTL, cfg.AckTimeout, cfg.CommandTTL = 10, time.Hour, time.Hour, 30*time.Minute
	cfg.FleetPerMinute, cfg.FeederPerMinute = 1000, 1000
	if spec.config != nil {
		spec.config(&cfg)
	}
	f.cfg = cfg
	f.deps = Deps{ClickHouse: conn, PrivateDB: f.private, Kafka: testenv.Kafka(), Checker: checker, Auditor: f.log,
		Log: testenv.Logger(t), Now: f.clock.Now, Tick: 20 * time.Millisecond}
	f.start()
	t.Cleanup(func() { f.stop() })
	return f
}

// run runs fn until the test ends, failing the test when it returns an error.
func run(t *testing.T, ctx context.Context, name string, fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
}

// start builds a service over the fixture's database and runs it; stop ends it the way
// a killed serve ends: nothing is flushed or handed over.
func (f *e2e) start() {
	f.t.Helper()
	svc, err := New(f.ctx, f.cfg, f.deps)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	f.svc = svc
	f.stop = func() {
		cancel()
		if err := <-done; err != nil {
			f.t.Errorf("Run: %v", err)
		}
		f.stop = func() {}
	}
}

// set sets the clock.
func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func meterID(i int) string { return fmt.Sprintf("MTR-%06d", i) }

// request asks for a command as principal who under key.
func (f *e2e) request(who, key string, meter int, action string, override, emergency bool) *Command {
	f.t.Helper()
	c, _, err := f.svc.Request(f.ctx, who, key, meterID(meter), control.Request{Action: action, Reason: "e2e " + key, Override: override, Emergency: emergency})
	if err != nil {
		f.t.Fatalf("request %s of meter %d: %v", action, meter, err)
	}
	return c
}

// wait polls until the command is in state want.
func (f *e2e) wait(id string, want control.State) *Command {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := f.svc.Command(f.ctx, id)
		if err != nil {
			f.t.Fatal(err)
		}
		if c.State == want {
			return c
		}
		if time.Now().After(deadline) || (c.State.Final() && c.State != want) {
			f.t.Fatalf("command %s of %s is %s, not %s: %+v", id, c.MeterID, c.State, want, c.Transitions)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle waits until the DAS has answered every command published so far and the
// service has processed every answer.
func (f *e2e) settle() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, 20*time.Second)
	defer cancel()
	if f.mitm != nil {
		if err := testenv.WaitCommitted(ctx, f.mitm.group, f.cfg.CommandsTopic); err != nil {
			f.t.Fatal(err)
		}
		f.mitm.flushed()
	}
	for _, w := range []struct{ group, topic string }{{f.dasCfg.Group, f.dasCfg.CommandsTopic}, {f.cfg.GroupID, f.cfg.AcksTopic}} {
		if err := testenv.WaitCommitted(ctx, w.group, w.topic); err != nil {
			f.t.Fatalf("%s on %s: %v", w.group, w.topic, err)
		}
	}
}

// advance moves the shared clock and lets the service's timers run.
func (f *e2e) advance(d time.Duration) {
	f.clock.Add(d)
	f.svc.Tick(f.ctx)
}

// auditEntry is a stored audit entry.
type auditEntry struct {
	seq                                  uint64
	actor, event, command, meter, detail string
}

// audited returns the stored audit entries of a command (all with id ""), in order.
func (f *e2e) audited(id string) []auditEntry {
	f.t.Helper()
	q := "SELECT seq, actor, event, command_id, meter_id, detail FROM " + f.private + ".control_audit"
	var args []any
	if id != "" {
		q += " WHERE command_id = ?"
		args = append(args, id)
	}
	rows, err := f.conn.Query(f.ctx, q+" ORDER BY seq", args...)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []auditEntry
	for rows.Next() {
		var e auditEntry
		if err := rows.Scan(&e.seq, &e.actor, &e.event, &e.command, &e.meter, &e.detail); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// events returns the audited events of a command, in order.
func (f *e2e) events(id string) string {
	f.t.Helper()
	var out []string
	for _, e := range f.audited(id) {
		out = append(out, e.event)
	}
	return strings.Join(out, ",")
}

// last returns the last audit entry of a command with event ev.
func (f *e2e) last(id, ev string) auditEntry {
	f.t.Helper()
	var found auditEntry
	for _, e := range f.audited(id) {
		if e.event == ev {
			found = e
		}
	}
	if found.event == "" {
		f.t.Fatalf("no %s audit entry for command %s: %s", ev, id, f.events(id))
	}
	return found
}

func (f *e2e) relay(meter int) string {
	f.t.Helper()
	r, err := f.svc.Relay(f.ctx, meterID(meter))
	if err != nil {
		f.t.Fatal(err)
	}
	return r.State
}

// acks returns the DAS's answers to a command on command-acks, as "status reason".
func (f *e2e) acks(id string) []string {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	client, err := testenv.Kafka().Client(10 * time.Second)
	if err != nil {
		f.t.Fatal(err)
	}
	offs, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{f.cfg.AcksTopic: {kafka.LastOffsetOf(0)}}})
	if err != nil {
		f.t.Fatal(err)
	}
	end := offs.Topics[f.cfg.AcksTopic][0].LastOffset
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: testenv.Brokers(), Dialer: mustDialer(f.t), Topic: f.cfg.AcksTopic, Partition: 0, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	var out []string
	for off := int64(0); off < end; off++ {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			f.t.Fatal(err)
		}
		a, err := wire.DecodeAck(m.Value)
		if err != nil {
			f.t.Fatal(err)
		}
		if a.CommandID == id {
			out = append(out, strings.TrimSpace(a.Status+" "+a.Reason))
		}
		off = m.Offset
	}
	return out
}

func mustDialer(t testing.TB) *kafka.Dialer {
	d, err := testenv.Kafka().Dialer()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// mitm relays the service's commands topic to the DAS's, letting a test replay, hold
// back or rewrite messages per meter: someone with write access to the topic.
type mitm struct {
	t        *testing.T
	from, to string
	group    string
	w        *kafka.Writer

	mu        sync.Mutex
	hooks     map[string]func(kafka.Message, *wire.Command) []kafka.Message
	held      []kafka.Message
	delivered map[string]int // service deliveries per command id
	pending   sync.WaitGroup
}

func newMITM(t *testing.T, from, to string) *mitm {
	transport, err := testenv.Kafka().Transport()
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: testenv.Kafka().Addr(), Transport: transport, Topic: to, Balancer: &kafka.Hash{}, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	t.Cleanup(func() { w.Close() })
	return &mitm{t: t, from: from, to: to, group: "mitm-" + testenv.Suffix(), w: w,
		hooks: map[string]func(kafka.Message, *wire.Command) []kafka.Message{}, delivered: map[string]int{}}
}

// on makes the relay hand meter's commands to hook, which returns what to forward.
func (m *mitm) on(meter int, hook func(kafka.Message, *wire.Command) []kafka.Message) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hooks[meterID(meter)] = hook
}

// hold is a hook that keeps the message back until release.
func (m *mitm) hold(msg kafka.Message, _ *wire.Command) []kafka.Message {
	m.held = append(m.held, msg) // under mu: hooks run locked
	return nil
}

// release forwards the held messages.
func (m *mitm) release(ctx context.Context) {
	m.mu.Lock()
	held := m.held
	m.held = nil
	m.mu.Unlock()
	m.forward(ctx, held)
}

func (m *mitm) forward(ctx context.Context, msgs []kafka.Message) {
	if len(msgs) == 0 {
		return
	}
	out := make([]kafka.Message, len(msgs))
	for i, msg := range msgs {
		out[i] = kafka.Message{Key: msg.Key, Value: msg.Value}
	}
	if err := m.w.WriteMessages(ctx, out...); err != nil && ctx.Err() == nil {
		m.t.Errorf("mitm: forward: %v", err)
	}
}

// flushed waits until what the relay took from the service's topic is forwarded.
func (m *mitm) flushed() { m.pending.Wait() }

func (m *mitm) deliveries(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.delivered[id]
}

func (m *mitm) run(ctx context.Context) error {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: testenv.Brokers(), Dialer: mustDialer(m.t), GroupID: m.group, Topic: m.from,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 50 * time.Millisecond, StartOffset: kafka.FirstOffset})
	defer r.Close()
	for {
		msg, err := r.FetchMessage(ctx)
		if err != nil {
			return nil
		}
		m.pending.Add(1)
		c, err := wire.DecodeCommand(msg.Value)
		if err != nil {
			m.pending.Done()
			return fmt.Errorf("mitm: the service published a bad command: %w", err)
		}
		m.mu.Lock()
		m.delivered[c.ID]++
		out := []kafka.Message{msg}
		if hook := m.hooks[string(msg.Key)]; hook != nil {
			out = hook(msg, c)
		}
		m.mu.Unlock()
		m.forward(ctx, out)
		err = r.CommitMessages(ctx, msg)
		m.pending.Done()
		if err != nil {
			return nil
		}
	}
}

// reencode returns msg with the command rewritten by change (and re-signed by key, when
// not nil), under Kafka key k ("" keeps the message's key).
func reencode(t *testing.T, msg kafka.Message, c *wire.Command, k string, key *wire.PrivateKey, change func(*wire.Command)) kafka.Message {
	d := *c
	if change != nil {
		change(&d)
	}
	if key != nil {
		key.Sign(&d)
	}
	b, err := wire.AppendCommand(nil, &d)
	if err != nil {
		t.Error(err)
	}
	if k == "" {
		k = string(msg.Key)
	}
	return kafka.Message{Key: []byte(k), Value: b}
}

// TestE2EWire runs commands through a tampering relay and a faulty DAS: a replayed
// (redelivered) command executes once, a command held back past its not_after is refused
// expired by the DAS, a changed signed field is refused bad_signature, a command signed
// with a key the DAS does not hold is refused unknown_key, a command moved to another
// meter's Kafka key is refused meter_id_mismatch, one rewritten for another meter is
// recorded as an unknown result (and its own command times out), a duplicated delivery
// executes once, and a meter that never answers times out without a resend; each as the
// audit log records it. Then an edited audit entry is detected.
func TestE2EWire(t *testing.T) {
	meters := make([]e2eMeter, 10)
	for i := range meters {
		meters[i] = e2eMeter{region: "R1", feeder: fmt.Sprintf("F-%d", i%3), zone: "Europe/Berlin"}
	}
	f := newE2E(t, e2eSpec{meters: meters, mitm: true, execDelay: 30 * time.Second,
		faults: []das.Fault{{Kind: das.FaultDuplicate, Meters: []string{meterID(7)}}, {Kind: das.FaultSilent, Meters: []string{meterID(8)}}}})
	rogue, err := wire.GenerateKey("rogue-1")
	if err != nil {
		t.Fatal(err)
	}
	f.mitm.on(1, func(m kafka.Message, _ *wire.Command) []kafka.Message { return []kafka.Message{m, m} }) // a redelivery
	f.mitm.on(2, f.mitm.hold)
	f.mitm.on(3, func(m kafka.Message, c *wire.Command) []kafka.Message {
		return []kafka.Message{reencode(t, m, c, "", nil, func(d *wire.Command) { d.Action = wire.ActionArm })}
	})
	f.mitm.on(4, func(m kafka.Message, c *wire.Command) []kafka.Message {
		return []kafka.Message{reencode(t, m, c, "", rogue, nil)}
	})
	f.mitm.on(5, func(m kafka.Message, c *wire.Command) []kafka.Message {
		return []kafka.Message{reencode(t, m, c, meterID(6), nil, func(d *wire.Command) { d.MeterID = meterID(6) })}
	})
	f.mitm.on(9, func(m kafka.Message, c *wire.Command) []kafka.Message {
		return []kafka.Message{reencode(t, m, c, meterID(10), nil, nil)}
	})
	cmds := map[int]*Command{}
	for _, m := range []int{1, 2, 3, 4, 5, 7, 8, 9} {
		cmds[m] = f.request("op-anna", fmt.Sprintf("w%d", m), m, wire.ActionDisconnect, false, false)
	}
	f.wait(cmds[2].ID, control.StateSent)
	f.settle()

	// Refused by the DAS, each with its reason.
	for m, reason := range map[int]string{3: das.ReasonBadSignature, 4: das.ReasonUnknownKey, 9: das.ReasonKeyMismatch} {
		c := f.wait(cmds[m].ID, control.StateRefused)
		if got := f.events(c.ID); got != "requested,approved,sent,refused" {
			t.Errorf("meter %d: audit %s", m, got)
		}
		if e := f.last(c.ID, "refused"); e.actor != DASActor || !strings.HasSuffix(e.detail, ": "+reason) {
			t.Errorf("meter %d: refused entry %+v, want the DAS's %s", m, e, reason)
		}
		if r := f.relay(m); r != "unknown" {
			t.Errorf("meter %d: relay %s after a refusal", m, r)
		}
	}
	// Rewritten for meter 6: the DAS's refusal names meter 6, so it is no result of
	// meter 5's command; meter 6's relay is untouched.
	unknown := f.last(cmds[5].ID, "unknown_result")
	if unknown.meter != meterID(6) || !strings.Contains(unknown.detail, das.ReasonBadSignature) {
		t.Errorf("the rewritten command's result: %+v", unknown)
	}
	if r := f.relay(6); r != "unknown" {
		t.Errorf("meter 6: relay %s", r)
	}
	// The replay and the duplicated delivery: the DAS refused the copies, and the
	// commands wait for their results, acknowledged.
	for _, m := range []int{1, 7} {
		if c, _ := f.svc.Command(f.ctx, cmds[m].ID); c.State != control.StateAcknowledged {
			t.Errorf("meter %d: a replayed copy left the command %s (%s), want acknowledged", m, c.State, states(c))
		}
	}
	f.advance(31 * time.Second) // the DAS's exec delay
	for _, m := range []int{1, 7} {
		c := f.wait(cmds[m].ID, control.StateExecuted)
		if got := f.events(c.ID); got != "requested,approved,sent,acknowledged,replay_refused,executed" {
			t.Errorf("meter %d: audit %s", m, got)
		}
		if r := f.relay(m); r != wire.RelayDisconnected {
			t.Errorf("meter %d: relay %s", m, r)
		}
	}
	if got := f.acks(cmds[1].ID); !slices.Equal(got, []string{"accepted", "refused replay", "executed"}) {
		t.Errorf("the DAS's answers to the replayed command: %q", got)
	}
	if got := f.acks(cmds[7].ID); !slices.Equal(got, []string{"accepted", "accepted", "refused replay", "refused replay", "executed", "executed"}) {
		t.Errorf("the DAS's answers to the duplicated delivery: %q", got)
	}
	f.settle()
	if n := f.mitm.deliveries(cmds[1].ID); n != 1 {
		t.Errorf("the service published the replayed command %d times", n)
	}

	// Held back past its not_after (30 min), the command reaches the DAS too late.
	f.advance(31 * time.Minute)
	f.mitm.release(f.ctx)
	c := f.wait(cmds[2].ID, control.StateRefused)
	if e := f.last(c.ID, "refused"); !strings.HasSuffix(e.detail, ": "+das.ReasonExpired) {
		t.Errorf("the late command's refusal %+v", e)
	}

	// No answer from meter 8 (accepted, then silence), and none for meter 5's command:
	// both time out after ack_timeout (1 h) and are never sent again.
	f.advance(28 * time.Minute) // 59 min 31 s after the send
	for _, m := range []int{5, 8} {
		if c, _ := f.svc.Command(f.ctx, cmds[m].ID); c.State.Final() {
			t.Errorf("meter %d: %s before ack_timeout", m, c.State)
		}
	}
	f.advance(time.Minute)
	for _, m := range []int{5, 8} {
		c := f.wait(cmds[m].ID, control.StateTimedOut)
		if e := f.last(c.ID, "timed_out"); e.actor != Actor || !strings.Contains(e.detail, "ack_timeout") {
			t.Errorf("meter %d: timed_out entry %+v", m, e)
		}
	}
	if got := f.events(cmds[8].ID); got != "requested,approved,sent,acknowledged,timed_out" {
		t.Errorf("meter 8: audit %s", got)
	}
	for range 3 {
		f.advance(time.Hour)
	}
	f.settle()
	for _, m := range []int{5, 8} {
		if n := f.mitm.deliveries(cmds[m].ID); n != 1 {
			t.Errorf("meter %d: published %d times, want once (never resent)", m, n)
		}
	}

	// The audit log verifies against its Kafka anchor; an edited entry is detected.
	head, err := f.log.Anchor(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(f.ctx, f.conn, f.private, f.anchor)
	if err != nil || !rep.OK() || rep.Head.Seq != head.Seq || rep.Anchors != 1 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	edited := f.last(cmds[1].ID, "executed")
	tamperAudit(t, f.ctx, f.conn, f.private, fmt.Sprintf("if(seq = %d, 'executed, relay connected', detail)", edited.seq))
	rep, err = audit.Verify(f.ctx, f.conn, f.private, f.anchor)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Seq != edited.seq || rep.Problems[0].Kind != audit.KindEdited {
		t.Errorf("after editing entry %d: %+v", edited.seq, rep.Problems)
	}
}

// tamperAudit rewrites the audit table with detail replaced by the expression detailSQL,
// as someone with write access to ClickHouse could.
func tamperAudit(t *testing.T, ctx context.Context, conn driver.Conn, db, detailSQL string) {
	t.Helper()
	const cols = "seq, at, at_ns, actor, event, command_id, meter_id, detail, prev_hash, hash"
	for _, q := range []string{
		"CREATE TABLE " + db + ".pristine AS " + db + ".control_audit",
		"INSERT INTO " + db + ".pristine (" + cols + ") SELECT " + cols + " FROM " + db + ".control_audit",
		"DROP TABLE " + db + ".control_audit",
		"CREATE TABLE " + db + ".control_audit AS " + db + ".pristine",
		"INSERT INTO " + db + ".control_audit (" + cols + ") SELECT seq, at, at_ns, actor, event, command_id, meter_id, " + detailSQL +
			" AS detail, prev_hash, hash FROM " + db + ".pristine",
	} {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestE2ESafetyRules runs disconnects that the real rules refuse, over the registry,
// calendars and forecasts: a life-support customer, a public holiday and the day before
// one (by the region's calendar), a weekend, the cut-off hour in the meter's time zone
// and a weather moratorium; each is refused at request with the rule in the audit log
// and never reaches the DAS, while a disconnect the rules allow executes through it. A
// disconnect overriding the life-support flag waits for a second supervisor: its
// requester cannot approve it, it expires when nobody does, an approval after
// approval_ttl is refused, and a second supervisor's approval sends it. An emergency
// reconnect skips the rules and restores the power.
func TestE2ESafetyRules(t *testing.T) {
	f := newE2E(t, e2eSpec{meters: []e2eMeter{
		{region: "R1", feeder: "F-1", zone: "Europe/Berlin"},                    // 1: allowed
		{region: "R1", feeder: "F-1", zone: "Europe/Berlin", lifeSupport: true}, // 2
		{region: "RH", feeder: "F-2", zone: "Europe/Berlin"},                    // 3: holiday today
		{region: "RD", feeder: "F-2", zone: "Europe/Berlin"},                    // 4: holiday tomorrow
		{region: "RC", feeder: "F-3", zone: "Europe/Berlin"},                    // 5: cut-off 10:00
		{region: "RM", feeder: "F-3", zone: "Europe/Berlin"},                    // 6: cold forecast
		{region: "R1", feeder: "F-1", zone: "Europe/Berlin"},                    // 7: on the weekend
	}})
	refused := func(meter int, key, rule string) {
		t.Helper()
		c := f.request("op-anna", key, meter, wire.ActionDisconnect, false, false)
		if c.State != control.StateRefused {
			t.Errorf("meter %d (%s): %s, want refused", meter, rule, c.State)
			return
		}
		if got := f.events(c.ID); got != "requested,refused" {
			t.Errorf("meter %d (%s): audit %s", meter, rule, got)
		}
		if e := f.last(c.ID, "refused"); e.actor != Actor || !strings.HasPrefix(e.detail, rule+": ") {
			t.Errorf("meter %d: refused entry %+v, want rule %s", meter, e, rule)
		}
	}
	weekend := func() {
		f.clock.set(f.weekend)
		refused(7, "weekend", rules.RuleWeekend)
	}
	if f.weekend.Before(f.workday) {
		weekend()
		f.clock.set(f.workday)
	}
	refused(2, "ls", rules.RuleLifeSupport)
	refused(3, "hol", rules.RuleHoliday)
	refused(4, "eve", rules.RuleDayBeforeHoliday)
	refused(5, "late", rules.RuleCutoffHour)
	refused(6, "cold", rules.RuleWeatherMoratorium)
	ok := f.request("op-anna", "ok", 1, wire.ActionDisconnect, false, false)
	f.wait(ok.ID, control.StateExecuted)
	if r := f.relay(1); r != wire.RelayDisconnected {
		t.Errorf("meter 1: relay %s", r)
	}
	f.settle()
	for _, m := range []int{2, 3, 4, 5, 6} {
		if r := f.relay(m); r != "unknown" {
			t.Errorf("meter %d: relay %s: a refused command reached the DAS", m, r)
		}
	}

	// Override of the life-support flag: needs a second supervisor.
	c := f.request("sup-bea", "o1", 2, wire.ActionDisconnect, true, false)
	if c.State != control.StateRequested || c.NeedsApproval == "" {
		t.Fatalf("override: %s, needs approval %q", c.State, c.NeedsApproval)
	}
	if _, err := f.svc.Approve(f.ctx, "sup-bea", true, c.ID); !errors.Is(err, fault.ErrForbidden) {
		t.Errorf("self-approval: %v, want forbidden", err)
	}
	if _, err := f.svc.Approve(f.ctx, "op-carl", false, c.ID); !errors.Is(err, fault.ErrForbidden) {
		t.Errorf("approval by an operator: %v, want forbidden", err)
	}
	f.advance(61 * time.Minute) // nobody else approves within approval_ttl
	f.wait(c.ID, control.StateExpired)
	if got := f.events(c.ID); got != "requested,approval_refused,approval_refused,expired" {
		t.Errorf("unapproved override: audit %s", got)
	}
	if e := f.last(c.ID, "approval_refused"); e.actor != "op-carl" {
		t.Errorf("approval_refused entry %+v", e)
	}
	c = f.request("sup-bea", "o2", 2, wire.ActionDisconnect, true, false)
	f.svc.mu.Lock() // keep the timers off, so that the approval itself finds the window passed
	f.clock.Add(61 * time.Minute)
	f.svc.mu.Unlock()
	if _, err := f.svc.Approve(f.ctx, "sup-dora", true, c.ID); !errors.Is(err, fault.ErrConflict) {
		t.Errorf("approval after approval_ttl: %v, want conflict", err)
	}
	f.wait(c.ID, control.StateExpired)
	if got := f.events(c.ID); got != "requested,expired" {
		t.Errorf("late approval: audit %s", got)
	}
	c = f.request("sup-bea", "o3", 2, wire.ActionDisconnect, true, false)
	if _, err := f.svc.Approve(f.ctx, "sup-dora", true, c.ID); err != nil {
		t.Fatal(err)
	}
	done := f.wait(c.ID, control.StateExecuted)
	if done.Transitions[1].State != control.StateApproved || done.Transitions[1].Actor != "sup-dora" {
		t.Errorf("approval transition %+v", done.Transitions[1])
	}
	if r := f.relay(2); r != wire.RelayDisconnected {
		t.Errorf("meter 2: relay %s", r)
	}
	// An emergency reconnect: no approval, no rules (it is the cold hour in RM's
	// forecast, past RC's cut-off hour). A second later: the injected clock, which stamps
	// the DAS's results, stands still, and two states of one instant tie.
	f.advance(time.Second)
	e := f.request("op-anna", "sos", 2, wire.ActionReconnect, false, true)
	f.wait(e.ID, control.StateExecuted)
	if r := f.relay(2); r != wire.RelayConnected {
		t.Errorf("meter 2 after the emergency reconnect: relay %s", r)
	}
	if !f.weekend.Before(f.workday) {
		weekend()
	}
}

// TestE2ERateCapsAndRestart runs a bulk disconnect of 24 meters on 3 feeders, approved by
// a second principal, under caps of 8 a minute fleet-wide and 3 per feeder, through the
// DAS, with the service killed and restarted in its first minute; then the reconnect of
// them all (cold-load pickup) under the same caps. Each minute sends exactly what the
// caps allow, the stored send times hold no minute above a cap, and every command ends
// executed. Before that, a command whose result the DAS publishes while the service is
// down completes when a new service starts over the same database.
func TestE2ERateCapsAndRestart(t *testing.T) {
	const bulk, fleetCap, feederCap = 24, 8, 3
	meters := make([]e2eMeter, bulk+1)
	for i := range meters {
		meters[i] = e2eMeter{region: "R1", feeder: fmt.Sprintf("F-%d", i%3), zone: "Europe/Berlin"}
	}
	late := bulk + 1
	f := newE2E(t, e2eSpec{meters: meters, faults: []das.Fault{{Kind: das.FaultLate, Meters: []string{meterID(late)}, Delay: 5 * time.Minute}},
		config: func(c *Config) { c.FleetPerMinute, c.FeederPerMinute = fleetCap, feederCap }})

	// Killed mid-flight: the DAS answers while no service runs.
	c := f.request("op-anna", "mid", late, wire.ActionDisconnect, false, false)
	f.wait(c.ID, control.StateAcknowledged)
	f.stop()
	f.clock.Add(6 * time.Minute)
	deadline := time.Now().Add(20 * time.Second)
	for !slices.Contains(f.acks(c.ID), wire.AckExecuted) {
		if time.Now().After(deadline) {
			t.Fatalf("the DAS did not answer: %q", f.acks(c.ID))
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.start()
	f.wait(c.ID, control.StateExecuted)
	if got := f.events(c.ID); got != "requested,approved,sent,acknowledged,executed" {
		t.Errorf("across the restart: audit %s", got)
	}
	f.advance(time.Minute)

	var ids []string
	for i := 1; i <= bulk; i++ {
		ids = append(ids, meterID(i))
	}
	for round, action := range []string{wire.ActionDisconnect, wire.ActionReconnect} {
		b, _, err := f.svc.Bulk(f.ctx, "op-anna", "bulk-"+action, control.Request{Action: action, Reason: "e2e bulk"}, Selector{Meters: ids})
		if err != nil {
			t.Fatal(err)
		}
		if b.NeedsApproval == "" || b.States[control.StateRequested] != bulk {
			t.Fatalf("%s: batch %+v", action, b.States)
		}
		if _, err := f.svc.ApproveBatch(f.ctx, "op-anna", true, b.ID); !errors.Is(err, fault.ErrForbidden) {
			t.Errorf("self-approval of the batch: %v", err)
		}
		if _, err := f.svc.ApproveBatch(f.ctx, "sup-bea", true, b.ID); err != nil {
			t.Fatal(err)
		}
		// The sends each minute, simulated: oldest request first (all at once here, then
		// by command id), as many as both caps allow.
		type member struct{ id, feeder string }
		var order []member
		for i, m := range ids {
			order = append(order, member{control.MemberID(b.ID, m), meters[i].feeder})
		}
		slices.SortFunc(order, func(a, b member) int { return strings.Compare(a.id, b.id) })
		want := 0
		for minute := 0; want < bulk; minute++ {
			fleet, feeders := 0, map[string]int{}
			for i := range order {
				if order[i].id == "" || fleet == fleetCap || feeders[order[i].feeder] == feederCap {
					continue
				}
				fleet++
				feeders[order[i].feeder]++
				order[i].id = ""
				want++
			}
			deadline := time.Now().Add(20 * time.Second)
			for f.sentCount(b.ID) < want && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			f.svc.Tick(f.ctx)
			if n := f.sentCount(b.ID); n != want {
				t.Fatalf("%s minute %d: %d sent, want %d", action, minute, n, want)
			}
			if round == 0 && minute == 0 {
				f.stop() // killed with commands approved and waiting for a slot
				f.start()
			}
			f.advance(30 * time.Second)
			if n := f.sentCount(b.ID); n != want {
				t.Fatalf("%s minute %d + 30 s: %d sent, want still %d", action, minute, n, want)
			}
			f.advance(30 * time.Second)
		}
		for _, m := range ids {
			f.wait(control.MemberID(b.ID, m), control.StateExecuted)
		}
		got, err := f.svc.Batch(f.ctx, b.ID)
		if err != nil || got.States[control.StateExecuted] != bulk {
			t.Fatalf("%s: batch %+v, %v", action, got.States, err)
		}
		if fleet, feeder := f.busiestMinute(b.ID); fleet > fleetCap || feeder > feederCap {
			t.Errorf("%s: a minute held %d sends, %d on one feeder", action, fleet, feeder)
		}
		relay := map[string]string{wire.ActionDisconnect: wire.RelayDisconnected, wire.ActionReconnect: wire.RelayConnected}[action]
		for i := 1; i <= bulk; i++ {
			if r := f.relay(i); r != relay {
				t.Errorf("%s: meter %d relay %s", action, i, r)
			}
		}
		if n := strings.Count(","+f.events("")+",", ",executed,"); n < bulk*(round+1) {
			t.Errorf("%s: %d executed audit entries", action, n)
		}
	}
}

// sentCount counts a batch's commands stored as sent.
func (f *e2e) sentCount(batch string) int {
	f.t.Helper()
	var n uint64
	if err := f.conn.QueryRow(f.ctx, `SELECT uniqExact(command_id) FROM `+f.private+`.control_transitions
WHERE state = 'sent' AND command_id IN (SELECT command_id FROM `+f.private+`.control_commands WHERE batch_id = ?)`, batch).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return int(n)
}

// busiestMinute returns the most sends of a batch in any minute from a send on, stored
// send times, fleet-wide and on one feeder.
func (f *e2e) busiestMinute(batch string) (fleet, feeder int) {
	f.t.Helper()
	rows, err := f.conn.Query(f.ctx, `SELECT t.at, c.feeder FROM (SELECT command_id, at FROM `+f.private+`.control_transitions FINAL WHERE state = 'sent') AS t
ANY INNER JOIN (SELECT command_id, feeder FROM `+f.private+`.control_commands FINAL WHERE batch_id = ?) AS c USING command_id`, batch)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	type send struct {
		at     time.Time
		feeder string
	}
	var sends []send
	for rows.Next() {
		var s send
		if err := rows.Scan(&s.at, &s.feeder); err != nil {
			f.t.Fatal(err)
		}
		sends = append(sends, s)
	}
	for _, a := range sends {
		n, per := 0, 0
		for _, b := range sends {
			if !b.at.Before(a.at) && b.at.Before(a.at.Add(time.Minute)) {
				n++
				if b.feeder == a.feeder {
					per++
				}
			}
		}
		fleet, feeder = max(fleet, n), max(feeder, per)
	}
	return fleet, feeder
}
