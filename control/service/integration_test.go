package service

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/control"
	"github.com/meterhouse/meterhouse/control/wire"
)

// TestIdempotentRequest checks that a retry with the same Idempotency-Key returns the
// same command (200, not a second one), that a second request for a meter with an open
// command is 409 naming it, and that the command runs to executed with the relay state
// recorded.
func TestIdempotentRequest(t *testing.T) {
	f := newFixture(t, nil)
	ids := f.meters(2, 1)
	op := f.token(api.RoleOperator)
	f.resp.setSilent(ids[0]) // keep the command open
	var first, again Command
	if st := f.call(http.MethodPost, "/v1/meters/"+ids[0]+"/commands", op, "k1", disconnect("unpaid"), &first); st != http.StatusCreated {
		t.Fatalf("first request: %d", st)
	}
	if st := f.call(http.MethodPost, "/v1/meters/"+ids[0]+"/commands", op, "k1", disconnect("unpaid"), &again); st != http.StatusOK {
		t.Fatalf("retry: %d", st)
	}
	if first.ID != control.CommandID("test-operator", "k1") || again.ID != first.ID || first.Seq != 1 {
		t.Fatalf("retry gave %s, first %s (seq %d)", again.ID, first.ID, first.Seq)
	}
	if st := f.call(http.MethodPost, "/v1/meters/"+ids[0]+"/commands", op, "k2", disconnect("unpaid"), nil); st != http.StatusConflict {
		t.Errorf("second open command: %d, want 409", st)
	}
	if st := f.call(http.MethodPost, "/v1/meters/"+ids[1]+"/commands", op, "k1", disconnect("unpaid"), nil); st != http.StatusConflict {
		t.Errorf("key reused for another meter: %d, want 409", st)
	}
	f.wait(first.ID, control.StateSent)
	if n := f.audit.count("requested"); n != 1 {
		t.Errorf("%d requested audit entries, want 1: %v", n, f.audit.events(""))
	}

	var c Command
	if st := f.call(http.MethodPost, "/v1/meters/"+ids[1]+"/commands", op, "k3", disconnect("unpaid"), &c); st != http.StatusCreated {
		t.Fatalf("request: %d", st)
	}
	done := f.wait(c.ID, control.StateExecuted)
	if got := states(done); got != "requested,approved,sent,acknowledged,executed" {
		t.Errorf("transitions %s", got)
	}
	if r := f.relay(ids[1]); r.State != wire.RelayDisconnected || r.CommandID != c.ID || r.Source != "command" {
		t.Errorf("relay %+v", r)
	}
	if r := f.relay("MTR-NONE"); r.State != "unknown" || r.Since != nil {
		t.Errorf("relay of a meter without results: %+v", r)
	}
	if got := f.audit.events(c.ID); !slices.Equal(got, []string{"requested", "approved", "sent", "acknowledged", "executed"}) {
		t.Errorf("audit %v", got)
	}
	// The meter's history lists its commands by seq; the next one gets seq 2.
	var next Command
	if st := f.call(http.MethodPost, "/v1/meters/"+ids[1]+"/commands", op, "k4", map[string]any{"action": "reconnect", "reason": "paid"}, &next); st != http.StatusCreated || next.Seq != 2 {
		t.Errorf("next command: %d, seq %d", st, next.Seq)
	}
	var hist struct{ Commands []Command }
	if st := f.call(http.MethodGet, "/v1/meters/"+ids[1]+"/commands", op, "", nil, &hist); st != http.StatusOK || len(hist.Commands) != 2 || hist.Commands[0].ID != c.ID {
		t.Errorf("history: %d %+v", st, hist)
	}
}

