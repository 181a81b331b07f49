package run

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"golang.org/x/sync/errgroup"

	"github.com/meterhouse/meterhouse/billing/calc"
	"github.com/meterhouse/meterhouse/billing/tariff"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/registry"
)

// The fast path bills from consumption_profiles, the daily rows the VEE job keeps (per
// UTC hour of the meter's local day: energy, largest 15-minute row, largest clock-aligned
// 30-minute block, interval and substituted counts), summed inside ClickHouse into each
// agreement's calc.Totals: one result row per agreement and part instead of about 2 900
// 15-minute rows per meter and month. It takes an agreement with one meter over the
// period whose tariff versions aggregate (calc.CanAggregate) and whose meter's days are
// complete, computed since migration 0045 (substituted arrays present) and in the
// tariff's time zone; everything else goes to the full recomputation from 15-minute
// rows, which bills or holds it with the reason. Both give the same bill
// (TestFastEqualsFull).

// fastChunkAgreements is how many agreements one aggregation query covers. Memory: the
// query's text holds their meter ids twice (about 25 bytes each) and its result one row
// per agreement and part; the bills of a chunk (about 2 KB each) are written together.
const fastChunkAgreements = 10_000

// fastGroup is agreements billed alike: one tariff, region (day types) and span.
type fastGroup struct {
	docs      []*tariff.Document
	loc       *time.Location
	zone      string
	from, to  tariff.Date
	cycleDays int
	dayType   calc.DayTypeFunc
	parts     []calc.PlanPart
	hist      calc.History
	histFrom  tariff.Date
	window    int   // demand block minutes: 15 or 30
	expected  []int // quarter hours of each part
}

// fastAgreement is an agreement on the fast path: its group and meter.
type fastAgreement struct {
	term  registry.Term
	group int
	meter string
}

// runFast bills what it can of terms (sorted by their meter) and returns the rest.
func (r *Runner) runFast(ctx context.Context, p Period, terms []registry.Term, st *runState, res *Result) ([]registry.Term, error) {
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_query_size": 32 << 20}))
	meters := make([]string, len(terms))
	for i, t := range terms {
		meters[i] = t.Spans[0].Version.MeterID
	}
	regions, err := r.regions(ctx, meters)
	if err != nil {
		return nil, err
	}
	var rest []registry.Term
	var ags []fastAgreement
	seen := map[string]bool{} // a meter on two agreements of the period (a move) goes the full path
	var groups []*fastGroup
	index := map[string]int{}
	for _, t := range terms {
		if len(t.Spans) != 1 {
			rest = append(rest, t)
			continue
		}
		s := t.Spans[0]
		tv := st.tariffs[s.Version.Tariff]
		if tv.reason != "" || calc.CanAggregate(tv.docs) != nil || seen[s.Version.MeterID] {
			rest = append(rest, t)
			continue
		}
		seen[s.Version.MeterID] = true
		region := regions[s.Version.MeterID]
		key := strings.Join([]string{s.Version.Tariff, region, s.From.Format(time.DateOnly), s.To.Format(time.DateOnly)}, "\x00")
		gi, ok := index[key]
		if !ok {
			g, err := newFastGroup(p, tv.docs, st.dayTypes[region], s.From, s.To)
			if err != nil {
				var fe *fault.FieldError
				if errors.As(err, &fe) {
					rest = append(rest, t) // the full path holds it with the reason
					continue
				}
				return nil, err
			}
			gi = len(groups)
			groups = append(groups, g)
			index[key] = gi
		}
		ags = append(ags, fastAgreement{term: t, group: gi, meter: s.Version.MeterID})
	}
	if len(ags) == 0 {
		return rest, nil
	}
	totals, err := r.aggregate(ctx, groups, ags)
	if err != nil {
		return nil, err
	}
	ids := make([]registry.Term, 0, len(ags))
	for _, a := range ags {
		ids = append(ids, a.term)
	}
	issued, err := r.issued(ctx, ids, p)
	if err != nil {
		return nil, err
	}
	outs := make([]outcome, len(ags))
	var g errgroup.Group
	g.SetLimit(runtime.NumCPU())
	for i, a := range ags {
		if totals[i] == nil {
			continue
		}
		g.Go(func() error {
			gr := groups[a.group]
			in := calc.Input{Tariffs: gr.docs, From: gr.from, To: gr.to, CycleDays: gr.cycleDays, DayType: gr.dayType, Totals: totals[i]}
			outs[i].in, outs[i].err = r.issue(a.term, gr.docs, in, issued[a.term.AgreementID])
			return nil
		})
	}
	_ = g.Wait()
	var billed []registry.Term
	var done []outcome
	for i, a := range ags {
		if totals[i] == nil {
			rest = append(rest, a.term)
			continue
		}
		billed = append(billed, a.term)
		done = append(done, outs[i])
	}
	res.Fast += len(billed)
	return rest, r.settle(ctx, billed, done, res)
}

