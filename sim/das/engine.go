package das

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/meterhouse/meterhouse/control/wire"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
)

// ReasonRelayStuck is the reason of a failed answer: the relay did not switch.
const ReasonRelayStuck = "relay_stuck"

// meter is one simulated meter's relay and register bookkeeping.
type meter struct {
	id    string
	relay string
	since time.Time     // when the relay last changed (or the fleet's first boundary)
	on    time.Duration // connected time in the interval being simulated, before since
	raw   int64         // the load model's register at the last boundary
	cut   int64         // energy the load model drew while the relay was open: not metered
	begun bool          // the first boundary (the starting register) is behind

	silent, fail, dup bool
	late              time.Duration // 0: answers after the DAS's ExecDelay
}

// register is the meter's register as last published.
func (m *meter) register() int64 { return m.raw - m.cut }

// action is something the DAS does at a time: a command carried out, or (cmd nil) a relay
// changed on site.
type action struct {
	due   time.Time
	seq   uint64 // keeps actions of one due time in arrival order
	meter int
	cmd   *wire.Command
	relay string // for a change on site: the new state, "" toggles
}

// outbox is what an engine step produced, to be published: readings first, then acks.
type outbox struct {
	readings []schema.Reading
	acks     []wire.Ack
}

// engine is the DAS without Kafka: it takes commands and the time, and fills its outbox.
// Not safe for concurrent use.
type engine struct {
	interval  time.Duration
	execDelay time.Duration
	fleet     *sim.Fleet
	meters    []meter
	index     map[string]int
	ver       *verifier
	next      time.Time // the next interval boundary to publish
	queue     []action  // by due time, then seq
	seq       uint64
	out       outbox
	log       *slog.Logger
}

