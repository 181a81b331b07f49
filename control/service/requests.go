package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meterhouse/meterhouse/control"
	"github.com/meterhouse/meterhouse/control/audit"
	"github.com/meterhouse/meterhouse/control/wire"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
)

// Selector chooses a bulk request's meters: a list, or a registry group.
type Selector struct {
	// Meters lists meter ids (a query of overdue accounts handed over by billing, say).
	Meters []string `json:"meters,omitempty"`
	// Group selects every meter of a registry group (not removed).
	Group *Group `json:"group,omitempty"`
}

// Group names a registry group: kind feeder, region, customer_class, tariff or fleet.
type Group struct {
	// Kind is the group kind.
	Kind string `json:"kind"`
	// ID is the group id (all for the fleet).
	ID string `json:"id"`
}

// snapshot copies c for a caller outside the lock.
func (c *Command) snapshot() *Command {
	d := *c
	d.Transitions = slices.Clone(c.Transitions)
	return &d
}

// sameRequest reports whether the request names the same meter and action as c, so that a
// retry with c's idempotency key is the same request.
func sameRequest(c *Command, meterID, action string) bool {
	return c.MeterID == meterID && c.Action == action
}

// timing returns a request's not-before and not-after.
func (s *Service) timing(r control.Request, now time.Time) (time.Time, time.Time) {
	nb := now
	if r.NotBefore != nil && r.NotBefore.After(now) {
		nb = r.NotBefore.UTC()
	}
	nb = nb.Truncate(time.Second)
	return nb, nb.Add(s.cfg.CommandTTL)
}

// newCommand builds a command and its first transitions: requested, then refused when a
// safety rule refused it (v, the rules' verdict on checkOf, evaluated by the caller
// outside the lock; ignored for a request the rules do not check), or approved at once
// when it needs no approval.
func (s *Service) newCommand(id, batchID, who, meterID, feeder string, seq uint64, r control.Request,
	needs string, now time.Time, v verdict) (*Command, []transitionRow, []audit.Entry, error) {
	nb, na := s.timing(r, now)
	nonce, err := wire.NewNonce()
	if err != nil {
		return nil, nil, nil, err
	}
	c := &Command{ID: id, BatchID: batchID, MeterID: meterID, Seq: seq, Action: r.Action, Reason: r.Reason, Principal: who,
		Emergency: r.Emergency, Override: r.Override, NeedsApproval: needs, NotBefore: nb, NotAfter: na, Feeder: feeder,
		RequestedAt: now.Truncate(time.Second), nonce: nonce}
	detail := fmt.Sprintf("%s: %s", r.Action, r.Reason)
	if batchID != "" {
		detail += " (batch " + batchID + ")"
	}
	ts := []transitionRow{c.move(control.StateRequested, now, who, detail)}
	es := []audit.Entry{entry(now, who, "requested", c, detail)}
	if r.Checked() {
		if v.err != nil {
			return nil, nil, nil, fmt.Errorf("control: the safety rules cannot be evaluated for meter %s, so nothing is sent: %v: %w", meterID, v.err, fault.ErrUnavailable)
		}
		if ref := v.ref; ref != nil {
			ts = append(ts, c.move(control.StateRefused, now, Actor, ref.Error()))
			es = append(es, entry(now, Actor, "refused", c, ref.Error()))
			return c, ts, es, nil
		}
	}
	if needs == "" {
		why := "no approval needed"
		if r.Emergency {
			why = "emergency reconnect: no approval, no safety rules"
		}
		ts = append(ts, c.move(control.StateApproved, now, Actor, why))
		es = append(es, entry(now, Actor, "approved", c, why))
	}
	return c, ts, es, nil
}

// checkRequest evaluates the safety rules for a request's meters at now, outside the
// lock; nil when the request is not checked (an emergency reconnect). The first meter
// whose rules cannot be evaluated fails the whole request, as it would at creation.
func (s *Service) checkRequest(ctx context.Context, meters []string, r control.Request, now time.Time) ([]verdict, error) {
	if !r.Checked() {
		return make([]verdict, len(meters)), nil
	}
	cs := make([]control.Check, len(meters))
	for i, m := range meters {
		cs[i] = s.checkOf(m, r, now)
	}
	vs := s.checkAll(ctx, cs)
	for i, v := range vs {
		if v.err != nil {
			return nil, fmt.Errorf("control: the safety rules cannot be evaluated for meter %s, so nothing is sent: %v: %w", meters[i], v.err, fault.ErrUnavailable)
		}
	}
	return vs, nil
}

