// Package run is the billing run: for a billing cycle's period it takes every service
// agreement in force (package registry), the validated 15-minute consumption of its
// meters (a meter exchange inside the period bills both meters, each over its days), the
// tariff versions in force (billing/tariff) and the region's calendar, computes the bill
// (billing/calc) and issues it through billing/invoice: a bill the first time, nothing on
// a re-run over unchanged data, one adjustment after corrected data. An agreement that
// cannot be billed yet (a quarter hour of the period not validated, no tariff in force) is
// held with its reason, never billed on partial data.
//
// This is the full recomputation from 15-minute rows: about 2 900 rows per meter and
// month. The fast path from daily determinants for a million bills is not built yet.
package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/billing/calc"
	"github.com/meterhouse/meterhouse/billing/invoice"
	"github.com/meterhouse/meterhouse/billing/tariff"
	"github.com/meterhouse/meterhouse/calendar/holidays"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/registry"
)

// Runner runs billing periods. Two runs of the same period must not overlap: each decides
// from the invoices already stored.
type Runner struct {
	cfg       Config
	conn      driver.Conn
	registry  *registry.Store
	tariffs   *tariff.Store
	calendars *holidays.Store
	invoices  *invoice.Store
	log       *slog.Logger
	now       func() time.Time
}

// New returns a runner over the stores; it rejects an invalid configuration.
func New(cfg Config, conn driver.Conn, reg *registry.Store, tariffs *tariff.Store, calendars *holidays.Store, log *slog.Logger) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if conn == nil || reg == nil || tariffs == nil || calendars == nil || log == nil {
		return nil, errors.New("billing run: New needs a connection, the registry, tariff and calendar stores and a logger")
	}
	inv, err := invoice.NewStore(conn)
	if err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg, conn: conn, registry: reg, tariffs: tariffs, calendars: calendars, invoices: inv, log: log, now: time.Now}, nil
}

// Invoices returns the runner's invoice store.
func (r *Runner) Invoices() *invoice.Store { return r.invoices }

// Period is a billing cycle's period: the local dates [From, To) of the agreements whose
// cycle day is CycleDay.
type Period struct {
	From, To time.Time
	CycleDay int
}

// CyclePeriod returns the period of cycle day d that starts in month (YYYY-MM): from day d
// of that month to day d of the next.
func CyclePeriod(month string, d int) (Period, error) {
	m, err := time.Parse("2006-01", month)
	if err != nil {
		return Period{}, fault.Invalid("period", "%q is not a month like 2026-11", month)
	}
	if d < 1 || d > 28 {
		return Period{}, fault.Invalid("cycle", "cycle day %d: want 1 … 28", d)
	}
	from := time.Date(m.Year(), m.Month(), d, 0, 0, 0, 0, time.UTC)
	return Period{From: from, To: from.AddDate(0, 1, 0), CycleDay: d}, nil
}

// Hold is an agreement not billed, with the reason.
type Hold struct {
	AgreementID, Reason string
}

// Result counts what a run did.
type Result struct {
	Period      Period
	Bills       int
	Adjustments int
	Unchanged   int
	Held        []Hold
	// Issued are the invoices written by this run.
	Issued []invoice.Invoice
}

// Run bills the period's agreements of its cycle day.
func (r *Runner) Run(ctx context.Context, p Period) (*Result, error) {
	terms, err := r.registry.AgreementsInForce(ctx, p.From, p.To)
	if err != nil {
		return nil, err
	}
	res := &Result{Period: p}
	sort.Slice(terms, func(a, b int) bool { return terms[a].AgreementID < terms[b].AgreementID })
	for _, t := range terms {
		if len(t.Spans) == 0 || t.Spans[0].Version.CycleDay != p.CycleDay {
			continue
		}
		in, reason, err := r.billOne(ctx, p, t)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, err
		case err != nil:
			var fe *fault.FieldError
			if !errors.As(err, &fe) && !errors.Is(err, errHold) {
				return nil, fmt.Errorf("agreement %s: %w", t.AgreementID, err)
			}
			reason = err.Error()
			fallthrough
		case reason != "":
			res.Held = append(res.Held, Hold{t.AgreementID, reason})
			r.log.Warn("billing: agreement held", "agreement", t.AgreementID, "reason", reason)
		case in == nil:
			res.Unchanged++
		default:
			if err := r.invoices.Write(ctx, []invoice.Invoice{*in}); err != nil {
				return nil, err
			}
			if in.Kind == invoice.KindBill {
				res.Bills++
			} else {
				res.Adjustments++
			}
			res.Issued = append(res.Issued, *in)
		}
	}
	return res, nil
}