// TestApproval checks that a disconnect overriding a flag waits unsent without approval,
// that its requester cannot approve it (403, audited), and that a second supervisor's
// approval sends it.
func TestApproval(t *testing.T) {
	f := newFixture(t, nil)
	ids := f.meters(1, 1)
	f.checker.set(ids[0], &control.Refusal{Rule: "life_support", Reason: "life-support flag"})
	sup := f.token(api.RoleSupervisor)
	var c Command
	body := map[string]any{"action": "disconnect", "reason": "unpaid", "override": true}
	if st := f.call(http.MethodPost, "/v1/meters/"+ids[0]+"/commands", sup, "a1", body, &c); st != http.StatusCreated {
		t.Fatalf("request: %d", st)
	}
	if c.State != control.StateRequested || c.NeedsApproval == "" {
		t.Fatalf("state %s, needs approval %q", c.State, c.NeedsApproval)
	}
	for range 3 {
		f.clock.Add(time.Minute)
		f.svc.Tick(f.ctx)
	}
	if c2 := f.wait(c.ID, control.StateRequested); c2.State != control.StateRequested || f.resp.deliveries(c.ID) != 0 {
		t.Fatalf("unapproved command is %s, delivered %d times", c2.State, f.resp.deliveries(c.ID))
	}
	if st := f.call(http.MethodPost, "/v1/commands/"+c.ID+"/approve", sup, "", nil, nil); st != http.StatusForbidden {
		t.Errorf("self-approval: %d, want 403", st)
	}
	if f.audit.count("approval_refused") != 1 {
		t.Errorf("self-approval not audited: %v", f.audit.events(""))
	}
	if st := f.call(http.MethodPost, "/v1/commands/"+c.ID+"/approve", f.token(api.RoleOperator), "", nil, nil); st != http.StatusForbidden {
		t.Errorf("approval by an operator: %d, want 403", st)
	}
	other := f.token(api.RoleSupervisor, api.RoleOperator)
	if st := f.call(http.MethodPost, "/v1/commands/"+c.ID+"/approve", other, "", nil, nil); st != http.StatusOK {
		t.Fatalf("approval: %d", st)
	}
	done := f.wait(c.ID, control.StateExecuted)
	if done.Transitions[1].State != control.StateApproved || done.Transitions[1].Actor != "test-supervisor-operator" {
		t.Errorf("approval transition %+v", done.Transitions[1])
	}
	if st := f.call(http.MethodPost, "/v1/commands/"+c.ID+"/approve", other, "", nil, nil); st != http.StatusConflict {
		t.Errorf("approving an executed command: %d, want 409", st)
	}
}

// TestExpiredApproval checks that an approval after approval_ttl is refused and the
// command expired unsent, and that the timer expires one nobody approves.
func TestExpiredApproval(t *testing.T) {
	f := newFixture(t, nil)
	ids := f.meters(2, 1)
	op := f.token(api.RoleOperator)
	body := map[string]any{"action": "disconnect", "reason": "unpaid", "override": true}
	var a, b Command
	f.call(http.MethodPost, "/v1/meters/"+ids[0]+"/commands", op, "e1", body, &a)
	f.clock.Add(30 * time.Minute)
	f.call(http.MethodPost, "/v1/meters/"+ids[1]+"/commands", op, "e2", body, &b)
	f.clock.Add(31 * time.Minute) // a waited 61 min, b 31 min; approval_ttl is 1 h
	if st := f.call(http.MethodPost, "/v1/commands/"+a.ID+"/approve", f.token(api.RoleSupervisor), "", nil, nil); st != http.StatusConflict {
		t.Errorf("late approval: %d, want 409", st)
	}
	if got := f.wait(a.ID, control.StateExpired); f.resp.deliveries(a.ID) != 0 {
		t.Errorf("expired command delivered: %+v", got)
	}
	f.clock.Add(30 * time.Minute)
	f.svc.Tick(f.ctx)
	f.wait(b.ID, control.StateExpired)
	if n := f.audit.count("expired"); n != 2 {
		t.Errorf("%d expired audit entries, want 2", n)
	}
	// The meter is free again.
	if st := f.call(http.MethodPost, "/v1/meters/"+ids[0]+"/commands", op, "e3", disconnect("again"), nil); st != http.StatusCreated {
		t.Errorf("request after expiry: %d", st)
	}
}