// Request asks for one command for a meter, on behalf of principal who, under an
// idempotency key. It returns the command and whether it was created now (false: the
// same request was made before and this is that command). A second request for a meter
// with an open command, or a key used before for another request, is a fault.ErrConflict.
func (s *Service) Request(ctx context.Context, who, key, meterID string, r control.Request) (*Command, bool, error) {
	if err := s.unavailable(); err != nil {
		return nil, false, err
	}
	if !schema.ValidMeterID([]byte(meterID)) {
		return nil, false, fault.Invalid("meter_id", "%q is not a meter id", meterID)
	}
	if err := r.Validate(); err != nil {
		return nil, false, err
	}
	id := control.CommandID(who, key)
	// The safety rules are asked without the lock: first what needs no rules (a retry, a
	// busy meter, a meter not in the registry), then the rules, then, under the lock,
	// again what may have changed meanwhile.
	prev, err := s.previous(ctx, id, meterID, r)
	if prev != nil || err != nil {
		return prev, false, err
	}
	feeders, err := s.store.feeders(ctx, []string{meterID})
	if err != nil {
		return nil, false, err
	}
	feeder, ok := feeders[meterID]
	if !ok {
		return nil, false, fmt.Errorf("%w: meter %s is not in the registry", fault.ErrNotFound, meterID)
	}
	now := s.now().UTC()
	vs, err := s.checkRequest(ctx, []string{meterID}, r, now)
	if err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, err := s.previousLocked(ctx, id, meterID, r); prev != nil || err != nil {
		return prev, false, err
	}
	seqs, err := s.store.maxSeqs(ctx, []string{meterID})
	if err != nil {
		return nil, false, err
	}
	_, why := s.policy.NeedsApproval(r, 1, false)
	return s.create(ctx, nil, []string{meterID}, map[string]string{meterID: feeder}, seqs, who, id, r, why, now, vs)
}

// previous returns the command a retry of the request with id names, or a conflict when
// id names another request or the meter has an open command; nil, nil when the request
// is new.
func (s *Service) previous(ctx context.Context, id, meterID string, r control.Request) (*Command, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.previousLocked(ctx, id, meterID, r)
}

func (s *Service) previousLocked(ctx context.Context, id, meterID string, r control.Request) (*Command, error) {
	prev := s.open[id]
	if prev == nil {
		var err error
		if prev, err = s.store.command(ctx, id); err != nil {
			return nil, err
		}
	}
	if prev != nil {
		if !sameRequest(prev, meterID, r.Action) {
			return nil, fmt.Errorf("%w: this Idempotency-Key was used for another request (command %s, %s of meter %s)",
				fault.ErrConflict, prev.ID, prev.Action, prev.MeterID)
		}
		return prev.snapshot(), nil
	}
	if o := s.byMeter[meterID]; o != nil {
		return nil, fmt.Errorf("%w: meter %s has an open command %s (%s, %s); wait for its result", fault.ErrConflict, meterID, o.ID, o.Action, o.State)
	}
	return nil, nil
}

