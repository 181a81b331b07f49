package service

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/control"
	"github.com/meterhouse/meterhouse/schema"
)

// Command is one remote command: the fields fixed at its request, its current state and
// the transitions that led there.
type Command struct {
	// ID is the command id (control.CommandID or control.MemberID).
	ID string `json:"id"`
	// BatchID is the bulk request it belongs to; empty for a single request.
	BatchID string `json:"batch_id,omitempty"`
	// MeterID is the meter.
	MeterID string `json:"meter_id"`
	// Seq orders the meter's commands: 1, 2, ….
	Seq uint64 `json:"seq"`
	// Action is disconnect, reconnect, arm or read_now.
	Action string `json:"action"`
	// Reason is why it was requested.
	Reason string `json:"reason"`
	// Principal requested it.
	Principal string `json:"principal"`
	// Emergency and Override are the request's flags.
	Emergency bool `json:"emergency"`
	Override  bool `json:"override"`
	// NeedsApproval says why it needs a supervisor's approval; empty when it does not.
	NeedsApproval string `json:"needs_approval,omitempty"`
	// NotBefore and NotAfter bound when the DAS may act.
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// Feeder is the meter's feeder when requested (the per-feeder rate cap).
	Feeder string `json:"feeder"`
	// RequestedAt is when it was requested.
	RequestedAt time.Time `json:"requested_at"`
	// State is its current state.
	State control.State `json:"state"`
	// Transitions are the states it entered, in order.
	Transitions []Transition `json:"transitions"`

	nonce string
	// replayNoted: a replay refusal of a copy of this command was audited.
	replayNoted bool
}

// Transition is one state a command entered.
type Transition struct {
	// State is the state entered.
	State control.State `json:"state"`
	// At is when.
	At time.Time `json:"at"`
	// Actor is who moved it there: a principal, "control" or "das".
	Actor string `json:"actor"`
	// Detail explains it: a refusal's rule and reason, an ack's relay state.
	Detail string `json:"detail,omitempty"`
}

// sentAt returns when the command was sent (zero when it was not).
func (c *Command) sentAt() time.Time {
	for _, t := range c.Transitions {
		if t.State == control.StateSent {
			return t.At
		}
	}
	return time.Time{}
}

// move records a transition in memory and returns its row.
func (c *Command) move(st control.State, at time.Time, actor, detail string) transitionRow {
	t := Transition{State: st, At: at.UTC().Truncate(time.Second), Actor: actor, Detail: detail}
	c.Transitions = append(c.Transitions, t)
	c.State = st
	return transitionRow{commandID: c.ID, Transition: t}
}

// Batch is a bulk request.
type Batch struct {
	// ID is the batch id (control.BatchID).
	ID string `json:"id"`
	// Principal requested it.
	Principal string `json:"principal"`
	// Action and Reason are the request's.
	Action string `json:"action"`
	Reason string `json:"reason"`
	// Selector says how the meters were chosen: "list" or "group kind/id".
	Selector string `json:"selector"`
	// Meters is how many meters it names.
	Meters int `json:"meters"`
	// NeedsApproval says why it needs a supervisor's approval; empty when it does not.
	NeedsApproval string `json:"needs_approval,omitempty"`
	// RequestedAt is when it was requested.
	RequestedAt time.Time `json:"requested_at"`
	// States counts its commands by state.
	States map[control.State]int `json:"states"`
	// Commands are its members: id, meter and state.
	Commands []Member `json:"commands"`
}

// Member is one command of a batch, in brief.
type Member struct {
	// ID is the command id.
	ID string `json:"id"`
	// MeterID is the meter.
	MeterID string `json:"meter_id"`
	// State is the command's state.
	State control.State `json:"state"`
}

// Relay is a meter's known relay state.
type Relay struct {
	// MeterID is the meter.
	MeterID string `json:"meter_id"`
	// State is connected, disconnected, armed or unknown (nothing reported yet).
	State string `json:"state"`
	// Since is when the DAS observed it; absent when unknown.
	Since *time.Time `json:"since,omitempty"`
	// Source is command (a command's result) or event (changed on site).
	Source string `json:"source,omitempty"`
	// CommandID is the command whose result it is.
	CommandID string `json:"command_id,omitempty"`
}

type transitionRow struct {
	commandID string
	Transition
}

type relayRow struct {
	meterID, state, source, commandID string
	at                                time.Time
}

// store is the ClickHouse side: the private database's control tables, and the platform
// registry (meters) for feeders and groups.
type store struct {
	conn    driver.Conn
	private string
	now     func() time.Time
}