// TestAckTimeout checks that a command without an answer times out, is never resent,
// and that its late executed result still updates the relay state and raises the alarm,
// once however often it is delivered.
func TestAckTimeout(t *testing.T) {
	f := newFixture(t, nil)
	ids := f.meters(1, 1)
	f.resp.setSilent(ids[0])
	var c Command
	f.call(http.MethodPost, "/v1/meters/"+ids[0]+"/commands", f.token(api.RoleOperator), "t1", disconnect("unpaid"), &c)
	f.wait(c.ID, control.StateSent)
	f.resp.awaitDelivery(t, c.ID, 1)
	f.clock.Add(9 * time.Minute)
	f.svc.Tick(f.ctx)
	if got, _ := f.svc.Command(f.ctx, c.ID); got.State != control.StateSent {
		t.Fatalf("before ack_timeout: %s", got.State)
	}
	f.clock.Add(2 * time.Minute)
	f.svc.Tick(f.ctx)
	f.wait(c.ID, control.StateTimedOut)
	for range 5 {
		f.clock.Add(time.Hour)
		f.svc.Tick(f.ctx)
	}
	if n := f.resp.deliveries(c.ID); n != 1 {
		t.Errorf("delivered %d times, want once (never resent)", n)
	}
	if r := f.relay(ids[0]); r.State != "unknown" {
		t.Errorf("relay before any result: %+v", r)
	}
	late := wire.Ack{V: wire.Version, Kind: wire.KindAck, CommandID: c.ID, MeterID: ids[0], Status: wire.AckExecuted, Relay: wire.RelayDisconnected, At: f.clock.Now()}
	f.resp.publish(f.ctx, late, late)
	f.settle()
	f.resp.publish(f.ctx, late)
	f.settle()
	if got, _ := f.svc.Command(f.ctx, c.ID); got.State != control.StateTimedOut {
		t.Errorf("after the late result: %s, want timed_out", got.State)
	}
	if r := f.relay(ids[0]); r.State != wire.RelayDisconnected || r.CommandID != c.ID {
		t.Errorf("relay after the late result: %+v", r)
	}
	if n := f.audit.count("late_result"); n != 1 {
		t.Errorf("%d late_result entries, want 1", n)
	}
	if v := f.counter("meterhouse_control_late_results_total"); v != 1 {
		t.Errorf("late results metric %v, want 1", v)
	}
}

// TestRedeliveredAndUnknownAcks checks that acks delivered again change nothing, and that
// an ack for a command nobody sent is audited as unknown_result and ignored.
func TestRedeliveredAndUnknownAcks(t *testing.T) {
	f := newFixture(t, nil)
	ids := f.meters(1, 1)
	var c Command
	f.call(http.MethodPost, "/v1/meters/"+ids[0]+"/commands", f.token(api.RoleOperator), "r1", map[string]any{"action": "arm", "reason": "paid"}, &c)
	done := f.wait(c.ID, control.StateExecuted)
	f.settle()
	before := f.audit.events("")
	at := done.Transitions[len(done.Transitions)-1].At
	f.resp.publish(f.ctx,
		wire.Ack{V: wire.Version, Kind: wire.KindAck, CommandID: c.ID, MeterID: ids[0], Status: wire.AckAccepted, At: at},
		wire.Ack{V: wire.Version, Kind: wire.KindAck, CommandID: c.ID, MeterID: ids[0], Status: wire.AckExecuted, Relay: wire.RelayArmed, At: at},
		wire.Ack{V: wire.Version, Kind: wire.KindAck, CommandID: c.ID, MeterID: ids[0], Status: wire.AckRefused, Reason: "replay", At: at},
		wire.Ack{V: wire.Version, Kind: wire.KindAck, CommandID: "0123456789abcdef0123456789abcdef", MeterID: ids[0], Status: wire.AckExecuted, Relay: wire.RelayConnected, At: at},
	)
	f.settle()
	after, _ := f.svc.Command(f.ctx, c.ID)
	if states(after) != states(done) {
		t.Errorf("redelivery changed the transitions: %s → %s", states(done), states(after))
	}
	got := f.audit.events("")
	if len(got) != len(before)+1 || got[len(got)-1] != "unknown_result" {
		t.Errorf("audit after the redelivery: %v (before %v)", got, before)
	}
	if r := f.relay(ids[0]); r.State != wire.RelayArmed || r.CommandID != c.ID {
		t.Errorf("relay %+v: the unknown result must not count", r)
	}
	// A relay changed on site is an event: it moves the relay state, no command.
	f.clock.Add(time.Minute)
	f.resp.publish(f.ctx, wire.Ack{V: wire.Version, Kind: wire.KindEvent, MeterID: ids[0], Event: wire.EventRelayChangedOnSite, Relay: wire.RelayConnected, At: f.clock.Now()})
	f.settle()
	if r := f.relay(ids[0]); r.State != wire.RelayConnected || r.Source != "event" {
		t.Errorf("relay after the event %+v", r)
	}
	if f.audit.count("relay_event") != 1 {
		t.Errorf("relay event not audited: %v", f.audit.events(""))
	}
}