// newFastGroup plans the span [from, to) (UTC midnights of local dates) of the tariff.
func newFastGroup(p Period, docs []*tariff.Document, dayType calc.DayTypeFunc, from, to time.Time) (*fastGroup, error) {
	loc, err := docs[0].Location()
	if err != nil {
		return nil, fault.Invalid("tariff", "time zone: %v", err)
	}
	if dayType == nil {
		dayType = calc.Weekdays
	}
	g := &fastGroup{docs: docs, loc: loc, zone: docs[0].TimeZone, dayType: dayType,
		from: tariff.DateOf(from, time.UTC), to: tariff.DateOf(to, time.UTC), window: calc.WindowMinutes(docs[0])}
	if !from.Equal(p.From) || !to.Equal(p.To) {
		g.cycleDays = int(p.To.Sub(p.From).Hours() / 24)
	}
	g.parts, err = calc.Plan(calc.Input{Tariffs: docs, From: g.from, To: g.to, DayType: dayType})
	if err != nil {
		return nil, err
	}
	g.hist = calc.HistoryOf(g.parts, g.from)
	g.histFrom = g.from
	for _, h := range []tariff.Date{g.hist.YearFrom, g.hist.RatchetFrom} {
		if !h.IsZero() && h.Before(g.histFrom) {
			g.histFrom = h
		}
	}
	for _, pp := range g.parts {
		n := 0
		for d := pp.From; d.Before(pp.To); d = nextDate(d) {
			n += int(nextDate(d).Start(loc).Sub(d.Start(loc)) / (15 * time.Minute))
		}
		g.expected = append(g.expected, n)
	}
	return g, nil
}

func nextDate(d tariff.Date) tariff.Date {
	u := d.UTC().AddDate(0, 0, 1)
	return tariff.NewDate(u.Year(), u.Month(), u.Day())
}

// History codes of a date before the period: what it counts toward.
const (
	codeYear    = -1 // the tier year's energy
	codeRatchet = -2 // the ratchet's largest block
	codeBoth    = -3
	codeNone    = -4
)

// code returns the part index of local date d, or its history code.
func (g *fastGroup) code(d tariff.Date) int {
	for i, pp := range g.parts {
		if !d.Before(pp.From) && d.Before(pp.To) {
			return i
		}
	}
	if !d.Before(g.from) {
		return codeNone
	}
	year := !g.hist.YearFrom.IsZero() && !d.Before(g.hist.YearFrom)
	ratchet := !g.hist.RatchetFrom.IsZero() && !d.Before(g.hist.RatchetFrom)
	if ratchet && len(g.hist.CountedMonths) > 0 {
		ratchet = false
		for _, m := range g.hist.CountedMonths {
			ratchet = ratchet || int(d.UTC().Month()) == m
		}
	}
	switch {
	case year && ratchet:
		return codeBoth
	case year:
		return codeYear
	case ratchet:
		return codeRatchet
	}
	return codeNone
}