// create builds, stores and audits the commands of a request (one, or a batch's).
// vs are the safety rules' verdicts on meters, in order (checkRequest).
func (s *Service) create(ctx context.Context, b *Batch, meters []string, feeders map[string]string, seqs map[string]uint64,
	who, id string, r control.Request, needs string, now time.Time, vs []verdict) (*Command, bool, error) {
	var cs []*Command
	var ts []transitionRow
	var es []audit.Entry
	batchID := ""
	if b != nil {
		batchID = b.ID
		es = append(es, audit.Entry{At: now, Actor: who, Event: "batch_requested",
			Detail: fmt.Sprintf("batch %s: %s of %d meters (%s): %s", b.ID, r.Action, len(meters), b.Selector, r.Reason)})
	}
	for i, m := range meters {
		cid := id
		if b != nil {
			cid = control.MemberID(b.ID, m)
		}
		c, t, e, err := s.newCommand(cid, batchID, who, m, feeders[m], seqs[m]+1, r, needs, now, vs[i])
		if err != nil {
			return nil, false, err
		}
		cs, ts, es = append(cs, c), append(ts, t...), append(es, e...)
	}
	if err := s.store.writeCommands(ctx, cs); err != nil {
		return nil, false, err
	}
	if b != nil {
		if err := s.store.writeBatch(ctx, b); err != nil {
			return nil, false, err
		}
	}
	if err := s.commit(ctx, ts, es); err != nil {
		return nil, false, err
	}
	for _, c := range cs {
		if !c.State.Final() {
			s.open[c.ID] = c
			s.byMeter[c.MeterID] = c
		}
	}
	s.poke()
	return cs[0].snapshot(), true, nil
}

// meters resolves a bulk request's selector to distinct meter ids, in order.
func (s *Service) meters(ctx context.Context, sel Selector) ([]string, string, error) {
	switch {
	case sel.Group != nil && len(sel.Meters) > 0:
		return nil, "", fault.Invalid("meters", "give meters or group, not both")
	case sel.Group != nil:
		k, err := schema.ParseGroupKind(sel.Group.Kind)
		if err != nil {
			return nil, "", fault.Invalid("group.kind", "%v", err)
		}
		if err := schema.CheckGroupID("group.id", k, sel.Group.ID); err != nil {
			return nil, "", err
		}
		ms, err := s.store.groupMeters(ctx, k.RegistryColumn(), sel.Group.ID, s.cfg.MaxBulk)
		if err != nil {
			return nil, "", err
		}
		if len(ms) == 0 {
			return nil, "", fault.Invalid("group", "%s %q has no meters in the registry", k, sel.Group.ID)
		}
		if len(ms) > s.cfg.MaxBulk {
			return nil, "", fault.Invalid("group", "%s %q has more than control.max_bulk (%d) meters", k, sel.Group.ID, s.cfg.MaxBulk)
		}
		return ms, "group " + string(k) + "/" + sel.Group.ID, nil
	case len(sel.Meters) == 0:
		return nil, "", fault.Invalid("meters", "give meters (a list of meter ids) or group {kind, id}")
	case len(sel.Meters) > s.cfg.MaxBulk:
		return nil, "", fault.Invalid("meters", "%d meters: at most control.max_bulk (%d)", len(sel.Meters), s.cfg.MaxBulk)
	}
	seen := map[string]bool{}
	var out []string
	for i, m := range sel.Meters {
		if !schema.ValidMeterID([]byte(m)) {
			return nil, "", fault.Invalid(fmt.Sprintf("meters[%d]", i), "%q is not a meter id", m)
		}
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out, "list", nil
}

// Bulk asks for the same command for many meters, as one batch under an idempotency key.
// It returns the batch and whether it was created now. It is all or nothing: a meter
// not in the registry, or one with an open command, refuses the whole request.
func (s *Service) Bulk(ctx context.Context, who, key string, r control.Request, sel Selector) (*Batch, bool, error) {
	if err := s.unavailable(); err != nil {
		return nil, false, err
	}
	if err := r.Validate(); err != nil {
		return nil, false, err
	}
	id := control.BatchID(who, key)
	s.mu.Lock()
	prev, err := s.store.batchRow(ctx, id)
	s.mu.Unlock()
	if err != nil {
		return nil, false, err
	}
	if prev != nil {
		if prev.Action != r.Action {
			return nil, false, fmt.Errorf("%w: this Idempotency-Key was used for another request (batch %s, %s)", fault.ErrConflict, prev.ID, prev.Action)
		}
		b, err := s.Batch(ctx, id)
		return b, false, err
	}
	meters, selector, err := s.meters(ctx, sel)
	if err != nil {
		return nil, false, err
	}
	// What needs no rules first (busy meters, meters not in the registry), then the rules
	// without the lock, then, under the lock, again what may have changed meanwhile.
	s.mu.Lock()
	err = s.busy(meters)
	s.mu.Unlock()
	if err != nil {
		return nil, false, err
	}
	feeders, err := s.store.feeders(ctx, meters)
	if err != nil {
		return nil, false, err
	}
	var unknown []string
	for _, m := range meters {
		if _, ok := feeders[m]; !ok {
			unknown = append(unknown, m)
		}
	}
	if len(unknown) > 0 {
		return nil, false, fault.Invalid("meters", "%d meters are not in the registry, so nothing was requested: %s", len(unknown), brief(unknown))
	}
	now := s.now().UTC()
	vs, err := s.checkRequest(ctx, meters, r, now)
	if err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, err := s.store.batchRow(ctx, id); err != nil || prev != nil {
		if err == nil {
			err = fmt.Errorf("%w: batch %s is being made by a request with the same Idempotency-Key; retry", fault.ErrConflict, id)
		}
		return nil, false, err
	}
	if err := s.busy(meters); err != nil {
		return nil, false, err
	}
	seqs, err := s.store.maxSeqs(ctx, meters)
	if err != nil {
		return nil, false, err
	}
	_, why := s.policy.NeedsApproval(r, len(meters), true)
	b := &Batch{ID: id, Principal: who, Action: r.Action, Reason: r.Reason, Selector: selector, Meters: len(meters),
		NeedsApproval: why, RequestedAt: now.Truncate(time.Second)}
	if _, _, err := s.create(ctx, b, meters, feeders, seqs, who, id, r, why, now, vs); err != nil {
		return nil, false, err
	}
	out, err := s.batchLocked(ctx, id)
	return out, true, err
}

// busy returns a fault.ErrConflict naming the meters that have an open command.
func (s *Service) busy(meters []string) error {
	var busy []string
	for _, m := range meters {
		if o := s.byMeter[m]; o != nil {
			busy = append(busy, m+" ("+o.ID+")")
		}
	}
	if len(busy) > 0 {
		return fmt.Errorf("%w: %d meters have an open command, so nothing was requested: %s", fault.ErrConflict, len(busy), brief(busy))
	}
	return nil
}

// brief lists at most five items and how many more there are.
func brief(items []string) string {
	if len(items) <= 5 {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:5], ", "), len(items)-5)
}

