package control

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/meterhouse/meterhouse/control/wire"
	"github.com/meterhouse/meterhouse/fault"
)

// State is where a command is in its life: requested → approved → sent → acknowledged →
// one of the final states.
type State string

// The states of a command.
const (
	// StateRequested: an operator asked for it; it waits for approval when it needs one.
	StateRequested State = "requested"
	// StateApproved: it may be sent; it waits for a free slot under the rate caps.
	StateApproved State = "approved"
	// StateSent: it was signed and published to the DAS.
	StateSent State = "sent"
	// StateAcknowledged: the DAS accepted it and queued it for the meter.
	StateAcknowledged State = "acknowledged"
	// StateExecuted: the meter carried it out (final).
	StateExecuted State = "executed"
	// StateFailed: the meter tried and failed (final).
	StateFailed State = "failed"
	// StateExpired: its approval window or its not-after passed before it was sent (final).
	StateExpired State = "expired"
	// StateRefused: a safety rule or the DAS refused it (final).
	StateRefused State = "refused"
	// StateTimedOut: no result arrived within the ack timeout after it was sent (final;
	// never resent automatically: an operator decides).
	StateTimedOut State = "timed_out"
)

// States lists every state in the order of a command's life.
var States = []State{StateRequested, StateApproved, StateSent, StateAcknowledged,
	StateExecuted, StateFailed, StateExpired, StateRefused, StateTimedOut}

// FinalStates lists the states a command never leaves.
var FinalStates = []State{StateExecuted, StateFailed, StateExpired, StateRefused, StateTimedOut}

