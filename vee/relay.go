package vee

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// RelayState is the position of a meter's supply relay (its disconnect control, as in
// DLMS/COSEM's disconnect control object).
type RelayState uint8

const (
	// RelayConnected is a closed relay: power flows. A meter without any relay history
	// is connected.
	RelayConnected RelayState = iota
	// RelayDisconnected is an open relay: no power flows.
	RelayDisconnected
	// RelayArmed is an open relay ready for the customer to close locally: no power
	// flows until they do.
	RelayArmed
)

var relayNames = [...]string{RelayConnected: "connected", RelayDisconnected: "disconnected", RelayArmed: "armed"}

// String returns connected, disconnected or armed.
func (s RelayState) String() string {
	if int(s) < len(relayNames) {
		return relayNames[s]
	}
	return fmt.Sprintf("relay(%d)", s)
}

// Open reports whether no power flows through the relay (disconnected or armed).
func (s RelayState) Open() bool { return s == RelayDisconnected || s == RelayArmed }

// ParseRelayState returns the state named connected, disconnected or armed.
func ParseRelayState(name string) (RelayState, error) {
	for i, n := range relayNames {
		if n == name {
			return RelayState(i), nil
		}
	}
	return 0, &FieldError{Field: "relay.state", Message: fmt.Sprintf("%q is not connected, disconnected or armed", name)}
}

// RelayChange is one entry of a meter's relay history: from At on, the relay is in State.
type RelayChange struct {
	// At is when the relay took State, in UTC.
	At time.Time
	// State is the relay's position from At on.
	State RelayState
	// Source says how the change is known: command (a command's result) or event (a
	// relay changed on site); it is used in messages only.
	Source string
	// CommandID is the command whose result this is, empty for an event; it is used in
	// messages only.
	CommandID string
}

// relayTimeline answers which relay state held when, from a meter's relay history.
type relayTimeline struct {
	// changes is sorted by At; at equal At, open states come last, so that they win: a
	// house without power must never count as connected.
	changes []RelayChange
}

func newRelayTimeline(changes []RelayChange) relayTimeline {
	cs := slices.Clone(changes)
	slices.SortStableFunc(cs, func(a, b RelayChange) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return cmp.Compare(boolInt(a.State.Open()), boolInt(b.State.Open()))
	})
	return relayTimeline{changes: cs}
}

// at returns the change in force at t (the last one at or before it), and false when
// there is none: the relay is then connected.
func (r relayTimeline) at(t time.Time) (RelayChange, bool) {
	i, _ := slices.BinarySearchFunc(r.changes, t, func(c RelayChange, t time.Time) int {
		if c.At.After(t) {
			return 1
		}
		return -1
	})
	if i == 0 {
		return RelayChange{}, false
	}
	return r.changes[i-1], true
}

// openThroughout reports whether the relay was open during all of [start, end), and the
// change in force at start (whose At says since when).
func (r relayTimeline) openThroughout(start, end time.Time) (RelayChange, bool) {
	c, ok := r.at(start)
	if !ok || !c.State.Open() {
		return RelayChange{}, false
	}
	for _, n := range r.changes {
		if n.At.After(start) && n.At.Before(end) && !n.State.Open() {
			return RelayChange{}, false
		}
	}
	return c, true
}

// RelayOpen returns, for each of the n slots of length d from from, whether the relay was
// open (disconnected or armed) during the whole slot according to changes; a slot in
// which the relay closed, or opened after its start, is not open. A meter without changes
// is connected throughout. Order of changes does not matter; of several changes at the
// same instant an open one wins.
func RelayOpen(changes []RelayChange, from time.Time, d time.Duration, n int) []bool {
	r := newRelayTimeline(changes)
	out := make([]bool, n)
	for j := range out {
		s := from.Add(time.Duration(j) * d)
		_, out[j] = r.openThroughout(s, s.Add(d))
	}
	return out
}

// relayReason describes the relay state c for messages.
func relayReason(c RelayChange) string {
	s := fmt.Sprintf("relay %s since %s", c.State, stamp(c.At))
	switch {
	case c.CommandID != "":
		s += fmt.Sprintf(" (%s %s)", c.Source, c.CommandID)
	case c.Source != "":
		s += fmt.Sprintf(" (%s)", c.Source)
	}
	return s
}

// openSlot reports whether the relay was open throughout grid slot k (which may lie
// outside the window), and the change in force at the slot's start.
func (p *processor) openSlot(k int64) (RelayChange, bool) {
	if len(p.relay.changes) == 0 {
		return RelayChange{}, false
	}
	s := p.slotStart(k)
	return p.relay.openThroughout(s, s.Add(p.d))
}

// checkConsumptionWhileDisconnected applies the consumption-while-disconnected rule:
// energy above the tolerance in a slot whose relay was open throughout, measured or
// conserved from the registers, is a tamper or bypass alarm.
func (p *processor) checkConsumptionWhileDisconnected() {
	r := p.rules.ConsumptionWhileDisconnected
	if !r.Enabled || len(p.relay.changes) == 0 {
		return
	}
	for j := range p.n {
		if !p.open[j] || p.iv[j].Wh <= r.ToleranceWh {
			continue
		}
		if p.kind[j] != slotMeasured && p.kind[j] != slotConserved {
			continue
		}
		c, _ := p.openSlot(j)
		how := "measured"
		if p.kind[j] == slotConserved {
			how = "estimated from the register difference across a gap"
		}
		p.flag(j, SeverityQuestionable, RuleConsumptionWhileDisconnected, fmt.Sprintf(
			"%d Wh %s while the %s (tolerance %d Wh): possible tamper or bypass",
			p.iv[j].Wh, how, relayReason(c), r.ToleranceWh))
	}
}

// relayValid reports whether every change holds a known state.
func relayValid(changes []RelayChange) bool {
	for _, c := range changes {
		if c.State > RelayArmed {
			return false
		}
	}
	return true
}
