// Package service is the remote-control command service: it takes operators' requests
// over HTTP (http.go), keeps each command's state in the private database, asks the
// safety rules (a control.Checker), waits for a supervisor's approval when one is needed,
// signs commands (control/wire) and publishes them to Kafka topic commands under the rate
// caps, follows the DAS's answers on command-acks to a final state, times out and expires
// what gets no answer in time, and appends every step to the audit log.
//
// One Service per deployment sends commands: it holds the open commands in memory (at
// most one per meter), reloads them from ClickHouse when it is built, and serializes
// every change of state, so that ClickHouse, which has no unique constraint, only sees
// writes that are idempotent by key.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/broker"
	"github.com/meterhouse/meterhouse/control"
	"github.com/meterhouse/meterhouse/control/audit"
	"github.com/meterhouse/meterhouse/control/wire"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
)

// Auditor appends entries to the audit log (control/audit's *Log). Safe for concurrent
// use; entries of one call are appended in order.
type Auditor interface {
	Append(ctx context.Context, e ...audit.Entry) error
}

// Actor is the audit and transition actor of what the service decides by itself.
const Actor = "control"

// Deps are what a Service works with.
type Deps struct {
	// ClickHouse is the platform pool; the service's tables are in PrivateDB.
	ClickHouse driver.Conn
	// PrivateDB is the private database's name (schema.Config.PrivateDatabase).
	PrivateDB string
	// Kafka reaches the brokers (as user meterhouse in production).
	Kafka broker.Config
	// Checker evaluates the safety rules.
	Checker control.Checker
	// Auditor is the audit log.
	Auditor Auditor
	// Log is the logger; nil: discard.
	Log *slog.Logger
	// Now is the clock of every decision (timers, rate caps, expiry); nil: time.Now.
	Now func() time.Time
	// Tick is how often timers and the send queue are looked at; 0: one second.
	Tick time.Duration
}

// Service is the command service. Build it with New, serve its routes with Register and
// run its Kafka consumer, timers and sender with Run.
type Service struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	now      func() time.Time
	store    *store
	policy   control.Policy
	key      *wire.PrivateKey
	disabled string // why the service is disabled; empty when it runs
	writer   *kafka.Writer
	metrics  *metrics

	// ticking serializes Tick (timers and sends), which lets mu go while the safety rules
	// are re-checked before sending.
	ticking sync.Mutex
	// mu serializes every change of state: requests, approvals, acks, timers and sends.
	// The safety rules are never asked while it is held.
	mu      sync.Mutex
	open    map[string]*Command // by id: the commands without a final state
	byMeter map[string]*Command // the open command of each meter
	sent    []sentRec           // capped commands sent in the last minute, oldest first
	wake    chan struct{}
}

type sentRec struct {
	at     time.Time
	feeder string
}

type metrics struct {
	transitions *prometheus.CounterVec
	late        prometheus.Counter
	unknown     prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meterhouse_control_transitions_total",
			Help: "Remote commands that entered a state, by state."}, []string{"state"}),
		late: prometheus.NewCounter(prometheus.CounterOpts{Name: "meterhouse_control_late_results_total",
			Help: "Executed or failed results that arrived after their command timed out (an alarm: the relay state was updated)."}),
		unknown: prometheus.NewCounter(prometheus.CounterOpts{Name: "meterhouse_control_unknown_results_total",
			Help: "Acknowledgements for commands this service does not know, recorded in the audit log and ignored."}),
	}
}

// RegisterMetrics registers the service's metrics on reg (the process's /metrics):
// transitions by state, late results (the alarm) and unknown results. Call it once.
func (s *Service) RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{s.metrics.transitions, s.metrics.late, s.metrics.unknown} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("control: metrics: %w", err)
		}
	}
	return nil
}

