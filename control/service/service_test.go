package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/control"
	"github.com/meterhouse/meterhouse/control/audit"
	"github.com/meterhouse/meterhouse/control/wire"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
)

// clock is a settable clock for the service and the responder.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// memAudit is an in-memory Auditor.
type memAudit struct {
	mu      sync.Mutex
	entries []audit.Entry
}

func (a *memAudit) Append(_ context.Context, es ...audit.Entry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, es...)
	return nil
}

// events returns the events of a command (or, with id "", of every entry), in order.
func (a *memAudit) events(id string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.entries {
		if id == "" || e.CommandID == id {
			out = append(out, e.Event)
		}
	}
	return out
}

func (a *memAudit) count(event string) int {
	n := 0
	for _, e := range a.events("") {
		if e == event {
			n++
		}
	}
	return n
}

// refuser is a test Checker: it refuses the meters in its map with their refusal, unless
// the check is an override (standing in for life_support) and the rule is life_support.
type refuser struct {
	mu     sync.Mutex
	refuse map[string]*control.Refusal
	checks int
	// slow, when set, moves clock by that much per check (rules that take a while);
	// checked records the clock after each meter's last check.
	slow    time.Duration
	clock   *clock
	checked map[string]time.Time
	// hook, when set, is called at the start of each check, without the refuser's lock
	// (it may block).
	hook func(control.Check)
	// unreadable names the meters whose rules cannot be evaluated (an error).
	unreadable map[string]bool
}

func (r *refuser) Check(_ context.Context, c control.Check) (*control.Refusal, error) {
	r.mu.Lock()
	hook := r.hook
	r.mu.Unlock()
	if hook != nil {
		hook(c)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks++
	if r.slow > 0 {
		r.clock.Add(r.slow)
		r.checked[c.MeterID] = r.clock.Now()
	}
	if r.unreadable[c.MeterID] {
		return nil, fmt.Errorf("the rules' data of meter %s cannot be read", c.MeterID)
	}
	ref := r.refuse[c.MeterID]
	if ref != nil && ref.Rule == "life_support" && c.Override {
		return nil, nil
	}
	return ref, nil
}

func (r *refuser) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.checks
}

func (r *refuser) set(meter string, ref *control.Refusal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refuse[meter] = ref
}

// responder stands in for the DAS: it consumes commands, checks their signature and
// answers accepted then executed with the relay's new state, except for the meters told
// to stay silent.
type responder struct {
	t      testing.TB
	keys   wire.Keyring
	clock  *clock
	writer *kafka.Writer

	mu     sync.Mutex
	silent map[string]bool
	seen   map[string]int // deliveries per command id
	sent   []wire.Command
}

func (r *responder) run(ctx context.Context, topic string) {
	dialer, err := testenv.Kafka().Dialer()
	if err != nil {
		r.t.Error(err)
		return
	}
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: testenv.Brokers(), Dialer: dialer, GroupID: "responder-" + testenv.Suffix(),
		Topic: topic, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 50 * time.Millisecond, StartOffset: kafka.FirstOffset})
	defer rd.Close()
	for {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			return
		}
		c, err := wire.DecodeCommand(m.Value)
		if err == nil {
			err = r.keys.Verify(c)
		}
		if err != nil || string(m.Key) != c.MeterID {
			r.t.Errorf("responder: a bad command (key %q): %v", m.Key, err)
			continue
		}
		r.mu.Lock()
		r.seen[c.ID]++
		r.sent = append(r.sent, *c)
		silent := r.silent[c.MeterID]
		r.mu.Unlock()
		if silent {
			continue
		}
		relay := map[string]string{wire.ActionDisconnect: wire.RelayDisconnected, wire.ActionReconnect: wire.RelayConnected, wire.ActionArm: wire.RelayArmed}[c.Action]
		now := r.clock.Now()
		r.publish(ctx, wire.Ack{V: wire.Version, Kind: wire.KindAck, CommandID: c.ID, MeterID: c.MeterID, Status: wire.AckAccepted, At: now},
			wire.Ack{V: wire.Version, Kind: wire.KindAck, CommandID: c.ID, MeterID: c.MeterID, Status: wire.AckExecuted, Relay: relay, At: now})
	}
}

func (r *responder) publish(ctx context.Context, acks ...wire.Ack) {
	var msgs []kafka.Message
	for _, a := range acks {
		b, err := wire.AppendAck(nil, &a)
		if err != nil {
			r.t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Key: []byte(a.MeterID), Value: b})
	}
	if err := r.writer.WriteMessages(ctx, msgs...); err != nil && ctx.Err() == nil {
		r.t.Errorf("responder: publish acks: %v", err)
	}
}

func (r *responder) deliveries(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[id]
}

// awaitDelivery waits (20 s at most) until the responder has read command id n times:
// the service stores sent once it has published, and the responder reads on its own.
func (r *responder) awaitDelivery(t *testing.T, id string, n int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); r.deliveries(id) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("command %s delivered %d times after 20 s, want %d", id, r.deliveries(id), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *responder) setSilent(meter string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.silent[meter] = true
}

// fixture is a service over a fresh database and fresh topics, its API, a responder and
// the fakes it works with.
type fixture struct {
	t       *testing.T
	ctx     context.Context
	cfg     Config
	deps    Deps
	conn    driver.Conn
	clock   *clock
	audit   *memAudit
	checker *refuser
	resp    *responder
	reg     *prometheus.Registry
	svc     *Service
	url     string
	token   func(roles ...api.Role) string
	stop    func()
}