// errHold marks a reason to hold an agreement rather than fail the run.
var errHold = errors.New("held")

// billOne computes one agreement's bill and decides what to issue.
func (r *Runner) billOne(ctx context.Context, p Period, t registry.Term) (*invoice.Invoice, string, error) {
	first := t.Spans[0].Version
	tariffID := first.Tariff
	for _, s := range t.Spans {
		if s.Version.Tariff != tariffID {
			return nil, fmt.Sprintf("the agreement changes tariff inside the period (%s to %s): not supported yet", tariffID, s.Version.Tariff), nil
		}
	}
	from, to := t.Spans[0].From, t.Spans[len(t.Spans)-1].To
	docs, reason, err := r.versions(ctx, tariffID, from, to)
	if err != nil || reason != "" {
		return nil, reason, err
	}
	loc, err := docs[0].Location()
	if err != nil {
		return nil, "", err
	}
	var intervals []calc.Interval
	region := ""
	months := historyMonths(docs)
	for i, s := range t.Spans {
		if i == 0 && months > 0 {
			// History for ratchets and annual tiers: the first meter's earlier rows, as far
			// as they go (not checked for completeness: only the period is billed).
			hist, _, _, err := r.intervals(ctx, s.Version.MeterID, s.From.AddDate(0, -months, 0), s.From, loc)
			if err != nil {
				return nil, "", err
			}
			intervals = append(intervals, hist...)
		}
		got, missing, reg, err := r.intervals(ctx, s.Version.MeterID, s.From, s.To, loc)
		if err != nil {
			return nil, "", err
		}
		if missing > 0 {
			return nil, fmt.Sprintf("meter %s: %d quarter hours of %s … %s not validated yet", s.Version.MeterID, missing,
				s.From.Format(time.DateOnly), s.To.AddDate(0, 0, -1).Format(time.DateOnly)), nil
		}
		intervals = append(intervals, got...)
		region = reg
	}
	dayType := calc.Weekdays
	if region != "" {
		days, err := r.calendars.Days(ctx, region, from, to)
		if err != nil {
			return nil, "", err
		}
		dayType = calc.CalendarDayTypes(days)
	}
	in := calc.Input{Tariffs: docs, From: tariff.DateOf(from, time.UTC), To: tariff.DateOf(to, time.UTC), DayType: dayType, Intervals: intervals}
	if !from.Equal(p.From) || !to.Equal(p.To) {
		in.CycleDays = int(p.To.Sub(p.From).Hours() / 24) // move-in or move-out: a partial period
	}
	b, err := calc.Compute(in)
	if err != nil {
		return nil, "", err
	}
	bill := invoice.Bill{AgreementID: t.AgreementID, AccountID: first.AccountID, From: from, To: to,
		TariffID: tariffID, TariffVersion: docs[len(docs)-1].Version, Currency: b.Currency, Total: b.Total,
		EstimatedWh: b.EstimatedWh, EstimatedIntervals: b.EstimatedIntervals}
	for _, l := range b.Lines {
		bill.Lines = append(bill.Lines, invoice.Line{Name: l.Name, Quantity: l.Quantity, Unit: l.Unit, Rate: l.Rate, Amount: l.Amount})
	}
	issued, err := r.invoices.Period(ctx, t.AgreementID, from, to)
	if err != nil {
		return nil, "", err
	}
	inv, err := invoice.Decide(bill, issued, r.now())
	return inv, "", err
}