// New validates cfg and builds the service. Enabled, it reads the key file, records the
// key's public half in control_keys, and reloads the open commands (their timers resume
// when Run starts). Disabled, or with a key file it cannot read, it logs why and answers
// the control routes with 503; Run then only waits.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.ClickHouse == nil {
		return nil, errors.New("control: New needs a ClickHouse connection")
	}
	if cfg.Enabled && (deps.Checker == nil || deps.Auditor == nil) {
		return nil, errors.New("control: control.enabled needs the safety rules (a Checker) and the audit log (an Auditor)")
	}
	if !schema.ValidMeterID([]byte(deps.PrivateDB)) {
		return nil, fmt.Errorf("control: %q is not a private database name", deps.PrivateDB)
	}
	s := &Service{cfg: cfg, deps: deps, log: deps.Log, now: deps.Now, policy: control.Policy{Threshold: cfg.ApprovalThreshold},
		open: map[string]*Command{}, byMeter: map[string]*Command{}, wake: make(chan struct{}, 1)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.deps.Tick <= 0 {
		s.deps.Tick = time.Second
	}
	s.metrics = newMetrics()
	var err error
	s.store = &store{conn: deps.ClickHouse, private: deps.PrivateDB, now: s.now}
	if !cfg.Enabled {
		s.disabled = "remote control is disabled (control.enabled is false; set it and control.key_file, made with meterhouse control keygen)"
		return s, nil
	}
	if s.key, err = wire.ReadKeyFile(cfg.KeyFile); err != nil {
		s.disabled = fmt.Sprintf("remote control is disabled: control.key_file %s cannot be read", cfg.KeyFile)
		s.log.Error("remote control disabled: its key file cannot be read", "key_file", cfg.KeyFile, "err", err)
		return s, nil
	}
	pub := s.key.Public()
	if err := s.store.writeKey(ctx, pub.ID, strings.TrimPrefix(pub.String(), pub.ID+" "), s.now()); err != nil {
		return nil, err
	}
	if err := s.reload(ctx); err != nil {
		return nil, err
	}
	t, err := deps.Kafka.Transport()
	if err != nil {
		return nil, err
	}
	s.writer = &kafka.Writer{Addr: deps.Kafka.Addr(), Transport: t, Topic: cfg.CommandsTopic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchSize: 1000, BatchTimeout: 5 * time.Millisecond}
	return s, nil
}

// Disabled returns why the service is disabled, or "" when it runs.
func (s *Service) Disabled() string { return s.disabled }

// reload loads the open commands and the capped sends of the last minute.
func (s *Service) reload(ctx context.Context) error {
	cs, err := s.store.open(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		s.open[c.ID] = c
		if o := s.byMeter[c.MeterID]; o == nil || o.Seq < c.Seq {
			s.byMeter[c.MeterID] = c
		}
	}
	if s.sent, err = s.store.recentlySent(ctx, s.now().Add(-time.Minute)); err != nil {
		return err
	}
	if len(cs) > 0 {
		s.log.Info("open commands reloaded", "commands", len(cs))
	}
	return nil
}

// Run runs the acknowledgement consumer, the timers and the sender until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if s.disabled != "" {
		<-ctx.Done()
		return nil
	}
	defer s.writer.Close()
	errc := make(chan error, 1)
	go func() { errc <- s.consume(ctx) }()
	t := time.NewTicker(s.deps.Tick)
	defer t.Stop()
	for {
		s.Tick(ctx)
		select {
		case <-ctx.Done():
			return <-errc
		case err := <-errc:
			return err
		case <-t.C:
		case <-s.wake:
		}
	}
}

// poke asks the loop to look at the send queue now.
func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// unavailable is the error of a disabled service.
func (s *Service) unavailable() error {
	if s.disabled != "" {
		return fmt.Errorf("%s: %w", s.disabled, fault.ErrUnavailable)
	}
	return nil
}

// commit audits transitions and stores them, retrying each while ctx lasts: memory
// already holds the new states, so the database must follow. The audit goes first, so a
// crash in between repeats an audit entry rather than losing one.
func (s *Service) commit(ctx context.Context, ts []transitionRow, entries []audit.Entry) error {
	if len(entries) > 0 {
		if err := retry(ctx, s.log, "audit", func() error { return s.deps.Auditor.Append(ctx, entries...) }); err != nil {
			return fmt.Errorf("control: audit: %w", err)
		}
	}
	if err := retry(ctx, s.log, "store transitions", func() error { return s.store.writeTransitions(ctx, ts) }); err != nil {
		return err
	}
	for _, t := range ts {
		s.metrics.transitions.WithLabelValues(string(t.State)).Inc()
	}
	return nil
}