// TestRestart checks that a new service over the same database reloads the open
// commands: a sent command still times out, another completes from an ack that arrives
// after the restart, and the meter's open command still blocks a second one.
func TestRestart(t *testing.T) {
	f := newFixture(t, nil)
	ids := f.meters(2, 1)
	op := f.token(api.RoleOperator)
	f.resp.setSilent(ids[0])
	f.resp.setSilent(ids[1])
	var a, b Command
	f.call(http.MethodPost, "/v1/meters/"+ids[0]+"/commands", op, "s1", disconnect("unpaid"), &a)
	f.call(http.MethodPost, "/v1/meters/"+ids[1]+"/commands", op, "s2", disconnect("unpaid"), &b)
	f.wait(a.ID, control.StateSent)
	f.wait(b.ID, control.StateSent)
	f.restart()
	op = f.token(api.RoleOperator)
	if st := f.call(http.MethodPost, "/v1/meters/"+ids[0]+"/commands", op, "s3", disconnect("unpaid"), nil); st != http.StatusConflict {
		t.Errorf("second command after the restart: %d, want 409", st)
	}
	var same Command
	if st := f.call(http.MethodPost, "/v1/meters/"+ids[0]+"/commands", op, "s1", disconnect("unpaid"), &same); st != http.StatusOK || same.ID != a.ID {
		t.Errorf("retry after the restart: %d %s", st, same.ID)
	}
	f.resp.publish(f.ctx, wire.Ack{V: wire.Version, Kind: wire.KindAck, CommandID: b.ID, MeterID: ids[1], Status: wire.AckExecuted, Relay: wire.RelayDisconnected, At: f.clock.Now()})
	f.wait(b.ID, control.StateExecuted)
	f.clock.Add(11 * time.Minute)
	f.svc.Tick(f.ctx)
	f.wait(a.ID, control.StateTimedOut)
	f.resp.awaitDelivery(t, a.ID, 1)
	if n := f.resp.deliveries(a.ID); n != 1 {
		t.Errorf("delivered %d times across the restart, want 1", n)
	}
}