func newFixture(t *testing.T, change func(*Config)) *fixture {
	t.Helper()
	chCfg, conn := testenv.ClickHouse(t)
	topics := testenv.Topics(t, []int{2, 2}, "commands", "command-acks")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	key, err := wire.GenerateKey("test-1")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "control.key")
	if err := wire.WriteKeyFile(keyFile, key); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Enabled, cfg.KeyFile = true, keyFile
	cfg.CommandsTopic, cfg.AcksTopic, cfg.GroupID = topics[0], topics[1], "meterhouse-control-"+testenv.Suffix()
	cfg.ApprovalThreshold, cfg.ApprovalTTL, cfg.AckTimeout, cfg.CommandTTL = 5, time.Hour, 10*time.Minute, 24*time.Hour
	cfg.FleetPerMinute, cfg.FeederPerMinute = 1000, 1000
	if change != nil {
		change(&cfg)
	}
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	f := &fixture{t: t, ctx: ctx, cfg: cfg, conn: conn, clock: clk, audit: &memAudit{}, checker: &refuser{refuse: map[string]*control.Refusal{}}}
	f.deps = Deps{ClickHouse: conn, PrivateDB: chCfg.PrivateDatabase(), Kafka: testenv.Kafka(), Checker: f.checker, Auditor: f.audit,
		Log: testenv.Logger(t), Now: clk.Now, Tick: 20 * time.Millisecond}
	transport, err := testenv.Kafka().Transport()
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: testenv.Kafka().Addr(), Transport: transport, Topic: topics[1], Balancer: &kafka.Hash{}, BatchTimeout: time.Millisecond}
	t.Cleanup(func() { w.Close() })
	f.resp = &responder{t: t, keys: wire.NewKeyring(key.Public()), clock: clk, writer: w, silent: map[string]bool{}, seen: map[string]int{}}
	rctx, rcancel := context.WithCancel(ctx)
	rdone := make(chan struct{})
	go func() { defer close(rdone); f.resp.run(rctx, topics[0]) }()
	t.Cleanup(func() { rcancel(); <-rdone })
	f.start()
	t.Cleanup(func() { f.stop() })
	return f
}

// start builds a service over the fixture's database and runs it.
func (f *fixture) start() {
	f.t.Helper()
	f.reg = prometheus.NewRegistry()
	svc, err := New(f.ctx, f.cfg, f.deps)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := svc.RegisterMetrics(f.reg); err != nil {
		f.t.Fatal(err)
	}
	srv, token := testenv.API(f.t, f.conn)
	if err := svc.Register(srv); err != nil {
		f.t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Echo())
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	f.svc, f.url, f.token = svc, hs.URL, token
	f.stop = func() {
		cancel()
		if err := <-done; err != nil {
			f.t.Errorf("Run: %v", err)
		}
		hs.Close()
		f.stop = func() {}
	}
}

// restart stops the service and starts a new one over the same database.
func (f *fixture) restart() {
	f.t.Helper()
	f.stop()
	f.start()
}

func (f *fixture) meters(n int, feeders int) []string {
	f.t.Helper()
	var ms []schema.Meter
	var ids []string
	for i := range n {
		id := fmt.Sprintf("MTR-%04d", i)
		ids = append(ids, id)
		ms = append(ms, schema.Meter{MeterID: id, CustomerClass: "residential", Feeder: fmt.Sprintf("F-%d", i%feeders), Region: "R1",
			Tariff: "T1", TimeZone: "Europe/Berlin", Status: "active", UpdatedAt: f.clock.Now()})
	}
	if err := schema.InsertMeters(f.ctx, f.conn, ms); err != nil {
		f.t.Fatal(err)
	}
	return ids
}

// call sends an API request and decodes the JSON answer, or error body, into out (when
// not nil).
func (f *fixture) call(method, path, token, key string, body any, out any) int {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(f.ctx, method, f.url+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set(IdempotencyHeader, key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
	if resp.StatusCode >= 300 {
		f.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// wait polls until the command is in state want.
func (f *fixture) wait(id string, want control.State) *Command {
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
		if time.Now().After(deadline) {
			f.t.Fatalf("command %s is %s, not %s: %+v", id, c.State, want, c.Transitions)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle waits until everything published to the acks topic so far is processed.
func (f *fixture) settle() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, 20*time.Second)
	defer cancel()
	if err := testenv.WaitCommitted(ctx, f.cfg.GroupID, f.cfg.AcksTopic); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) relay(meter string) Relay {
	f.t.Helper()
	var r Relay
	if st := f.call(http.MethodGet, "/v1/meters/"+meter+"/relay", f.token(api.RoleOperator), "", nil, &r); st != http.StatusOK {
		f.t.Fatalf("relay: %d", st)
	}
	return r
}

func disconnect(reason string) map[string]any {
	return map[string]any{"action": "disconnect", "reason": reason}
}

func states(c *Command) string {
	var s []string
	for _, t := range c.Transitions {
		s = append(s, string(t.State))
	}
	return strings.Join(s, ",")
}

// counter returns the value of a counter metric of the running service.
func (f *fixture) counter(name string) float64 {
	f.t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		f.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