// Approve approves a command that needs approval, as principal who (supervisor: whether
// who holds role supervisor). Self-approval and a principal without the role are
// fault.ErrForbidden, audited as approval_refused; a command past its approval window
// expires and the approval is a fault.ErrConflict.
func (s *Service) Approve(ctx context.Context, who string, supervisor bool, id string) (*Command, error) {
	if err := s.unavailable(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.open[id]
	if c == nil {
		closed, err := s.store.command(ctx, id)
		if err != nil {
			return nil, err
		}
		if closed == nil {
			return nil, fmt.Errorf("%w: no command %s", fault.ErrNotFound, id)
		}
		return nil, fmt.Errorf("%w: command %s is %s: nothing to approve", fault.ErrConflict, id, closed.State)
	}
	if c.BatchID != "" {
		return nil, fmt.Errorf("%w: command %s belongs to batch %s: approve the batch", fault.ErrConflict, id, c.BatchID)
	}
	if err := s.approve(ctx, who, supervisor, []*Command{c}, c.Principal, id, "command"); err != nil {
		return nil, err
	}
	return c.snapshot(), nil
}

// ApproveBatch approves every command of a batch that waits for approval, like Approve.
func (s *Service) ApproveBatch(ctx context.Context, who string, supervisor bool, id string) (*Batch, error) {
	if err := s.unavailable(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.store.batchRow(ctx, id)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("%w: no batch %s", fault.ErrNotFound, id)
	}
	var cs []*Command
	for _, c := range s.sorted() {
		if c.BatchID == id {
			cs = append(cs, c)
		}
	}
	if err := s.approve(ctx, who, supervisor, cs, b.Principal, id, "batch"); err != nil {
		return nil, err
	}
	return s.batchLocked(ctx, id)
}

// approve approves cs (a command, or a batch's open members) for target of kind.
func (s *Service) approve(ctx context.Context, who string, supervisor bool, cs []*Command, requester, target, kind string) error {
	now := s.now().UTC()
	if err := control.CheckApprover(requester, who, supervisor); err != nil {
		e := audit.Entry{At: now, Actor: who, Event: "approval_refused", Detail: kind + " " + target + ": " + err.Error()}
		if kind == "command" && len(cs) == 1 {
			e.CommandID, e.MeterID = cs[0].ID, cs[0].MeterID
		}
		if aerr := s.deps.Auditor.Append(ctx, e); aerr != nil {
			return errors.Join(err, aerr)
		}
		return err
	}
	var waiting []*Command
	for _, c := range cs {
		if c.State == control.StateRequested && c.NeedsApproval != "" {
			waiting = append(waiting, c)
		}
	}
	if len(waiting) == 0 {
		return fmt.Errorf("%w: %s %s has nothing waiting for approval", fault.ErrConflict, kind, target)
	}
	var ts []transitionRow
	var es []audit.Entry
	expired := 0
	for _, c := range waiting {
		if !now.Before(c.RequestedAt.Add(s.cfg.ApprovalTTL)) {
			detail := fmt.Sprintf("not approved within control.approval_ttl (%s)", s.cfg.ApprovalTTL)
			ts = append(ts, c.move(control.StateExpired, now, Actor, detail))
			es = append(es, entry(now, Actor, "expired", c, detail))
			s.forget(c)
			expired++
			continue
		}
		ts = append(ts, c.move(control.StateApproved, now, who, "approved by "+who))
		es = append(es, entry(now, who, "approved", c, kind+" "+target))
	}
	if expired < len(waiting) {
		if err := s.store.writeApproval(ctx, target, kind, who, now); err != nil {
			return err
		}
	}
	if err := s.commit(ctx, ts, es); err != nil {
		return err
	}
	s.poke()
	if expired == len(waiting) {
		return fmt.Errorf("%w: %s %s waited longer than control.approval_ttl (%s) and expired; request it again", fault.ErrConflict, kind, target, s.cfg.ApprovalTTL)
	}
	return nil
}

// Command returns a command with its transitions; fault.ErrNotFound when there is none.
func (s *Service) Command(ctx context.Context, id string) (*Command, error) {
	if err := s.unavailable(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	c := s.open[id]
	if c != nil {
		c = c.snapshot()
	}
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := s.store.command(ctx, id)
	if err == nil && c == nil {
		err = fmt.Errorf("%w: no command %s", fault.ErrNotFound, id)
	}
	return c, err
}

// MeterCommands returns a meter's commands, by seq.
func (s *Service) MeterCommands(ctx context.Context, meterID string) ([]*Command, error) {
	if err := s.unavailable(); err != nil {
		return nil, err
	}
	cs, err := s.store.commands(ctx, `WHERE meter_id = ? ORDER BY seq`, meterID)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range cs {
		if o := s.open[c.ID]; o != nil {
			cs[i] = o.snapshot()
		}
	}
	return cs, nil
}

// Batch returns a batch with its members' states; fault.ErrNotFound when there is none.
func (s *Service) Batch(ctx context.Context, id string) (*Batch, error) {
	if err := s.unavailable(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batchLocked(ctx, id)
}

func (s *Service) batchLocked(ctx context.Context, id string) (*Batch, error) {
	b, err := s.store.batchRow(ctx, id)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("%w: no batch %s", fault.ErrNotFound, id)
	}
	cs, err := s.store.commands(ctx, `WHERE batch_id = ? ORDER BY meter_id`, id)
	if err != nil {
		return nil, err
	}
	b.States = map[control.State]int{}
	for _, c := range cs {
		st := c.State
		if o := s.open[c.ID]; o != nil {
			st = o.State
		}
		b.States[st]++
		b.Commands = append(b.Commands, Member{ID: c.ID, MeterID: c.MeterID, State: st})
	}
	return b, nil
}

// Relay returns a meter's known relay state: its latest row of control_relay, or unknown.
func (s *Service) Relay(ctx context.Context, meterID string) (Relay, error) {
	if err := s.unavailable(); err != nil {
		return Relay{}, err
	}
	return s.store.relay(ctx, meterID)
}
