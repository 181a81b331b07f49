package run

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
)

var calendarName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// CheckCycles validates a cycle calendar's periods: each [From, To) of at least one day
// and at most 62, in order, each starting where the previous ends.
func CheckCycles(name string, ps []Period) error {
	if !calendarName.MatchString(name) {
		return fault.Invalid("calendar", "%q: want 1 to 64 letters, digits, '.', '_' or '-'", name)
	}
	if len(ps) == 0 {
		return fault.Invalid("periods", "no periods")
	}
	for i, p := range ps {
		f := fmt.Sprintf("periods[%d]", i)
		days := int(p.To.Sub(p.From).Hours() / 24)
		switch {
		case days < 1 || days > 62:
			return fault.Invalid(f, "%s … %s: a period lasts 1 to 62 days", p.From.Format(time.DateOnly), p.To.Format(time.DateOnly))
		case i > 0 && !p.From.Equal(ps[i-1].To):
			return fault.Invalid(f, "starts %s, the period before ends %s: periods follow each other without gap or overlap",
				p.From.Format(time.DateOnly), ps[i-1].To.Format(time.DateOnly))
		}
	}
	return nil
}

// LoadCycles stores cycle calendar name's periods (CheckCycles), replacing those that start
// on the same dates and withdrawing the stored ones inside the new range that start on
// other dates.
func (r *Runner) LoadCycles(ctx context.Context, name string, ps []Period) error {
	if err := CheckCycles(name, ps); err != nil {
		return err
	}
	old, err := r.Cycles(ctx, name)
	if err != nil {
		return err
	}
	starts := map[time.Time]bool{}
	for _, p := range ps {
		starts[p.From] = true
	}
	bctx, sent := schema.BatchContext(ctx)
	defer sent()
	b, err := r.conn.PrepareBatch(bctx, `INSERT INTO billing_cycles (calendar, period_from, period_to, recorded_at)`)
	if err != nil {
		return fmt.Errorf("write cycle calendar: %w", err)
	}
	defer b.Abort() //nolint:errcheck // a no-op once sent
	at := r.now().UTC().Truncate(time.Second)
	for _, p := range ps {
		if err := b.Append(name, p.From, p.To, at); err != nil {
			return fmt.Errorf("write cycle calendar: %w", err)
		}
	}
	first, last := ps[0].From, ps[len(ps)-1].To
	for _, p := range old {
		if !starts[p.From] && !p.From.Before(first) && p.From.Before(last) {
			if err := b.Append(name, p.From, p.From, at); err != nil {
				return fmt.Errorf("write cycle calendar: %w", err)
			}
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("write cycle calendar: %w", err)
	}
	return nil
}

// Cycles returns cycle calendar name's periods in date order (none for an unknown name).
func (r *Runner) Cycles(ctx context.Context, name string) ([]Period, error) {
	rows, err := r.conn.Query(ctx, `SELECT period_from, period_to FROM billing_cycles FINAL
WHERE calendar = ? AND period_to > period_from ORDER BY period_from`, name)
	if err != nil {
		return nil, fmt.Errorf("read cycle calendar: %w", err)
	}
	defer rows.Close()
	var out []Period
	for rows.Next() {
		var p Period
		if err := rows.Scan(&p.From, &p.To); err != nil {
			return nil, fmt.Errorf("read cycle calendar: %w", err)
		}
		p.From, p.To, p.Calendar = p.From.UTC(), p.To.UTC(), name
		out = append(out, p)
	}
	return out, rows.Err()
}

// CalendarPeriod returns the period of cycle calendar name that starts in month (YYYY-MM).
func (r *Runner) CalendarPeriod(ctx context.Context, name, month string) (Period, error) {
	m, err := time.Parse("2006-01", month)
	if err != nil {
		return Period{}, fault.Invalid("period", "%q is not a month like 2026-11", month)
	}
	ps, err := r.Cycles(ctx, name)
	if err != nil {
		return Period{}, err
	}
	for _, p := range ps {
		if p.From.Year() == m.Year() && p.From.Month() == m.Month() {
			return p, nil
		}
	}
	return Period{}, fmt.Errorf("%w: cycle calendar %q has no period starting in %s", fault.ErrNotFound, name, month)
}

// dueCalendarPeriods returns the periods of every cycle calendar that ended on one of the
// rerunDays days before today (a run on date d bills the periods ending the day before,
// as cycle days do).
func (r *Runner) dueCalendarPeriods(ctx context.Context, today time.Time, rerunDays int) ([]Period, error) {
	d := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
	rows, err := r.conn.Query(ctx, `SELECT calendar, period_from, period_to FROM billing_cycles FINAL
WHERE period_to > period_from AND period_to > toDate(?) AND period_to <= toDate(?) ORDER BY calendar, period_from`,
		d.AddDate(0, 0, -rerunDays).Format(time.DateOnly), d.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("read cycle calendars: %w", err)
	}
	defer rows.Close()
	var out []Period
	for rows.Next() {
		var p Period
		if err := rows.Scan(&p.Calendar, &p.From, &p.To); err != nil {
			return nil, fmt.Errorf("read cycle calendars: %w", err)
		}
		p.From, p.To = p.From.UTC(), p.To.UTC()
		out = append(out, p)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].To.Before(out[b].To) })
	return out, rows.Err()
}
