package job

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/vee"
)

// The relay history comes from control_relay in the private database, which the control
// component writes from the DAS's results and on-site events (migration 0050).

// relaySQL returns the statement that reads the relay history of a list of meters over
// [lo, hi): every row with at in the range and, per meter, the rows of its latest change
// before lo, the state the range starts in. Parameters: meters, hi, lo, meters, lo. Rows
// of one second order by at_ns (nanoseconds, migration 0057; 0 in older rows, which then
// order by at alone).
func relaySQL(private string) string {
	return `SELECT meter_id, at, at_ns, state, source, command_id
FROM ` + private + `.control_relay FINAL
WHERE meter_id IN (SELECT arrayJoin(?)) AND at < ?
    AND (at >= ? OR (meter_id, at) IN (
        SELECT meter_id, max(at)
        FROM ` + private + `.control_relay FINAL
        WHERE meter_id IN (SELECT arrayJoin(?)) AND at < ?
        GROUP BY meter_id))
ORDER BY meter_id, at, at_ns, source, command_id`
}

// relayRecordedSQL returns the statement that finds, per meter, the earliest change among
// the relay rows recorded in (?, ?]: the incremental run recomputes the meter from there.
func relayRecordedSQL(private string) string {
	return `SELECT meter_id, min(at)
FROM ` + private + `.control_relay
WHERE recorded_at > ? AND recorded_at <= ?
GROUP BY meter_id
ORDER BY meter_id`
}

// privateDB returns the private database's name: the configured one, or else the private
// companion of the connection's current database, asked once.
func (j *Job) privateDB(ctx context.Context) (string, error) {
	if j.private != "" {
		return j.private, nil
	}
	var db string
	if err := j.conn.QueryRow(ctx, "SELECT currentDatabase()").Scan(&db); err != nil {
		return "", fmt.Errorf("find the private database: %w", err)
	}
	j.private = schema.Config{Database: db}.PrivateDatabase()
	return j.private, nil
}

// loadRelay appends to rc the relay history of ids over [lo, hi), with the change in force
// at lo. A row with an unknown state is logged and left out: one bad row does not stop
// the job.
func (j *Job) loadRelay(ctx context.Context, rc map[string][]vee.RelayChange, ids []string, lo, hi time.Time) error {
	private, err := j.privateDB(ctx)
	if err != nil {
		return err
	}
	lo, hi = clampTime(lo), clampTime(hi)
	rows, err := j.conn.Query(ctx, relaySQL(private), ids, hi, lo, ids, lo)
	if err != nil {
		return fmt.Errorf("load relay history: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m, state string
		var c vee.RelayChange
		var ns int64
		if err := rows.Scan(&m, &c.At, &ns, &state, &c.Source, &c.CommandID); err != nil {
			return fmt.Errorf("load relay history: %w", err)
		}
		if c.State, err = vee.ParseRelayState(state); err != nil {
			j.log.Warn("relay row with an unknown state left out", "meter", m, "at", c.At.UTC(), "state", state, "err", err)
			continue
		}
		if ns != 0 {
			// The instant the DAS observed the state, so that two changes within a second
			// keep their order.
			c.At = time.Unix(0, ns)
		}
		c.At = c.At.UTC()
		rc[m] = append(rc[m], c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load relay history: %w", err)
	}
	return nil
}

// relaySpans returns, per meter with relay rows recorded in (from, to], the span from its
// earliest such change (or late, the lateness bound, when that is later: closed periods
// stay as they are) to to: a state holds until the next change, so everything after it
// may change.
func (j *Job) relaySpans(ctx context.Context, from, to, late time.Time) ([]span, error) {
	private, err := j.privateDB(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := j.conn.Query(ctx, relayRecordedSQL(private), from, to)
	if err != nil {
		return nil, fmt.Errorf("find new relay rows: %w", err)
	}
	defer rows.Close()
	var out []span
	for rows.Next() {
		var s span
		if err := rows.Scan(&s.meter, &s.lo); err != nil {
			return nil, fmt.Errorf("find new relay rows: %w", err)
		}
		s.lo = maxTime(s.lo.UTC(), late)
		s.hi = maxTime(s.lo, to)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find new relay rows: %w", err)
	}
	return out, nil
}

// plainName reports whether name is a plain ClickHouse identifier, safe in SQL text.
func plainName(name string) bool {
	return name != "" && !strings.ContainsFunc(name, func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) && !(name[0] >= '0' && name[0] <= '9')
}
