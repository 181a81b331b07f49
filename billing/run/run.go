// Package run is the billing run: for a billing cycle's period it takes every service
// agreement in force (package registry), the validated 15-minute consumption of its
// meters (a meter exchange inside the period bills both meters, each over its days), the
// tariff versions in force (billing/tariff) and the region's calendar, computes the bill
// (billing/calc) and issues it through billing/invoice: a bill the first time, nothing on
// a re-run over unchanged data, one adjustment after corrected data. An agreement that
// cannot be billed yet (a quarter hour of the period not validated, no tariff in force) is
// held with its reason, never billed on partial data.
//
// Agreements are billed first through the fast path (fast.go: the month's daily profiles
// summed inside ClickHouse); what it cannot bill goes to the full recomputation from
// 15-minute rows (about 2 900 rows per meter and month), which also decides the holds.
package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"golang.org/x/sync/errgroup"

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
	// chunk is chunkAgreements; tests lower it. afterChunk, when set, is called after each
	// chunk's invoices are written (tests stop a run there, as a crash would).
	chunk, fastChunk int
	afterChunk       func()
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
	return &Runner{chunk: chunkAgreements, fastChunk: fastChunkAgreements, cfg: cfg, conn: conn, registry: reg, tariffs: tariffs, calendars: calendars, invoices: inv, log: log, now: time.Now}, nil
}

// Invoices returns the runner's invoice store.
func (r *Runner) Invoices() *invoice.Store { return r.invoices }

// Period is a billing cycle's period: the local dates [From, To) of the agreements whose
// cycle day is CycleDay, or, when Calendar is set, of those that follow that cycle
// calendar (CycleDay is then 0).
type Period struct {
	From, To time.Time
	CycleDay int
	Calendar string
}

// due reports whether an agreement whose first span in the period is v bills in p.
func (p Period) due(v registry.AgreementVersion) bool {
	if p.Calendar != "" {
		return v.CycleCalendar == p.Calendar
	}
	return v.CycleCalendar == "" && v.CycleDay == p.CycleDay
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
	// Fast counts the agreements decided through the fast path (billed, adjusted or
	// unchanged); the others were recomputed from 15-minute rows.
	Fast int
	// Issued are the first keptIssued invoices this run wrote (every one in a small run;
	// the invoice store has them all), so that a run's memory does not grow with the fleet.
	Issued []invoice.Invoice
}

// keptIssued bounds Result.Issued.
const keptIssued = 1000

// chunkAgreements is how many agreements a run reads and bills together: one query for
// their meters' 15-minute rows, one for their regions and one for their invoices.
const chunkAgreements = 500

// Run bills the period's agreements of its cycle day or cycle calendar. Memory: the
// agreements in force, at most four fast-path chunks (fastChunkAgreements agreements' totals and bills each), one
// full-path chunk's 15-minute rows (chunkAgreements meters × about 3 000 rows × 64 bytes,
// about 100 MB, plus history rows for ratchets and annual tiers) and the tariff versions
// used. A run of a million agreements through the fast path peaked at 1.3 GiB (bench
// billing).
func (r *Runner) Run(ctx context.Context, p Period) (*Result, error) {
	terms, err := r.registry.AgreementsInForce(ctx, p.From, p.To)
	if err != nil {
		return nil, err
	}
	res := &Result{Period: p}
	sort.Slice(terms, func(a, b int) bool { return terms[a].AgreementID < terms[b].AgreementID })
	var due []registry.Term
	for _, t := range terms {
		if len(t.Spans) > 0 && p.due(t.Spans[0].Version) {
			due = append(due, t)
		}
	}
	st := &runState{tariffs: map[string]tariffVersions{}, dayTypes: map[string]calc.DayTypeFunc{}}
	if err := r.prepare(ctx, p, due, st); err != nil {
		return nil, err
	}
	if st.held, err = r.openHolds(ctx, p); err != nil {
		return nil, err
	}
	if !r.cfg.FullRecompute {
		if due, err = r.runFastAll(ctx, p, due, st, res); err != nil {
			return nil, err
		}
		sort.Slice(due, func(a, b int) bool { return due[a].AgreementID < due[b].AgreementID })
	}
	for len(due) > 0 {
		n := min(r.chunk, len(due))
		if err := r.runChunk(ctx, p, due[:n], st, res); err != nil {
			return nil, err
		}
		if r.afterChunk != nil {
			r.afterChunk()
		}
		due = due[n:]
	}
	return res, nil
}

// tariffVersions are a tariff's versions in force over the period, or why there are none.
type tariffVersions struct {
	docs   []*tariff.Document
	reason string
}