// ParseState returns the state named s.
func ParseState(s string) (State, error) {
	for _, st := range States {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("control: %q is not a command state", s)
}

// Final reports whether s is a final state.
func (s State) Final() bool {
	switch s {
	case StateExecuted, StateFailed, StateExpired, StateRefused, StateTimedOut:
		return true
	}
	return false
}

// Rank orders the states along a command's life: requested 0, approved 1, sent 2,
// acknowledged 3, every final state 4. A command's current state is the one of its
// stored transitions with the highest rank.
func (s State) Rank() int {
	switch s {
	case StateRequested:
		return 0
	case StateApproved:
		return 1
	case StateSent:
		return 2
	case StateAcknowledged:
		return 3
	}
	return 4
}

// transitions lists the states each state may move to.
var transitions = map[State][]State{
	StateRequested:    {StateApproved, StateRefused, StateExpired},
	StateApproved:     {StateSent, StateRefused, StateExpired},
	StateSent:         {StateAcknowledged, StateExecuted, StateFailed, StateRefused, StateTimedOut},
	StateAcknowledged: {StateExecuted, StateFailed, StateRefused, StateTimedOut},
}

// CanMove reports whether a command in state from may move to state to.
func CanMove(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Outcome says what an acknowledgement does to a command (Decide).
type Outcome int

// The outcomes of an acknowledgement.
const (
	// Apply: move the command to the state Decide returns (and record the relay state
	// when the ack carries one).
	Apply Outcome = iota
	// Duplicate: the command is already there or beyond (a redelivery, or an answer that
	// came after a later one); nothing changes.
	Duplicate
	// Late: an executed or failed result after the command ended otherwise (timed_out;
	// or refused or expired, when a copy the DAS took for a replay or a delivery after
	// expiry was carried out after all). The state stays, but the relay state the result
	// reports is recorded and an alarm raised: a house without power must never show as
	// connected.
	Late
)

// AckState returns the state an ack status moves a command to.
func AckState(status string) (State, error) {
	switch status {
	case wire.AckAccepted:
		return StateAcknowledged, nil
	case wire.AckExecuted:
		return StateExecuted, nil
	case wire.AckFailed:
		return StateFailed, nil
	case wire.AckRefused:
		return StateRefused, nil
	}
	return "", fmt.Errorf("control: ack status %q is not accepted, executed, failed or refused", status)
}

// Decide returns what an ack with status does to a command in state cur: the state to
// move to and the outcome. It is a pure function of both, so a redelivered ack is decided
// as its first delivery was, against the state that delivery left.
func Decide(cur State, status string) (State, Outcome, error) {
	to, err := AckState(status)
	if err != nil {
		return "", Duplicate, err
	}
	switch {
	case (cur == StateTimedOut || cur == StateRefused || cur == StateExpired) && (to == StateExecuted || to == StateFailed):
		return cur, Late, nil
	case CanMove(cur, to):
		return to, Apply, nil
	}
	return cur, Duplicate, nil
}

// Request is one command as an operator asks for it.
type Request struct {
	// Action is a wire.Action* constant.
	Action string `json:"action"`
	// Reason says why, for the audit trail; required.
	Reason string `json:"reason"`
	// NotBefore, when set, is the earliest time the DAS may act.
	NotBefore *time.Time `json:"not_before,omitempty"`
	// Emergency marks an emergency reconnect (restoring power): no approval, no safety
	// rules. Only with action reconnect.
	Emergency bool `json:"emergency,omitempty"`
	// Override asks to disconnect a flagged (life-support, medical) customer: the flag
	// rule passes, and the command needs a supervisor's approval. Only with action
	// disconnect.
	Override bool `json:"override,omitempty"`
}

// MaxReasonLen is the longest reason accepted.
const MaxReasonLen = 500

// Validate reports the first field at fault as a fault.FieldError.
func (r Request) Validate() error {
	switch {
	case !wire.ValidAction(r.Action):
		return fault.Invalid("action", "%q is not disconnect, reconnect, arm or read_now", r.Action)
	case strings.TrimSpace(r.Reason) == "":
		return fault.Invalid("reason", "is required: say why, for the audit trail")
	case len(r.Reason) > MaxReasonLen:
		return fault.Invalid("reason", "is longer than %d bytes", MaxReasonLen)
	case r.Emergency && r.Action != wire.ActionReconnect:
		return fault.Invalid("emergency", "only a reconnect can be an emergency (restoring power)")
	case r.Override && r.Action != wire.ActionDisconnect:
		return fault.Invalid("override", "only a disconnect can override a customer's flag")
	case r.NotBefore != nil && (r.NotBefore.Before(time.Unix(1, 0)) || r.NotBefore.After(time.Date(2105, 12, 31, 0, 0, 0, 0, time.UTC))):
		return fault.Invalid("not_before", "%s is outside 1970 … 2105", r.NotBefore.Format(time.RFC3339))
	}
	return nil
}

// Capped reports whether the rate caps (fleet and feeder per minute) apply to action:
// disconnects, and reconnects too (cold-load pickup after an outage or a moratorium).
func Capped(action string) bool {
	return action == wire.ActionDisconnect || action == wire.ActionReconnect
}

// Checked reports whether the safety rules are asked about a command: every command but
// an emergency reconnect (the rules themselves decide which actions they block).
func (r Request) Checked() bool { return !r.Emergency }

// Policy is when a command needs a second person's approval.
type Policy struct {
	// Threshold: a bulk request of more than this many meters needs approval.
	Threshold int
}

// NeedsApproval reports whether a request for meters meters (1 for a single request;
// bulk is true for a bulk request) needs a supervisor's approval, and why.
func (p Policy) NeedsApproval(r Request, meters int, bulk bool) (bool, string) {
	switch {
	case r.Emergency:
		return false, ""
	case r.Override:
		return true, "a disconnect overriding a customer's flag needs a supervisor's approval"
	case bulk && meters > p.Threshold:
		return true, fmt.Sprintf("a bulk request of %d meters (more than control.approval_threshold %d) needs a supervisor's approval", meters, p.Threshold)
	}
	return false, ""
}

// CheckApprover returns an error wrapping fault.ErrForbidden unless approver may approve
// a request of requester: a different principal holding role supervisor (isSupervisor).
func CheckApprover(requester, approver string, isSupervisor bool) error {
	switch {
	case !isSupervisor:
		return fmt.Errorf("%w: %s may not approve: approving needs role supervisor", fault.ErrForbidden, approver)
	case requester == approver:
		return fmt.Errorf("%w: %s requested this and may not approve it too: a second, different supervisor must", fault.ErrForbidden, approver)
	}
	return nil
}

// id is the first 32 hex digits of sha256 of the parts joined by NUL bytes.
func id(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:])[:32]
}

// CommandID is a single request's command id: derived from who asked and the request's
// idempotency key, so a retry of the same request names the same command.
func CommandID(principal, key string) string { return id("cmd", principal, key) }

// BatchID is a bulk request's id, derived like CommandID.
func BatchID(principal, key string) string { return id("batch", principal, key) }

// MemberID is the command id of a batch's command for one meter.
func MemberID(batchID, meterID string) string { return id("cmd", batchID, meterID) }