// TestRefusals checks that a safety rule's refusal at request time refuses the command
// unsent with the rule in the audit, that rules are asked again right before sending,
// and that an emergency reconnect skips the rules and approval.
func TestRefusals(t *testing.T) {
	f := newFixture(t, nil)
	ids := f.meters(8, 1)
	op := f.token(api.RoleOperator)
	f.checker.set(ids[0], &control.Refusal{Rule: "holiday", Reason: "2026-12-25 is Christmas Day in R1"})
	var c Command
	if st := f.call(http.MethodPost, "/v1/meters/"+ids[0]+"/commands", op, "f1", disconnect("unpaid"), &c); st != http.StatusCreated {
		t.Fatalf("request: %d", st)
	}
	if c.State != control.StateRefused || c.Transitions[1].Detail != "holiday: 2026-12-25 is Christmas Day in R1" {
		t.Errorf("refused command %+v", c)
	}
	// A batch above the threshold waits for approval; a rule that starts refusing
	// meanwhile refuses its member at the send.
	var b Batch
	body := map[string]any{"action": "disconnect", "reason": "unpaid", "meters": ids[1:]}
	if st := f.call(http.MethodPost, "/v1/commands", op, "b1", body, &b); st != http.StatusCreated || b.NeedsApproval == "" || b.States[control.StateRequested] != 7 {
		t.Fatalf("bulk: %d %+v", st, b)
	}
	f.checker.set(ids[1], &control.Refusal{Rule: "cutoff_hour", Reason: "after 15:00"})
	if st := f.call(http.MethodPost, "/v1/batches/"+b.ID+"/approve", f.token(api.RoleSupervisor), "", nil, &b); st != http.StatusOK {
		t.Fatalf("approve batch: %d", st)
	}
	f.wait(control.MemberID(b.ID, ids[1]), control.StateRefused)
	for _, m := range ids[2:] {
		f.wait(control.MemberID(b.ID, m), control.StateExecuted)
	}
	var got Batch
	if st := f.call(http.MethodGet, "/v1/batches/"+b.ID, op, "", nil, &got); st != http.StatusOK || got.States[control.StateExecuted] != 6 || got.States[control.StateRefused] != 1 {
		t.Errorf("batch %d %+v", st, got.States)
	}
	// Emergency reconnect: the checker would refuse it, but is not asked.
	f.checker.set(ids[0], &control.Refusal{Rule: "weekend", Reason: "Saturday"})
	checks := f.checker.count()
	var e Command
	body = map[string]any{"action": "reconnect", "reason": "medical emergency", "emergency": true}
	if st := f.call(http.MethodPost, "/v1/meters/"+ids[0]+"/commands", op, "f2", body, &e); st != http.StatusCreated {
		t.Fatalf("emergency: %d", st)
	}
	f.wait(e.ID, control.StateExecuted)
	if f.checker.count() != checks {
		t.Errorf("the rules were asked about an emergency reconnect")
	}
	if n := f.audit.count("refused"); n != 2 {
		t.Errorf("%d refused audit entries, want 2", n)
	}
}