func (s *store) batch(ctx context.Context, insert string, n int, row func(i int) []any) error {
	if n == 0 {
		return nil
	}
	bctx, sent := schema.BatchContext(ctx)
	defer sent()
	b, err := s.conn.PrepareBatch(bctx, insert)
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	defer b.Abort() //nolint:errcheck // a no-op once sent
	for i := range n {
		if err := b.Append(row(i)...); err != nil {
			return fmt.Errorf("control: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("control: %w", err)
	}
	return nil
}

func b8(v bool) uint8 {
	if v {
		return 1
	}
	return 0
}

func (s *store) writeCommands(ctx context.Context, cs []*Command) error {
	return s.batch(ctx, `INSERT INTO `+s.private+`.control_commands (command_id, batch_id, meter_id, seq, action, reason, principal,
emergency, override, needs_approval, nonce, not_before, not_after, feeder, requested_at)`, len(cs), func(i int) []any {
		c := cs[i]
		return []any{c.ID, c.BatchID, c.MeterID, c.Seq, c.Action, c.Reason, c.Principal, b8(c.Emergency), b8(c.Override),
			c.NeedsApproval, c.nonce, c.NotBefore, c.NotAfter, c.Feeder, c.RequestedAt}
	})
}

func (s *store) writeTransitions(ctx context.Context, ts []transitionRow) error {
	rec := s.now().UTC()
	return s.batch(ctx, `INSERT INTO `+s.private+`.control_transitions (command_id, state, at, actor, detail, recorded_at)`, len(ts), func(i int) []any {
		t := ts[i]
		return []any{t.commandID, string(t.State), t.At, t.Actor, t.Detail, rec}
	})
}

func (s *store) writeRelay(ctx context.Context, rs []relayRow) error {
	rec := s.now().UTC()
	return s.batch(ctx, `INSERT INTO `+s.private+`.control_relay (meter_id, at, at_ns, state, source, command_id, recorded_at)`, len(rs), func(i int) []any {
		r := rs[i]
		return []any{r.meterID, r.at.UTC().Truncate(time.Second), r.at.UnixNano(), r.state, r.source, r.commandID, rec}
	})
}

func (s *store) writeBatch(ctx context.Context, b *Batch) error {
	return s.batch(ctx, `INSERT INTO `+s.private+`.control_batches (batch_id, principal, action, reason, selector, meters, needs_approval, requested_at)`, 1,
		func(int) []any {
			return []any{b.ID, b.Principal, b.Action, b.Reason, b.Selector, uint32(b.Meters), b.NeedsApproval, b.RequestedAt}
		})
}

func (s *store) writeApproval(ctx context.Context, target, kind, approver string, at time.Time) error {
	return s.batch(ctx, `INSERT INTO `+s.private+`.control_approvals (target_id, kind, approver, at)`, 1,
		func(int) []any { return []any{target, kind, approver, at.UTC().Truncate(time.Second)} })
}

func (s *store) writeKey(ctx context.Context, keyID, public string, at time.Time) error {
	return s.batch(ctx, `INSERT INTO `+s.private+`.control_keys (key_id, public_key, created_at)`, 1,
		func(int) []any { return []any{keyID, public, at.UTC().Truncate(time.Second)} })
}

// commands returns the commands matching where (over control_commands FINAL, with
// placeholders for args), each with its transitions and state, ordered by meter and seq.
func (s *store) commands(ctx context.Context, where string, args ...any) ([]*Command, error) {
	rows, err := s.conn.Query(ctx, `SELECT command_id, batch_id, meter_id, seq, action, reason, principal, emergency, override,
needs_approval, nonce, not_before, not_after, feeder, requested_at FROM `+s.private+`.control_commands FINAL `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("control: read commands: %w", err)
	}
	defer rows.Close()
	var out []*Command
	byID := map[string]*Command{}
	for rows.Next() {
		c := &Command{State: control.StateRequested}
		var em, ov uint8
		if err := rows.Scan(&c.ID, &c.BatchID, &c.MeterID, &c.Seq, &c.Action, &c.Reason, &c.Principal, &em, &ov,
			&c.NeedsApproval, &c.nonce, &c.NotBefore, &c.NotAfter, &c.Feeder, &c.RequestedAt); err != nil {
			return nil, fmt.Errorf("control: read commands: %w", err)
		}
		c.Emergency, c.Override = em == 1, ov == 1
		c.NotBefore, c.NotAfter, c.RequestedAt = c.NotBefore.UTC(), c.NotAfter.UTC(), c.RequestedAt.UTC()
		out = append(out, c)
		byID[c.ID] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("control: read commands: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(out))
	for _, c := range out {
		ids = append(ids, c.ID)
	}
	for chunk := range slices.Chunk(ids, chunkIDs) {
		if err := s.transitions(ctx, chunk, byID); err != nil {
			return nil, err
		}
	}
	for _, c := range out {
		// Transitions stored in the same second sort by rank, so the life reads in order.
		sort.SliceStable(c.Transitions, func(i, j int) bool {
			a, b := c.Transitions[i], c.Transitions[j]
			if !a.At.Equal(b.At) {
				return a.At.Before(b.At)
			}
			return a.State.Rank() < b.State.Rank()
		})
		for _, t := range c.Transitions {
			if t.State.Rank() >= c.State.Rank() {
				c.State = t.State
			}
		}
	}
	return out, nil
}

// chunkIDs is the most ids one query binds: 2000 ids of up to 64 characters stay well
// inside ClickHouse's max_query_size (256 KiB), which a batch's ids (10 000 command ids)
// would exceed.
const chunkIDs = 2000

// transitions appends the stored transitions of the commands ids to byID's commands.
func (s *store) transitions(ctx context.Context, ids []string, byID map[string]*Command) error {
	rows, err := s.conn.Query(ctx, `SELECT command_id, state, at, actor, detail FROM `+s.private+`.control_transitions FINAL
WHERE command_id IN (SELECT arrayJoin(?)) ORDER BY command_id, at`, ids)
	if err != nil {
		return fmt.Errorf("control: read transitions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, st string
		var t Transition
		if err := rows.Scan(&id, &st, &t.At, &t.Actor, &t.Detail); err != nil {
			return fmt.Errorf("control: read transitions: %w", err)
		}
		if t.State, err = control.ParseState(st); err != nil {
			return err
		}
		t.At = t.At.UTC()
		if c := byID[id]; c != nil {
			c.Transitions = append(c.Transitions, t)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("control: read transitions: %w", err)
	}
	return nil
}

func (s *store) command(ctx context.Context, id string) (*Command, error) {
	cs, err := s.commands(ctx, `WHERE command_id = ?`, id)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	return cs[0], nil
}

// open returns the commands without a final state.
func (s *store) open(ctx context.Context) ([]*Command, error) {
	cs, err := s.commands(ctx, `WHERE command_id NOT IN (SELECT command_id FROM `+s.private+`.control_transitions
WHERE state IN (SELECT arrayJoin(?))) ORDER BY meter_id, seq`, finalNames())
	if err != nil {
		return nil, err
	}
	out := cs[:0]
	for _, c := range cs {
		if !c.State.Final() {
			out = append(out, c)
		}
	}
	return out, nil
}

func finalNames() []string {
	var out []string
	for _, s := range control.FinalStates {
		out = append(out, string(s))
	}
	return out
}

// recentlySent returns the capped commands sent at or after since, oldest first (the
// rate caps' window after a restart).
func (s *store) recentlySent(ctx context.Context, since time.Time) ([]sentRec, error) {
	rows, err := s.conn.Query(ctx, `SELECT t.at, c.feeder, c.action FROM (SELECT command_id, at FROM `+s.private+`.control_transitions FINAL
WHERE state = 'sent' AND at >= ?) AS t ANY INNER JOIN (SELECT command_id, feeder, action FROM `+s.private+`.control_commands FINAL) AS c
USING command_id ORDER BY t.at`, since.UTC())
	if err != nil {
		return nil, fmt.Errorf("control: read sent commands: %w", err)
	}
	defer rows.Close()
	var out []sentRec
	for rows.Next() {
		var r sentRec
		var action string
		if err := rows.Scan(&r.at, &r.feeder, &action); err != nil {
			return nil, fmt.Errorf("control: read sent commands: %w", err)
		}
		if control.Capped(action) {
			out = append(out, r)
		}
	}
	return out, rows.Err()
}

// maxSeqs returns the highest seq of each meter that has commands.
func (s *store) maxSeqs(ctx context.Context, meters []string) (map[string]uint64, error) {
	out := map[string]uint64{}
	for chunk := range slices.Chunk(meters, chunkIDs) {
		if err := scanPairs(ctx, s.conn, `SELECT meter_id, max(seq) FROM `+s.private+`.control_commands FINAL
WHERE meter_id IN (SELECT arrayJoin(?)) GROUP BY meter_id`, chunk, "read sequences", func(m string, n uint64) { out[m] = n }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scanPairs runs q over ids and hands each row, a meter id and a value, to f.
func scanPairs[V any](ctx context.Context, conn driver.Conn, q string, ids []string, what string, f func(id string, v V)) error {
	rows, err := conn.Query(ctx, q, ids)
	if err != nil {
		return fmt.Errorf("control: %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var v V
		if err := rows.Scan(&id, &v); err != nil {
			return fmt.Errorf("control: %s: %w", what, err)
		}
		f(id, v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("control: %s: %w", what, err)
	}
	return nil
}

// feeders returns the feeder of each of meters the registry lists.
func (s *store) feeders(ctx context.Context, meters []string) (map[string]string, error) {
	out := map[string]string{}
	for chunk := range slices.Chunk(meters, chunkIDs) {
		if err := scanPairs(ctx, s.conn, `SELECT meter_id, argMax(feeder, updated_at) FROM meters WHERE meter_id IN (SELECT arrayJoin(?)) GROUP BY meter_id`,
			chunk, "read the registry", func(m, f string) { out[m] = f }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// groupMeters returns the meters of a registry group (column is a schema.GroupKind's
// RegistryColumn, never request text; "" for the fleet), at most limit+1 of them.
func (s *store) groupMeters(ctx context.Context, column, id string, limit int) ([]string, error) {
	q := `SELECT meter_id FROM (SELECT meter_id, argMax(status, updated_at) AS st`
	args := []any{}
	if column != "" {
		q += `, argMax(` + column + `, updated_at) AS g`
	}
	q += ` FROM meters GROUP BY meter_id) WHERE st != 'removed'`
	if column != "" {
		q += ` AND g = ?`
		args = append(args, id)
	}
	q += fmt.Sprintf(` ORDER BY meter_id LIMIT %d`, limit+1)
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("control: read the group's meters: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, fmt.Errorf("control: read the group's meters: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *store) batchRow(ctx context.Context, id string) (*Batch, error) {
	rows, err := s.conn.Query(ctx, `SELECT batch_id, principal, action, reason, selector, meters, needs_approval, requested_at
FROM `+s.private+`.control_batches FINAL WHERE batch_id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("control: read batch: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	b := &Batch{}
	var n uint32
	if err := rows.Scan(&b.ID, &b.Principal, &b.Action, &b.Reason, &b.Selector, &n, &b.NeedsApproval, &b.RequestedAt); err != nil {
		return nil, fmt.Errorf("control: read batch: %w", err)
	}
	b.Meters, b.RequestedAt = int(n), b.RequestedAt.UTC()
	return b, nil
}

func (s *store) relay(ctx context.Context, meterID string) (Relay, error) {
	r := Relay{MeterID: meterID, State: "unknown"}
	// Ordered by at_ns within a second (migration 0057); rows older than at_ns read 0
	// there and order by at alone.
	rows, err := s.conn.Query(ctx, `SELECT state, at, at_ns, source, command_id FROM `+s.private+`.control_relay FINAL
WHERE meter_id = ? ORDER BY at DESC, at_ns DESC, recorded_at DESC LIMIT 1`, meterID)
	if err != nil {
		return r, fmt.Errorf("control: read relay state: %w", err)
	}
	defer rows.Close()
	if rows.Next() {
		var at time.Time
		var ns int64
		if err := rows.Scan(&r.State, &at, &ns, &r.Source, &r.CommandID); err != nil {
			return r, fmt.Errorf("control: read relay state: %w", err)
		}
		at = relayTime(at, ns)
		r.Since = &at
	}
	return r, rows.Err()
}

// relayTime returns when a row of control_relay took its state: at_ns (nanoseconds since
// the epoch) when set, else at (whole seconds; the rows written before migration 0057).
func relayTime(at time.Time, ns int64) time.Time {
	if ns != 0 {
		return time.Unix(0, ns).UTC()
	}
	return at.UTC()
}

// relayOf reports whether a command's result is a row of control_relay already.
func (s *store) relayOf(ctx context.Context, meterID, commandID string) (bool, error) {
	var n uint64
	if err := s.conn.QueryRow(ctx, `SELECT count() FROM `+s.private+`.control_relay WHERE meter_id = ? AND command_id = ? AND source = 'command'`,
		meterID, commandID).Scan(&n); err != nil {
		return false, fmt.Errorf("control: read relay state: %w", err)
	}
	return n > 0, nil
}