// historyMonths is how many months before the period the tariff versions read: the longest
// ratchet, or twelve for annual tiers (their year's earlier months count).
func historyMonths(docs []*tariff.Document) int {
	n := 0
	for _, d := range docs {
		if d.Energy != nil && d.Energy.TierBasis == tariff.BasisAnnual {
			n = max(n, 12)
		}
		if d.Demand != nil && d.Demand.Ratchet != nil {
			n = max(n, d.Demand.Ratchet.Months)
		}
	}
	return n
}

// versions returns the tariff's versions in force on the period's first and last days (a
// version in force only strictly inside the period is missed: one change per period).
func (r *Runner) versions(ctx context.Context, id string, from, to time.Time) ([]*tariff.Document, string, error) {
	var docs []*tariff.Document
	for _, d := range []time.Time{from, to.AddDate(0, 0, -1)} {
		doc, err := r.tariffs.GetOn(ctx, id, tariff.DateOf(d, time.UTC))
		if errors.Is(err, fault.ErrNotFound) {
			return nil, fmt.Sprintf("no version of tariff %q is in force on %s", id, d.Format(time.DateOnly)), nil
		}
		if err != nil {
			return nil, "", err
		}
		if len(docs) == 0 || docs[0].Version != doc.Version || !docs[0].EffectiveFrom.UTC().Equal(doc.EffectiveFrom.UTC()) {
			docs = append(docs, doc)
		}
	}
	return docs, "", nil
}

// intervals reads a meter's validated 15-minute consumption over the local dates [from, to)
// of loc, and counts the quarter hours without a row (not validated yet). It also returns
// the meter's region.
func (r *Runner) intervals(ctx context.Context, meterID string, from, to time.Time, loc *time.Location) ([]calc.Interval, int, string, error) {
	start := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, loc)
	end := time.Date(to.Year(), to.Month(), to.Day(), 0, 0, 0, 0, loc)
	rows, err := r.conn.Query(ctx, `SELECT start, wh, estimated + edited > 0 FROM consumption FINAL
WHERE resolution = '15m' AND meter_id = ? AND start >= ? AND start < ? ORDER BY start`, meterID, start.UTC(), end.UTC())
	if err != nil {
		return nil, 0, "", fmt.Errorf("read consumption of %s: %w", meterID, err)
	}
	defer rows.Close()
	var out []calc.Interval
	for rows.Next() {
		var s time.Time
		var wh int64
		var est uint8
		if err := rows.Scan(&s, &wh, &est); err != nil {
			return nil, 0, "", fmt.Errorf("read consumption of %s: %w", meterID, err)
		}
		out = append(out, calc.Interval{Start: s, End: s.Add(15 * time.Minute), Wh: wh, Estimated: est != 0})
	}
	if err := rows.Err(); err != nil {
		return nil, 0, "", fmt.Errorf("read consumption of %s: %w", meterID, err)
	}
	region, err := r.region(ctx, meterID)
	if err != nil {
		return nil, 0, "", err
	}
	expected := int(end.Sub(start) / (15 * time.Minute))
	return out, expected - len(out), region, nil
}

// region returns the meter's region in the registry's current view, or "" when it has
// none (its days are then plain weekdays and weekends).
func (r *Runner) region(ctx context.Context, meterID string) (string, error) {
	rows, err := r.conn.Query(ctx, `SELECT region FROM meters FINAL WHERE meter_id = ?`, meterID)
	if err != nil {
		return "", fmt.Errorf("read the region of %s: %w", meterID, err)
	}
	defer rows.Close()
	var region string
	if rows.Next() {
		if err := rows.Scan(&region); err != nil {
			return "", fmt.Errorf("read the region of %s: %w", meterID, err)
		}
	}
	return region, rows.Err()
}