// aggregate sums the agreements' profiles into Totals, one per agreement in ags' order;
// nil where the fast path cannot bill it (missing or incomplete days, rows computed
// before migration 0045 or in another time zone).
func (r *Runner) aggregate(ctx context.Context, groups []*fastGroup, ags []fastAgreement) ([]*calc.Totals, error) {
	base, end := groups[0].histFrom, groups[0].to
	energyPeriods, demandPeriods, demand := 1, 0, false
	for _, g := range groups {
		if g.histFrom.Before(base) {
			base = g.histFrom
		}
		if end.Before(g.to) {
			end = g.to
		}
		for _, doc := range g.docs {
			if e := doc.Energy; e != nil && e.TOU != nil {
				energyPeriods = max(energyPeriods, len(e.TOU.Periods))
			}
			if m := doc.Demand; m != nil {
				demand = true
				if m.TOU != nil {
					demandPeriods = max(demandPeriods, len(m.TOU.Periods))
				}
			}
		}
	}
	var dates []tariff.Date
	for d := base; d.Before(end); d = nextDate(d) {
		dates = append(dates, d)
	}
	// The codes and slots of every group's dates, g × len(dates) + date index, as literals.
	var codes, eslots, dslots, windows, zones strings.Builder
	codes.WriteString("CAST([")
	eslots.WriteString("CAST([")
	dslots.WriteString("CAST([")
	for gi, g := range groups {
		for di, d := range dates {
			if gi+di > 0 {
				codes.WriteByte(',')
				eslots.WriteByte(',')
				dslots.WriteByte(',')
			}
			c := g.code(d)
			codes.WriteString(strconv.Itoa(c))
			var es, ds []uint8
			if c >= 0 {
				es, ds = g.parts[c].DaySlots(d, g.loc, g.dayType)
			}
			writeArray(&eslots, es)
			writeArray(&dslots, ds)
		}
		if gi > 0 {
			windows.WriteByte(',')
			zones.WriteByte(',')
		}
		windows.WriteString(strconv.Itoa(g.window))
		zones.WriteString(strconv.Quote(g.zone))
	}
	codes.WriteString("] AS Array(Int8))")
	eslots.WriteString("] AS Array(Array(UInt8)))")
	dslots.WriteString("] AS Array(Array(UInt8)))")
	n := len(dates)
	var cols strings.Builder
	cols.WriteString("toInt64(sum(arraySum(wh))), toInt64(sum(arraySum(intervals))), toInt64(sum(arraySum(substituted))), toInt64(sum(arraySum(substituted_wh))), countIf(bad)")
	for k := range energyPeriods {
		fmt.Fprintf(&cols, ", toInt64(sum(arraySum(arrayMap((w, s) -> if(s = %d, w, 0), wh, es))))", k)
	}
	if demand {
		cols.WriteString(", toInt64(max(arrayReduce('max', dm)))")
		for k := range demandPeriods {
			fmt.Fprintf(&cols, ", toInt64(max(arrayReduce('max', arrayFilter((x, s) -> s = %d, dm, ds))))", k)
		}
	}
	q := fmt.Sprintf(`SELECT meter_id, pt, %s FROM (
  SELECT meter_id, pt, wh, intervals, substituted, substituted_wh,
    length(substituted) = 0 OR time_zone != tz OR (pt >= 0 AND length(es0) != length(wh)) AS bad,
    if(length(es0) = length(wh), es0, arrayMap(x -> toUInt8(0), wh)) AS es,
    if(length(ds0) = length(wh), ds0, arrayMap(x -> toUInt8(0), wh)) AS ds,
    if(win = 30, max30_wh, max15_wh) AS dm
  FROM (
    SELECT meter_id, wh, intervals, substituted, substituted_wh, max15_wh, max30_wh, time_zone,
      transform(meter_id, ?, ?, toUInt32(0)) AS g, toUInt32(toRelativeDayNum(day) - toRelativeDayNum(toDate(?))) + g * %d + 1 AS i,
      arrayElement(%s, i) AS pt, arrayElement(%s, i) AS es0, arrayElement(%s, i) AS ds0,
      arrayElement([%s], g + 1) AS win, arrayElement([%s], g + 1) AS tz
    FROM consumption_profiles FINAL
    WHERE day >= toDate(?) AND day < toDate(?) AND meter_id IN (SELECT arrayJoin(?))
  )
) GROUP BY meter_id, pt`, cols.String(), n, codes.String(), eslots.String(), dslots.String(), windows.String(), strings.ReplaceAll(zones.String(), `"`, `'`))
	meters := make([]string, len(ags))
	gidx := make([]uint32, len(ags))
	byMeter := make(map[string]int, len(ags))
	for i, a := range ags {
		meters[i], gidx[i] = a.meter, uint32(a.group)
		byMeter[a.meter] = i
	}
	rows, err := r.conn.Query(ctx, q, meters, gidx, base.String(), base.String(), end.String(), meters)
	if err != nil {
		return nil, fmt.Errorf("aggregate consumption_profiles: %w", err)
	}
	defer rows.Close()
	out := make([]*calc.Totals, len(ags))
	bad := make([]bool, len(ags))
	var meter string
	var pt int8
	vals := make([]int64, 4+energyPeriods)
	var badRows uint64
	var maxes []int64
	if demand {
		maxes = make([]int64, 1+demandPeriods)
	}
	dest := []any{&meter, &pt, &vals[0], &vals[1], &vals[2], &vals[3], &badRows}
	for k := range energyPeriods {
		dest = append(dest, &vals[4+k])
	}
	for k := range maxes {
		dest = append(dest, &maxes[k])
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("aggregate consumption_profiles: %w", err)
		}
		i, ok := byMeter[meter]
		if !ok {
			continue
		}
		if badRows > 0 {
			bad[i] = true
			continue
		}
		g := groups[ags[i].group]
		if out[i] == nil {
			out[i] = &calc.Totals{Parts: make([]calc.PartTotals, len(g.parts))}
		}
		t := out[i]
		switch {
		case pt >= 0 && int(pt) < len(g.parts):
			p := &t.Parts[pt]
			p.Wh, p.Intervals, p.EstimatedIntervals, p.EstimatedWh = vals[0], int(vals[1]), int(vals[2]), vals[3]
			p.PeriodWh = append([]int64(nil), vals[4:]...)
			if demand {
				p.WindowWh = maxes[0]
				p.PeriodWindowWh = append([]int64(nil), maxes[1:]...)
			}
		case pt == codeYear || pt == codeBoth || pt == codeRatchet:
			if pt != codeRatchet {
				t.YearWh += vals[0]
			}
			if pt != codeYear && demand {
				t.RatchetWindowWh = max(t.RatchetWindowWh, maxes[0])
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("aggregate consumption_profiles: %w", err)
	}
	for i, t := range out {
		if t == nil {
			continue
		}
		g := groups[ags[i].group]
		for k, p := range t.Parts {
			if bad[i] || p.Intervals != g.expected[k] {
				out[i] = nil // the full path holds it, or bills it from rows the profiles lack
				break
			}
		}
	}
	return out, nil
}

func writeArray(b *strings.Builder, xs []uint8) {
	b.WriteByte('[')
	for i, x := range xs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(x)))
	}
	b.WriteByte(']')
}

// sortByMeter orders terms by their first span's meter, the fast path's read order.
func sortByMeter(terms []registry.Term) {
	sort.SliceStable(terms, func(a, b int) bool { return terms[a].Spans[0].Version.MeterID < terms[b].Spans[0].Version.MeterID })
}