// TestRateCaps checks that a bulk disconnect of 200 meters on 4 feeders is paced by
// fleet_per_minute and feeder_per_minute: no minute holds more sends than the caps, and
// every command ends executed, across a restart of the service.
func TestRateCaps(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.FleetPerMinute, c.FeederPerMinute, c.ApprovalThreshold = 40, 12, 1000 })
	ids := f.meters(200, 4)
	var b Batch
	if st := f.call(http.MethodPost, "/v1/commands", f.token(api.RoleOperator), "bulk", map[string]any{"action": "disconnect", "reason": "unpaid", "meters": ids}, &b); st != http.StatusCreated {
		t.Fatalf("bulk: %d", st)
	}
	feederOf := map[string]string{}
	for i, id := range ids {
		feederOf[id] = fmt.Sprintf("F-%d", i%4)
	}
	sent := func() (int, map[string]int) {
		f.svc.Tick(f.ctx)
		f.resp.mu.Lock()
		defer f.resp.mu.Unlock()
		per := map[string]int{}
		for _, c := range f.resp.sent {
			per[feederOf[c.MeterID]]++
		}
		return len(f.resp.sent), per
	}
	// Each minute sends as much as the caps allow: at most 40, at most 12 per feeder, and
	// no less than that while meters wait.
	total, per := 0, map[string]int{} // sends before this minute
	for minute := 1; total < 200; minute++ {
		if minute > 10 {
			t.Fatalf("%d of 200 sent after 10 minutes", total)
		}
		allowed := 0
		for fd := range 4 {
			allowed += min(12, 50-per[fmt.Sprintf("F-%d", fd)])
		}
		want := total + min(40, allowed)
		deadline := time.Now().Add(10 * time.Second)
		n, _ := sent()
		for n < want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			n, _ = sent()
		}
		if n != want {
			t.Fatalf("minute %d: %d sent, want %d", minute, n, want)
		}
		total = n
		if minute == 1 {
			// A new service over the same database counts the sends of the last minute.
			f.restart()
		}
		f.clock.Add(30 * time.Second)
		var n2 int
		if n2, per = sent(); n2 != total {
			t.Fatalf("minute %d + 30 s: %d sent, want still %d", minute, n2, total)
		}
		f.clock.Add(30 * time.Second)
	}
	// Every window of a minute, fleet and per feeder, from the stored send times.
	var cs []*Command
	for _, id := range ids {
		cs = append(cs, f.wait(control.MemberID(b.ID, id), control.StateExecuted))
	}
	for _, c := range cs {
		start := c.sentAt()
		fleet, feeder := 0, 0
		for _, o := range cs {
			if at := o.sentAt(); !at.Before(start) && at.Before(start.Add(time.Minute)) {
				fleet++
				if o.Feeder == c.Feeder {
					feeder++
				}
			}
		}
		if fleet > 40 || feeder > 12 {
			t.Fatalf("the minute from %s holds %d sends, %d on feeder %s", start, fleet, feeder, c.Feeder)
		}
	}
}

// TestDisabled checks that without a key file the routes answer 503 naming it.
func TestDisabled(t *testing.T) {
	f := newFixture(t, nil)
	f.stop()
	f.cfg.KeyFile = "/nonexistent/control.key"
	f.start()
	if f.svc.Disabled() == "" {
		t.Fatal("a service without its key file is enabled")
	}
	if st := f.call(http.MethodGet, "/v1/meters/M1/relay", f.token(api.RoleOperator), "", nil, nil); st != http.StatusServiceUnavailable {
		t.Errorf("disabled: %d, want 503", st)
	}
}

// TestBulk checks a bulk request by registry group, its idempotent retry, and that bad
// selectors name their field and request nothing.
func TestBulk(t *testing.T) {
	f := newFixture(t, nil)
	ids := f.meters(6, 2) // F-0: ids 0, 2, 4
	op := f.token(api.RoleOperator)
	body := map[string]any{"action": "read_now", "reason": "audit reads", "group": map[string]string{"kind": "feeder", "id": "F-0"}}
	var b, again Batch
	if st := f.call(http.MethodPost, "/v1/commands", op, "g1", body, &b); st != http.StatusCreated {
		t.Fatalf("bulk: %d", st)
	}
	if b.ID != control.BatchID("test-operator", "g1") || b.Meters != 3 || b.Selector != "group feeder/F-0" || b.NeedsApproval != "" {
		t.Fatalf("batch %+v", b)
	}
	for _, m := range []string{ids[0], ids[2], ids[4]} {
		f.wait(control.MemberID(b.ID, m), control.StateExecuted)
	}
	if st := f.call(http.MethodPost, "/v1/commands", op, "g1", body, &again); st != http.StatusOK || again.ID != b.ID || again.States[control.StateExecuted] != 3 {
		t.Errorf("retry: %d %+v", st, again)
	}
	for name, bad := range map[string]map[string]any{
		"meters[1]":  {"action": "arm", "reason": "x", "meters": []string{ids[1], "bad id"}},
		"meters":     {"action": "arm", "reason": "x", "meters": []string{ids[1], "MTR-UNKNOWN"}},
		"group.kind": {"action": "arm", "reason": "x", "group": map[string]string{"kind": "street", "id": "x"}},
		"action":     {"action": "explode", "reason": "x", "meters": []string{ids[1]}},
	} {
		var eb api.ErrorBody
		if st := f.call(http.MethodPost, "/v1/commands", op, "", bad, &eb); st != http.StatusBadRequest || eb.Error.Field != name {
			t.Errorf("%s: %d %+v, want 400 naming %s", name, st, eb, name)
		}
	}
	var hist struct{ Commands []Command }
	if f.call(http.MethodGet, "/v1/meters/"+ids[1]+"/commands", op, "", nil, &hist); len(hist.Commands) != 0 {
		t.Errorf("a refused bulk request made commands: %+v", hist.Commands)
	}
}