// newEngine builds the fleet of cfg starting at the interval boundary at or before start.
func newEngine(cfg Config, start time.Time) (*engine, error) {
	first := start.UTC().Truncate(cfg.Fleet.Interval)
	fc := cfg.Fleet
	fc.From, fc.To = first, first.AddDate(100, 0, 0)
	fleet, err := sim.New(fc)
	if err != nil {
		return nil, fmt.Errorf("das.fleet: %w", err)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	e := &engine{interval: fc.Interval, execDelay: cfg.ExecDelay, fleet: fleet, index: map[string]int{},
		next: first, log: cfg.Log}
	for i, sm := range fleet.Meters() {
		e.meters = append(e.meters, meter{id: sm.MeterID, relay: wire.RelayConnected, since: first})
		e.index[sm.MeterID] = i
	}
	e.ver = newVerifier(cfg.Keys, func(id string) bool { _, ok := e.index[id]; return ok })
	for fi, f := range cfg.Faults {
		hit, err := e.faulty(f, cfg.Fleet.Seed, uint64(fi))
		if err != nil {
			return nil, fmt.Errorf("das.faults[%d]: %w", fi, err)
		}
		for _, i := range hit {
			m := &e.meters[i]
			switch f.Kind {
			case FaultSilent:
				m.silent = true
			case FaultLate:
				m.late = f.Delay
			case FaultFail:
				m.fail = true
			case FaultDuplicate:
				m.dup = true
			case FaultOnSite:
				e.schedule(action{due: start.UTC().Add(f.Delay), meter: i, relay: f.Relay})
			}
		}
	}
	return e, nil
}

// faulty returns the indexes of the meters fault f hits: those it names and a share of
// the fleet drawn from the seed.
func (e *engine) faulty(f Fault, seed, n uint64) ([]int, error) {
	hit := map[int]bool{}
	for _, id := range f.Meters {
		i, ok := e.index[id]
		if !ok {
			return nil, fmt.Errorf("meters: %q is not in the fleet", id)
		}
		hit[i] = true
	}
	if f.Share > 0 {
		rng := rand.New(rand.NewPCG(seed, 0x6661756c74+n))
		for i := range e.meters {
			if rng.Float64() < f.Share {
				hit[i] = true
			}
		}
	}
	out := make([]int, 0, len(hit))
	for i := range hit {
		out = append(out, i)
	}
	sort.Ints(out)
	return out, nil
}

func (e *engine) schedule(a action) {
	e.seq++
	a.seq = e.seq
	i := sort.Search(len(e.queue), func(j int) bool {
		q := e.queue[j]
		return q.due.After(a.due) || (q.due.Equal(a.due) && q.seq > a.seq)
	})
	e.queue = append(e.queue, action{})
	copy(e.queue[i+1:], e.queue[i:])
	e.queue[i] = a
}

// advance publishes every interval boundary and carries out every action up to now, in
// time order; a boundary goes before an action due at the same time.
func (e *engine) advance(now time.Time) {
	for {
		pending := len(e.queue) > 0
		switch {
		case !e.next.After(now) && (!pending || !e.queue[0].due.Before(e.next)):
			e.boundary(e.next)
			e.next = e.next.Add(e.interval)
		case pending && !e.queue[0].due.After(now):
			a := e.queue[0]
			e.queue = e.queue[1:]
			e.act(a)
		default:
			return
		}
	}
}

// boundary publishes every meter's reading at ts, the end of an interval. Only the
// energy of the time the relay was closed is metered.
func (e *engine) boundary(ts time.Time) {
	var r schema.Reading
	for i := range e.meters {
		m := &e.meters[i]
		if !e.fleet.Next(&r) {
			return // a century later
		}
		if m.begun {
			if m.relay == wire.RelayConnected {
				m.on += ts.Sub(later(m.since, ts.Add(-e.interval)))
			}
			delta := r.RegisterWh - m.raw
			metered := delta
			if m.on < e.interval {
				metered = int64(float64(delta) * float64(m.on) / float64(e.interval))
			}
			m.cut += delta - metered
		}
		m.raw, m.begun, m.on = r.RegisterWh, true, 0
		e.out.readings = append(e.out.readings, schema.Reading{MeterID: m.id, TS: ts, RegisterWh: m.register()})
	}
	e.ver.forget(ts)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// setRelay switches meter m's relay at t, closing the account of its connected time.
func (e *engine) setRelay(m *meter, state string, t time.Time) {
	if m.relay == wire.RelayConnected {
		m.on += t.Sub(later(m.since, e.next.Add(-e.interval)))
	}
	m.relay, m.since = state, t
}

// receive handles one message of the commands topic, delivered under key at time at.
func (e *engine) receive(key string, value []byte, at time.Time) {
	c, err := wire.DecodeCommand(value)
	if err != nil {
		e.log.Warn("das: a message on the commands topic is not a command; skipped", "key", key, "err", err)
		return
	}
	e.handle(key, c, at)
	if i, ok := e.index[c.MeterID]; ok && e.meters[i].dup {
		e.handle(key, c, at) // the duplicated delivery
	}
	e.advance(at) // what is due at once (ExecDelay 0)
}

func (e *engine) handle(key string, c *wire.Command, at time.Time) {
	reason := e.ver.decide(key, c, at)
	e.log.Debug("das: command", "command_id", c.ID, "meter_id", c.MeterID, "action", c.Action, "refused", reason)
	if reason != "" {
		e.ack(wire.Ack{Kind: wire.KindAck, CommandID: c.ID, MeterID: c.MeterID, Status: wire.AckRefused, Reason: reason, At: at})
		return
	}
	i := e.index[c.MeterID]
	m := &e.meters[i]
	e.ack(wire.Ack{Kind: wire.KindAck, CommandID: c.ID, MeterID: c.MeterID, Status: wire.AckAccepted, At: at})
	if m.silent {
		return
	}
	delay := e.execDelay
	if m.late > 0 {
		delay = m.late
	}
	e.schedule(action{due: later(at, c.NotBefore).Add(delay), meter: i, cmd: c})
}

// act carries out a due action.
func (e *engine) act(a action) {
	m := &e.meters[a.meter]
	if a.cmd == nil {
		state := a.relay
		if state == "" {
			state = wire.RelayConnected
			if m.relay == wire.RelayConnected {
				state = wire.RelayDisconnected
			}
		}
		e.setRelay(m, state, a.due)
		e.ack(wire.Ack{Kind: wire.KindEvent, MeterID: m.id, Event: wire.EventRelayChangedOnSite, Relay: state, At: a.due})
		return
	}
	c := a.cmd
	done := wire.Ack{Kind: wire.KindAck, CommandID: c.ID, MeterID: m.id, Status: wire.AckExecuted, At: a.due}
	target := ""
	switch c.Action {
	case wire.ActionDisconnect:
		target = wire.RelayDisconnected
	case wire.ActionReconnect:
		target = wire.RelayConnected
	case wire.ActionArm:
		target = wire.RelayArmed
	case wire.ActionReadNow:
		e.out.readings = append(e.out.readings, schema.Reading{MeterID: m.id, TS: a.due.Truncate(time.Second), RegisterWh: m.register()})
	}
	switch {
	case target != "" && m.fail:
		done.Status, done.Reason = wire.AckFailed, ReasonRelayStuck
	case target != "":
		e.setRelay(m, target, a.due)
	}
	done.Relay = m.relay
	e.ack(done)
}

// ack queues a for publishing, twice for a meter with duplicated delivery.
func (e *engine) ack(a wire.Ack) {
	a.V = wire.Version
	a.At = a.At.UTC()
	e.out.acks = append(e.out.acks, a)
	if i, ok := e.index[a.MeterID]; ok && e.meters[i].dup {
		e.out.acks = append(e.out.acks, a)
	}
}