// retry calls f until it succeeds or ctx ends, waiting 100 ms, 200 ms, … up to 5 s.
func retry(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	wait := 100 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		log.Warn("control: retrying", "what", what, "wait", wait, "err", err)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// forget drops a command that reached a final state from the open ones.
func (s *Service) forget(c *Command) {
	delete(s.open, c.ID)
	if s.byMeter[c.MeterID] == c {
		delete(s.byMeter, c.MeterID)
	}
}

func entry(at time.Time, actor, event string, c *Command, detail string) audit.Entry {
	return audit.Entry{At: at.UTC(), Actor: actor, Event: event, CommandID: c.ID, MeterID: c.MeterID, Detail: detail}
}

// Tick runs the timers and the sender once: approvals that waited longer than
// approval_ttl and commands past their not_after expire, sent commands without a result
// after ack_timeout time out, and approved commands are sent as the rate caps allow. Run
// calls it every Deps.Tick; it is exported for tests that move the clock.
func (s *Service) Tick(ctx context.Context) {
	if s.disabled != "" {
		return
	}
	s.ticking.Lock()
	defer s.ticking.Unlock()
	s.mu.Lock()
	err := s.timers(ctx)
	s.mu.Unlock()
	if err != nil {
		s.log.Error("control: timers", "err", err)
		return
	}
	if err := s.send(ctx); err != nil {
		s.log.Error("control: send", "err", err)
	}
}

func (s *Service) sorted() []*Command {
	cs := make([]*Command, 0, len(s.open))
	for _, c := range s.open {
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if !a.RequestedAt.Equal(b.RequestedAt) {
			return a.RequestedAt.Before(b.RequestedAt)
		}
		return a.ID < b.ID
	})
	return cs
}

func (s *Service) timers(ctx context.Context) error {
	now := s.now().UTC()
	var ts []transitionRow
	var es []audit.Entry
	for _, c := range s.sorted() {
		var to control.State
		var detail string
		switch {
		case c.State == control.StateRequested && c.NeedsApproval != "" && !now.Before(c.RequestedAt.Add(s.cfg.ApprovalTTL)):
			to, detail = control.StateExpired, fmt.Sprintf("not approved within control.approval_ttl (%s)", s.cfg.ApprovalTTL)
		case (c.State == control.StateRequested || c.State == control.StateApproved) && !now.Before(c.NotAfter):
			to, detail = control.StateExpired, "not sent before its not_after "+c.NotAfter.Format(time.RFC3339)
		case (c.State == control.StateSent || c.State == control.StateAcknowledged) && !now.Before(c.sentAt().Add(s.cfg.AckTimeout)):
			to, detail = control.StateTimedOut, fmt.Sprintf("no result within control.ack_timeout (%s) after it was sent; not resent", s.cfg.AckTimeout)
		default:
			continue
		}
		ts = append(ts, c.move(to, now, Actor, detail))
		es = append(es, entry(now, Actor, string(to), c, detail))
		s.forget(c)
	}
	if len(ts) == 0 {
		return nil
	}
	return s.commit(ctx, ts, es)
}

// send signs and publishes the approved commands the rate caps allow now, oldest request
// first. A command a re-check of the safety rules refuses is refused instead; one whose
// rules cannot be evaluated waits for the next tick. It is called with ticking held and mu
// not: the re-checks run without mu, in parallel (checkAll), in rounds: each round picks
// the oldest approved commands not yet looked at this tick that would fill the caps if
// every one passed, checks them, then sends those that passed; the slots a refusal or an
// unreadable rule leaves go to the next round. The commands sent are those a check of one
// command after another would send.
func (s *Service) send(ctx context.Context) error {
	now := s.now().UTC()
	looked := map[string]bool{}
	for {
		s.mu.Lock()
		picks := s.pick(now, looked)
		s.mu.Unlock()
		if len(picks) == 0 {
			return nil
		}
		var cs []control.Check
		var checked []int
		for i, c := range picks {
			looked[c.ID] = true
			if !c.Emergency {
				at := now
				if c.NotBefore.After(at) {
					at = c.NotBefore
				}
				cs = append(cs, control.Check{MeterID: c.MeterID, Action: c.Action, At: at, Override: c.Override})
				checked = append(checked, i)
			}
		}
		vs := make([]verdict, len(picks))
		for j, v := range s.checkAll(ctx, cs) {
			vs[checked[j]] = v
		}
		s.mu.Lock()
		freed, err := s.sendPicks(ctx, now, picks, vs)
		s.mu.Unlock()
		if err != nil || !freed {
			return err
		}
	}
}

