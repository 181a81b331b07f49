package run

import (
	"context"
	"fmt"
	"time"

	"github.com/meterhouse/meterhouse/schema"
)

// openHolds returns the agreements with an unreleased hold for period p.
func (r *Runner) openHolds(ctx context.Context, p Period) (map[string]bool, error) {
	rows, err := r.conn.Query(ctx, `SELECT agreement_id FROM billing_holds FINAL
WHERE period_from = toDate(?) AND period_to = toDate(?) AND reason != ''`, p.From.Format(time.DateOnly), p.To.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("read billing holds: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read billing holds: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}

// writeHolds stores the holds of period p and releases (an empty reason) those of the
// agreements billed since.
func (r *Runner) writeHolds(ctx context.Context, p Period, holds []Hold, released []string) error {
	if len(holds)+len(released) == 0 {
		return nil
	}
	bctx, sent := schema.BatchContext(ctx)
	defer sent()
	b, err := r.conn.PrepareBatch(bctx, `INSERT INTO billing_holds (period_from, period_to, agreement_id, cycle_day, reason, recorded_at)`)
	if err != nil {
		return fmt.Errorf("write billing holds: %w", err)
	}
	defer b.Abort() //nolint:errcheck // a no-op once sent
	at := r.now().UTC().Truncate(time.Second)
	for _, h := range holds {
		if err := b.Append(p.From, p.To, h.AgreementID, uint8(p.CycleDay), h.Reason, at); err != nil {
			return fmt.Errorf("write billing holds: %w", err)
		}
	}
	for _, id := range released {
		if err := b.Append(p.From, p.To, id, uint8(p.CycleDay), "", at); err != nil {
			return fmt.Errorf("write billing holds: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("write billing holds: %w", err)
	}
	return nil
}

// HeldAgreement is an agreement's open hold for a period.
type HeldAgreement struct {
	// AgreementID is the agreement held.
	AgreementID string
	// From and To are the period [From, To); CycleDay its cycle day.
	From, To time.Time
	CycleDay int
	// Reason says why it is not billed.
	Reason string
	// Since is when the latest run held it.
	Since time.Time
}

// Holds returns the open holds of the periods starting in [from, to), by period and
// agreement. At most limit rows are returned (0: no bound); more reports truncated.
func (r *Runner) Holds(ctx context.Context, from, to time.Time, limit int) (out []HeldAgreement, truncated bool, err error) {
	q := `SELECT agreement_id, period_from, period_to, cycle_day, reason, recorded_at FROM billing_holds FINAL
WHERE period_from >= toDate(?) AND period_from < toDate(?) AND reason != '' ORDER BY period_from, agreement_id`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit+1)
	}
	rows, err := r.conn.Query(ctx, q, from.Format(time.DateOnly), to.Format(time.DateOnly))
	if err != nil {
		return nil, false, fmt.Errorf("read billing holds: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h HeldAgreement
		var cycle uint8
		if err := rows.Scan(&h.AgreementID, &h.From, &h.To, &cycle, &h.Reason, &h.Since); err != nil {
			return nil, false, fmt.Errorf("read billing holds: %w", err)
		}
		h.CycleDay, h.Since = int(cycle), h.Since.UTC()
		out = append(out, h)
	}
	if limit > 0 && len(out) > limit {
		return out[:limit], true, rows.Err()
	}
	return out, false, rows.Err()
}