// runState is what a run reads once: the tariff versions by id and the day types by
// region.
type runState struct {
	tariffs  map[string]tariffVersions
	dayTypes map[string]calc.DayTypeFunc
	// held are the agreements with an open hold for the period when the run started.
	held map[string]bool
}

// prepare reads once what the run's agreements share: the tariff versions in force and the
// calendars of every region (the day types), so that bills are computed in parallel over a
// read-only state.
func (r *Runner) prepare(ctx context.Context, p Period, terms []registry.Term, st *runState) error {
	for _, t := range terms {
		for _, s := range t.Spans {
			id := s.Version.Tariff
			if _, ok := st.tariffs[id]; !ok {
				docs, reason, err := r.versions(ctx, id, p.From, p.To)
				if err != nil {
					return err
				}
				st.tariffs[id] = tariffVersions{docs, reason}
			}
		}
	}
	regions, err := r.allRegions(ctx)
	if err != nil {
		return err
	}
	for _, region := range regions {
		if region == "" || st.dayTypes[region] != nil {
			continue
		}
		days, err := r.calendars.Days(ctx, region, p.From, p.To)
		if err != nil {
			return err
		}
		st.dayTypes[region] = calc.CalendarDayTypes(days)
	}
	return nil
}

// allRegions returns the regions of the registry's current view.
func (r *Runner) allRegions(ctx context.Context) ([]string, error) {
	rows, err := r.conn.Query(ctx, `SELECT DISTINCT region FROM meters FINAL`)
	if err != nil {
		return nil, fmt.Errorf("read regions: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var region string
		if err := rows.Scan(&region); err != nil {
			return nil, fmt.Errorf("read regions: %w", err)
		}
		out = append(out, region)
	}
	return out, rows.Err()
}

// runChunk bills a chunk of agreements from their 15-minute rows.
func (r *Runner) runChunk(ctx context.Context, p Period, terms []registry.Term, st *runState, res *Result) error {
	months := 0
	var meters []string
	for _, t := range terms {
		for _, s := range t.Spans {
			months = max(months, historyMonths(st.tariffs[s.Version.Tariff].docs))
		}
		for _, s := range t.Spans {
			meters = append(meters, s.Version.MeterID)
		}
	}
	// A day either side covers every tariff zone's local days.
	rows, err := r.quarterHours(ctx, meters, p.From.AddDate(0, -months, -1), p.To.AddDate(0, 0, 1))
	if err != nil {
		return err
	}
	regions, err := r.regions(ctx, meters)
	if err != nil {
		return err
	}
	issued, err := r.issued(ctx, terms, p)
	if err != nil {
		return err
	}
	outs := make([]outcome, len(terms))
	var g errgroup.Group
	g.SetLimit(runtime.NumCPU())
	for i, t := range terms {
		g.Go(func() error {
			outs[i].in, outs[i].reason, outs[i].err = r.billOne(p, t, st, rows, regions, issued[t.AgreementID])
			return nil
		})
	}
	_ = g.Wait()
	return r.settle(ctx, p, st.held, terms, outs, res)
}

// outcome is what billing one agreement decided: an invoice to issue, nothing (unchanged),
// a reason to hold it, or an error (a fault.FieldError holds it too).
type outcome struct {
	in     *invoice.Invoice
	reason string
	err    error
}

// settle counts the outcomes of terms into res and writes their invoices.
// Holds are stored (billing_holds), and the holds of agreements decided now released.
func (r *Runner) settle(ctx context.Context, p Period, held map[string]bool, terms []registry.Term, outs []outcome, res *Result) error {
	var out []invoice.Invoice
	var holds []Hold
	var released []string
	for i, t := range terms {
		in, reason, err := outs[i].in, outs[i].reason, outs[i].err
		switch {
		case err != nil:
			var fe *fault.FieldError
			if !errors.As(err, &fe) {
				return fmt.Errorf("agreement %s: %w", t.AgreementID, err)
			}
			reason = err.Error()
			fallthrough
		case reason != "":
			res.Held = append(res.Held, Hold{t.AgreementID, reason})
			holds = append(holds, Hold{t.AgreementID, reason})
			r.log.Warn("billing: agreement held", "agreement", t.AgreementID, "reason", reason)
			continue
		case in == nil:
			res.Unchanged++
		default:
			out = append(out, *in)
			if in.Kind == invoice.KindBill {
				res.Bills++
			} else {
				res.Adjustments++
			}
			if len(res.Issued) < keptIssued {
				res.Issued = append(res.Issued, *in)
			}
		}
		if held[t.AgreementID] {
			released = append(released, t.AgreementID)
		}
	}
	if err := r.invoices.Write(ctx, out); err != nil {
		return err
	}
	return r.writeHolds(ctx, p, holds, released)
}

// billOne computes one agreement's bill from the chunk's rows and decides what to issue.
// It only reads st, rows, regions and issued, so bills of a chunk are computed in parallel.
// An agreement that changes tariff inside the period is billed in segments, each of one
// tariff over its days as a part of the whole period (fixed charges and monthly
// thresholds prorated by days), on one invoice.
func (r *Runner) billOne(p Period, t registry.Term, st *runState, rows map[string][]calc.Interval, regions map[string]string,
	issued []invoice.Invoice) (*invoice.Invoice, string, error) {
	var parts []billed
	for _, seg := range segments(t.Spans) {
		tv := st.tariffs[seg[0].Version.Tariff]
		if tv.reason != "" {
			return nil, tv.reason, nil
		}
		docs := tv.docs
		from, to := seg[0].From, seg[len(seg)-1].To
		loc, err := docs[0].Location()
		if err != nil {
			return nil, "", err
		}
		var intervals []calc.Interval
		region := ""
		months := historyMonths(docs)
		for i, s := range seg {
			start, end := localStart(s.From, loc), localStart(s.To, loc)
			all := rows[s.Version.MeterID]
			if i == 0 && months > 0 {
				// History for ratchets and annual tiers: the first meter's earlier rows, as
				// far as they go (not checked for completeness: only the period is billed).
				intervals = append(intervals, within(all, localStart(s.From.AddDate(0, -months, 0), loc), start)...)
			}
			got := within(all, start, end)
			if missing := int(end.Sub(start)/(15*time.Minute)) - len(got); missing > 0 {
				return nil, fmt.Sprintf("meter %s: %d quarter hours of %s … %s not validated yet", s.Version.MeterID, missing,
					s.From.Format(time.DateOnly), s.To.AddDate(0, 0, -1).Format(time.DateOnly)), nil
			}
			intervals = append(intervals, got...)
			region = regions[s.Version.MeterID]
		}
		dayType := calc.Weekdays
		if f := st.dayTypes[region]; f != nil {
			dayType = f // the region's calendar over the run's dates
		}
		in := calc.Input{Tariffs: docs, From: tariff.DateOf(from, time.UTC), To: tariff.DateOf(to, time.UTC), DayType: dayType, Intervals: intervals}
		if !from.Equal(p.From) || !to.Equal(p.To) {
			in.CycleDays = int(p.To.Sub(p.From).Hours() / 24) // a partial period: move-in, move-out, a tariff change
		}
		b, err := calc.Compute(in)
		if err != nil {
			return nil, "", err
		}
		parts = append(parts, billed{tariffID: seg[0].Version.Tariff, version: docs[len(docs)-1].Version, bill: b})
	}
	inv, err := r.issue(t, parts, issued)
	return inv, "", err
}

// segments cuts an agreement's spans into runs of one tariff.
func segments(spans []registry.Span) [][]registry.Span {
	var out [][]registry.Span
	for i, s := range spans {
		if i > 0 && s.Version.Tariff == spans[i-1].Version.Tariff {
			out[len(out)-1] = append(out[len(out)-1], s)
			continue
		}
		out = append(out, []registry.Span{s})
	}
	return out
}

// billed is the computed bill of one tariff's segment of an agreement's period.
type billed struct {
	tariffID, version string
	bill              *calc.Bill
}

// issue puts the segments' bills of agreement t on one bill and decides against the
// invoices already issued for its period what to issue. With several segments, each
// line's name says its tariff.
func (r *Runner) issue(t registry.Term, parts []billed, issued []invoice.Invoice) (*invoice.Invoice, error) {
	first := t.Spans[0].Version
	from, to := t.Spans[0].From, t.Spans[len(t.Spans)-1].To
	bill := invoice.Bill{AgreementID: t.AgreementID, AccountID: first.AccountID, From: from, To: to, Currency: parts[0].bill.Currency}
	var ids, versions []string
	for _, pt := range parts {
		b := pt.bill
		if b.Currency != bill.Currency {
			return nil, fault.Invalid("tariff", "tariffs %s and %s bill in %s and %s: one invoice has one currency", parts[0].tariffID, pt.tariffID, bill.Currency, b.Currency)
		}
		ids, versions = append(ids, pt.tariffID), append(versions, pt.version)
		bill.Total = bill.Total.Add(b.Total)
		bill.EstimatedWh += b.EstimatedWh
		bill.EstimatedIntervals += b.EstimatedIntervals
		for _, l := range b.Lines {
			name := l.Name
			if len(parts) > 1 {
				name += " (tariff " + pt.tariffID + ")"
			}
			bill.Lines = append(bill.Lines, invoice.Line{Name: name, Quantity: l.Quantity, Unit: l.Unit, Rate: l.Rate, Amount: l.Amount})
		}
	}
	bill.TariffID, bill.TariffVersion = strings.Join(ids, "+"), strings.Join(versions, "+")
	var same []invoice.Invoice
	for _, in := range issued {
		if in.From.Equal(from) && in.To.Equal(to) {
			same = append(same, in)
		}
	}
	return invoice.Decide(bill, same, r.now())
}

// localStart is the instant local date d (a UTC midnight) starts in loc.
func localStart(d time.Time, loc *time.Location) time.Time {
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
}

// within returns the intervals (sorted by start) that start in [from, to).
func within(iv []calc.Interval, from, to time.Time) []calc.Interval {
	lo := sort.Search(len(iv), func(i int) bool { return !iv[i].Start.Before(from) })
	hi := sort.Search(len(iv), func(i int) bool { return !iv[i].Start.Before(to) })
	return iv[lo:hi]
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

// versions returns the tariff's versions in force on some day of the period (a version
// change inside it makes two parts of the bill, each priced by its version), or the reason
// there is none.
func (r *Runner) versions(ctx context.Context, id string, from, to time.Time) ([]*tariff.Document, string, error) {
	docs, err := r.tariffs.Within(ctx, id, tariff.DateOf(from, time.UTC), tariff.DateOf(to, time.UTC))
	if errors.Is(err, fault.ErrNotFound) || (err == nil && len(docs) == 0) {
		return nil, fmt.Sprintf("no version of tariff %q is in force from %s to %s", id, from.Format(time.DateOnly), to.AddDate(0, 0, -1).Format(time.DateOnly)), nil
	}
	if err != nil {
		return nil, "", err
	}
	return docs, "", nil
}

// quarterHours reads the validated 15-minute rows of the meters over the instants
// [from, to), by meter, sorted by start.
func (r *Runner) quarterHours(ctx context.Context, meters []string, from, to time.Time) (map[string][]calc.Interval, error) {
	rows, err := r.conn.Query(ctx, `SELECT meter_id, start, wh, estimated + edited > 0 FROM consumption FINAL
WHERE resolution = '15m' AND meter_id IN (SELECT arrayJoin(?)) AND start >= ? AND start < ? ORDER BY meter_id, start`,
		meters, from.UTC(), to.UTC())
	if err != nil {
		return nil, fmt.Errorf("read consumption: %w", err)
	}
	defer rows.Close()
	out := map[string][]calc.Interval{}
	var id string
	var s time.Time
	var wh int64
	var est uint8
	for rows.Next() {
		if err := rows.Scan(&id, &s, &wh, &est); err != nil {
			return nil, fmt.Errorf("read consumption: %w", err)
		}
		out[id] = append(out[id], calc.Interval{Start: s, End: s.Add(15 * time.Minute), Wh: wh, Estimated: est != 0})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read consumption: %w", err)
	}
	return out, nil
}

// regions returns the meters' regions in the registry's current view (a meter without one
// has weekdays and weekends only).
func (r *Runner) regions(ctx context.Context, meters []string) (map[string]string, error) {
	rows, err := r.conn.Query(ctx, `SELECT meter_id, region FROM meters FINAL WHERE meter_id IN (SELECT arrayJoin(?))`, meters)
	if err != nil {
		return nil, fmt.Errorf("read regions: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, region string
		if err := rows.Scan(&id, &region); err != nil {
			return nil, fmt.Errorf("read regions: %w", err)
		}
		out[id] = region
	}
	return out, rows.Err()
}

// issued returns the invoices already issued for the agreements' periods within p, by
// agreement.
func (r *Runner) issued(ctx context.Context, terms []registry.Term, p Period) (map[string][]invoice.Invoice, error) {
	ids := make([]string, len(terms))
	for i, t := range terms {
		ids[i] = t.AgreementID
	}
	ins, err := r.invoices.Within(ctx, ids, p.From, p.To)
	if err != nil {
		return nil, err
	}
	out := map[string][]invoice.Invoice{}
	for _, in := range ins {
		out[in.AgreementID] = append(out[in.AgreementID], in)
	}
	return out, nil
}
