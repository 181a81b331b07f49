package control

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/control/wire"
	"github.com/meterhouse/meterhouse/fault"
)

// TestCanMove checks the transition table: the life requested → approved → sent →
// acknowledged → final, no way out of a final state, and no skipping of approval or
// sending.
func TestCanMove(t *testing.T) {
	allowed := map[[2]State]bool{
		{StateRequested, StateApproved}: true, {StateRequested, StateRefused}: true, {StateRequested, StateExpired}: true,
		{StateApproved, StateSent}: true, {StateApproved, StateRefused}: true, {StateApproved, StateExpired}: true,
		{StateSent, StateAcknowledged}: true, {StateSent, StateExecuted}: true, {StateSent, StateFailed}: true,
		{StateSent, StateRefused}: true, {StateSent, StateTimedOut}: true,
		{StateAcknowledged, StateExecuted}: true, {StateAcknowledged, StateFailed}: true,
		{StateAcknowledged, StateRefused}: true, {StateAcknowledged, StateTimedOut}: true,
	}
	for _, from := range States {
		for _, to := range States {
			if got := CanMove(from, to); got != allowed[[2]State{from, to}] {
				t.Errorf("CanMove(%s, %s) = %v", from, to, got)
			}
		}
		if from.Final() && from.Rank() != 4 || !from.Final() && from.Rank() >= 4 {
			t.Errorf("%s: Final %v, Rank %d", from, from.Final(), from.Rank())
		}
		if st, err := ParseState(string(from)); err != nil || st != from {
			t.Errorf("ParseState(%s) = %s, %v", from, st, err)
		}
	}
	if _, err := ParseState("done"); err == nil {
		t.Error("ParseState(done) accepted")
	}
}

// TestDecide checks what each ack does to a command in each state: a redelivery changes
// nothing, a late executed/failed after timed_out (or refused, expired) is Late (relay
// update and alarm), and nothing leaves a final state.
func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		cur     State
		status  string
		want    State
		outcome Outcome
	}{
		{StateSent, wire.AckAccepted, StateAcknowledged, Apply},
		{StateSent, wire.AckExecuted, StateExecuted, Apply},
		{StateAcknowledged, wire.AckExecuted, StateExecuted, Apply},
		{StateAcknowledged, wire.AckFailed, StateFailed, Apply},
		{StateSent, wire.AckRefused, StateRefused, Apply},
		{StateAcknowledged, wire.AckAccepted, StateAcknowledged, Duplicate},
		{StateExecuted, wire.AckExecuted, StateExecuted, Duplicate},
		{StateExecuted, wire.AckAccepted, StateExecuted, Duplicate},
		{StateExecuted, wire.AckRefused, StateExecuted, Duplicate}, // a replay refused after the first executed
		{StateTimedOut, wire.AckExecuted, StateTimedOut, Late},
		{StateTimedOut, wire.AckFailed, StateTimedOut, Late},
		{StateTimedOut, wire.AckAccepted, StateTimedOut, Duplicate},
		{StateTimedOut, wire.AckRefused, StateTimedOut, Duplicate},
		{StateApproved, wire.AckExecuted, StateApproved, Duplicate}, // never sent by this state: no jump
		{StateExpired, wire.AckExecuted, StateExpired, Late},
		{StateRefused, wire.AckExecuted, StateRefused, Late}, // the replay's refusal came first
		{StateRefused, wire.AckAccepted, StateRefused, Duplicate},
		{StateFailed, wire.AckExecuted, StateFailed, Duplicate},
	} {
		got, outcome, err := Decide(tc.cur, tc.status)
		if err != nil || got != tc.want || outcome != tc.outcome {
			t.Errorf("Decide(%s, %s) = %s, %d, %v; want %s, %d", tc.cur, tc.status, got, outcome, err, tc.want, tc.outcome)
		}
	}
	if _, _, err := Decide(StateSent, "done"); err == nil {
		t.Error("Decide accepted status done")
	}
}

// TestRequestValidate checks that bad requests name their field.
func TestRequestValidate(t *testing.T) {
	old := time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		r     Request
		field string
	}{
		{Request{Action: wire.ActionDisconnect, Reason: "unpaid"}, ""},
		{Request{Action: wire.ActionReconnect, Reason: "restore", Emergency: true}, ""},
		{Request{Action: "cut", Reason: "x"}, "action"},
		{Request{Action: wire.ActionArm, Reason: "  "}, "reason"},
		{Request{Action: wire.ActionDisconnect, Reason: "x", Emergency: true}, "emergency"},
		{Request{Action: wire.ActionReconnect, Reason: "x", Override: true}, "override"},
		{Request{Action: wire.ActionReadNow, Reason: "x", NotBefore: &old}, "not_before"},
	} {
		err := tc.r.Validate()
		var fe *fault.FieldError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v: %v", tc.r, err)
		case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
			t.Errorf("%+v: error %v, want one naming %s", tc.r, err, tc.field)
		}
	}
}

// TestPolicy checks when approval is needed and who may give it.
func TestPolicy(t *testing.T) {
	p := Policy{Threshold: 10}
	for _, tc := range []struct {
		r      Request
		meters int
		bulk   bool
		want   bool
	}{
		{Request{Action: wire.ActionDisconnect}, 1, false, false},
		{Request{Action: wire.ActionDisconnect, Override: true}, 1, false, true},
		{Request{Action: wire.ActionDisconnect}, 10, true, false},
		{Request{Action: wire.ActionDisconnect}, 11, true, true},
		{Request{Action: wire.ActionReconnect}, 11, true, true},
		{Request{Action: wire.ActionReconnect, Emergency: true}, 500, true, false},
	} {
		got, why := p.NeedsApproval(tc.r, tc.meters, tc.bulk)
		if got != tc.want || got != (why != "") {
			t.Errorf("NeedsApproval(%+v, %d, %v) = %v, %q", tc.r, tc.meters, tc.bulk, got, why)
		}
	}
	if err := CheckApprover("alice", "alice", true); !errors.Is(err, fault.ErrForbidden) {
		t.Errorf("self-approval: %v", err)
	}
	if err := CheckApprover("alice", "bob", false); !errors.Is(err, fault.ErrForbidden) {
		t.Errorf("approval without supervisor: %v", err)
	}
	if err := CheckApprover("alice", "bob", true); err != nil {
		t.Errorf("approval by another supervisor: %v", err)
	}
}

// TestIDs checks the derivation of command and batch ids against sha256 computed here.
func TestIDs(t *testing.T) {
	h := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:])[:32] }
	if got, want := CommandID("alice", "k1"), h("cmd\x00alice\x00k1"); got != want {
		t.Errorf("CommandID = %s, want %s", got, want)
	}
	b := BatchID("alice", "k1")
	if want := h("batch\x00alice\x00k1"); b != want {
		t.Errorf("BatchID = %s, want %s", b, want)
	}
	if got, want := MemberID(b, "MTR-1"), h("cmd\x00"+b+"\x00MTR-1"); got != want {
		t.Errorf("MemberID = %s, want %s", got, want)
	}
	if CommandID("alice", "k1") == CommandID("bob", "k1") {
		t.Error("ids of different principals collide")
	}
}