// TestLargeBatch checks that a batch of 7 500 meters, whose command ids alone exceed
// ClickHouse's max_query_size when bound in one query, is requested and read back whole.
func TestLargeBatch(t *testing.T) {
	f := newFixture(t, nil)
	ids := f.meters(7500, 25)
	var b Batch
	body := map[string]any{"action": "disconnect", "reason": "unpaid", "meters": ids}
	if st := f.call(http.MethodPost, "/v1/commands", f.token(api.RoleOperator), "big", body, &b); st != http.StatusCreated {
		t.Fatalf("bulk: %d", st)
	}
	if b.Meters != 7500 || len(b.Commands) != 7500 || b.States[control.StateRequested] != 7500 {
		t.Fatalf("batch of %d meters, %d commands, states %v", b.Meters, len(b.Commands), b.States)
	}
	var got Batch
	if st := f.call(http.MethodGet, "/v1/batches/"+b.ID, f.token(api.RoleOperator), "", nil, &got); st != http.StatusOK || len(got.Commands) != 7500 {
		t.Errorf("read back: %d, %d commands", st, len(got.Commands))
	}
}

// TestSlowChecksCapped checks that the rate caps count commands when they are published:
// with rules that take 7 s a check, 15 approved disconnects under a cap of 10 a minute
// are sent 10 at once and the other 5 a minute after the first 10 were published, not
// after that tick began.
func TestSlowChecksCapped(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.FleetPerMinute, c.FeederPerMinute, c.ApprovalThreshold = 10, 10, 100 })
	ids := f.meters(15, 1)
	f.checker.mu.Lock()
	f.checker.clock, f.checker.checked = f.clock, map[string]time.Time{}
	f.checker.mu.Unlock()
	var b Batch
	if st := f.call(http.MethodPost, "/v1/commands", f.token(api.RoleOperator), "slow", map[string]any{"action": "disconnect", "reason": "unpaid", "meters": ids}, &b); st != http.StatusCreated {
		t.Fatalf("bulk: %d", st)
	}
	f.checker.mu.Lock()
	f.checker.slow = 7 * time.Second
	f.checker.mu.Unlock()
	var cs []*Command
	deadline := time.Now().Add(20 * time.Second)
	for len(cs) < 15 && time.Now().Before(deadline) {
		cs = cs[:0]
		for _, id := range ids {
			c, err := f.svc.Command(f.ctx, control.MemberID(b.ID, id))
			if err != nil {
				t.Fatal(err)
			}
			if !c.sentAt().IsZero() {
				cs = append(cs, c)
			}
		}
		f.svc.Tick(f.ctx)
		f.clock.Add(5 * time.Second)
	}
	if len(cs) != 15 {
		t.Fatalf("%d of 15 sent", len(cs))
	}
	f.checker.mu.Lock()
	defer f.checker.mu.Unlock()
	for _, c := range cs {
		if checked := f.checker.checked[c.MeterID].Truncate(time.Second); c.sentAt().Before(checked) {
			t.Errorf("%s stored as sent at %s, before its check ended at %s", c.MeterID, c.sentAt(), checked)
		}
		n := 0
		for _, o := range cs {
			if at := o.sentAt(); !at.Before(c.sentAt()) && at.Before(c.sentAt().Add(time.Minute)) {
				n++
			}
		}
		if n > 10 {
			t.Errorf("the minute from %s holds %d sends", c.sentAt(), n)
		}
	}
}