// window drops the capped sends older than a minute before now and counts the others,
// fleet-wide and by feeder.
func (s *Service) window(now time.Time) (int, map[string]int) {
	cut := now.Add(-time.Minute)
	i := 0
	for i < len(s.sent) && !s.sent[i].at.After(cut) {
		i++
	}
	s.sent = s.sent[i:]
	feeders := map[string]int{}
	for _, r := range s.sent {
		feeders[r.feeder]++
	}
	return len(s.sent), feeders
}

// pick returns, oldest request first, the approved commands not looked at yet that the
// rate caps would let through if each passed its re-check.
func (s *Service) pick(now time.Time, looked map[string]bool) []*Command {
	fleet, feeders := s.window(now)
	var out []*Command
	for _, c := range s.sorted() {
		if c.State != control.StateApproved || looked[c.ID] {
			continue
		}
		if control.Capped(c.Action) {
			if fleet >= s.cfg.FleetPerMinute || feeders[c.Feeder] >= s.cfg.FeederPerMinute {
				continue
			}
			fleet++
			feeders[c.Feeder]++
		}
		out = append(out, c)
	}
	return out
}

// sendPicks refuses the picks their re-check refused and signs and publishes the others
// the caps still allow (vs[i] is picks[i]'s verdict; zero for an emergency), with mu
// held. freed reports whether a pick left its slot to others: refused, or its rules could
// not be evaluated.
func (s *Service) sendPicks(ctx context.Context, now time.Time, picks []*Command, vs []verdict) (freed bool, err error) {
	fleet, feeders := s.window(now)
	var msgs []kafka.Message
	var batch []*Command
	var ts []transitionRow
	var es []audit.Entry
	for i, c := range picks {
		if s.open[c.ID] != c || c.State != control.StateApproved {
			continue // moved on while the rules were asked (an ack proved it sent)
		}
		capped := control.Capped(c.Action)
		if capped && (fleet >= s.cfg.FleetPerMinute || feeders[c.Feeder] >= s.cfg.FeederPerMinute) {
			continue
		}
		if v := vs[i]; v.err != nil {
			s.log.Warn("control: safety rules cannot be evaluated; the command waits", "command", c.ID, "err", v.err)
			freed = true
			continue
		} else if v.ref != nil {
			ts = append(ts, c.move(control.StateRefused, now, Actor, v.ref.Error()))
			es = append(es, entry(now, Actor, "refused", c, v.ref.Error()))
			s.forget(c)
			freed = true
			continue
		}
		wc := wire.Command{V: wire.Version, ID: c.ID, MeterID: c.MeterID, Action: c.Action, Nonce: c.nonce,
			NotBefore: c.NotBefore, NotAfter: c.NotAfter, Seq: c.Seq}
		s.key.Sign(&wc)
		b, err := wire.AppendCommand(nil, &wc)
		if err != nil {
			return false, err
		}
		msgs = append(msgs, kafka.Message{Key: []byte(c.MeterID), Value: b})
		batch = append(batch, c)
		if capped {
			fleet++
			feeders[c.Feeder]++
		}
	}
	if len(msgs) > 0 {
		// Published before the state is stored: after a crash in between, the command is
		// sent again with the same nonce, which the DAS refuses as a replay; it never acts
		// twice, and its acks prove it sent (handleAcks).
		published := batch
		err := s.writer.WriteMessages(ctx, msgs...)
		if err != nil {
			// The messages that were written are sent; the others stay approved and are
			// tried again on the next tick.
			published = nil
			var werrs kafka.WriteErrors
			if errors.As(err, &werrs) && len(werrs) == len(batch) {
				for i, c := range batch {
					if werrs[i] == nil {
						published = append(published, c)
					}
				}
			}
			s.log.Error("control: publish commands failed; they stay approved", "commands", len(batch)-len(published), "err", err)
		}
		// Stamped when published, not when this tick began: the re-checks of a large
		// batch take a while, and the rate caps count publications.
		at := s.now().UTC()
		for _, c := range published {
			ts = append(ts, c.move(control.StateSent, at, Actor, "key "+s.key.ID()))
			es = append(es, entry(at, Actor, "sent", c, fmt.Sprintf("seq %d, key %s, not_after %s", c.Seq, s.key.ID(), c.NotAfter.Format(time.RFC3339))))
			if control.Capped(c.Action) {
				s.sent = append(s.sent, sentRec{at: at, feeder: c.Feeder})
			}
		}
	}
	if len(ts) == 0 {
		return freed, nil
	}
	return freed, s.commit(ctx, ts, es)
}
