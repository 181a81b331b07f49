package run

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"golang.org/x/sync/errgroup"

	"github.com/meterhouse/meterhouse/billing/calc"
	"github.com/meterhouse/meterhouse/billing/invoice"
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
// query's text holds their meter ids once (about 12 bytes each) and its result one row
// per agreement and date class; the bills of a chunk (about 2 KB each) are written
// together.
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
	window    int // demand block minutes: 15 or 30
	// energyPeriods and demandPeriods are the most TOU periods of a version (at least 1).
	energyPeriods, demandPeriods int
	expected                     []int // quarter hours of each part
}

// fastAgreement is an agreement on the fast path: its group and meter.
type fastAgreement struct {
	term  registry.Term
	group int
	meter string
}

// fastBatch is a chunk read for the fast path: its agreements with their totals (nil for
// those it cannot bill), the invoices already issued, and the agreements left to the full
// path.
type fastBatch struct {
	period Period
	held   map[string]bool
	groups []*fastGroup
	ags    []fastAgreement
	totals []*calc.Totals
	issued map[string][]invoice.Invoice
	rest   []registry.Term
}

// runFastAll bills what it can of terms through the fast path, chunk by chunk in meter
// order, and returns the rest. Reading a chunk (ClickHouse summing its profiles) overlaps
// computing and writing earlier ones, so that both cores work: at most four chunks are in
// memory (two being read, one waiting, one being billed).
func (r *Runner) runFastAll(ctx context.Context, p Period, terms []registry.Term, st *runState, res *Result) ([]registry.Term, error) {
	sortByMeter(terms)
	any, err := r.anyIssued(ctx, p)
	if err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	chunks := make(chan []registry.Term)
	batches := make(chan *fastBatch, 1)
	g.Go(func() error {
		defer close(chunks)
		for len(terms) > 0 {
			n := min(r.fastChunk, len(terms))
			select {
			case chunks <- terms[:n]:
			case <-gctx.Done():
				return gctx.Err()
			}
			terms = terms[n:]
		}
		return nil
	})
	var readers sync.WaitGroup
	for range fastReaders {
		readers.Add(1)
		g.Go(func() error {
			defer readers.Done()
			for c := range chunks {
				b, err := r.readFast(gctx, p, c, st, any)
				if err != nil {
					return err
				}
				select {
				case batches <- b:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		readers.Wait()
		close(batches)
		return nil
	})
	var rest []registry.Term
	g.Go(func() error {
		for b := range batches {
			billed, err := r.billFast(gctx, b, res)
			if err != nil {
				return err
			}
			rest = append(rest, b.rest...)
			if r.afterChunk != nil && billed > 0 {
				r.afterChunk()
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return rest, nil
}

// fastReaders is how many chunks are read at once: ClickHouse reads a table FINAL in one
// thread per query, so two queries keep two cores busy.
const fastReaders = 2

// anyIssued reports whether any invoice of the period exists: a first run reads no
// invoices per chunk.
func (r *Runner) anyIssued(ctx context.Context, p Period) (bool, error) {
	var n uint64
	if err := r.conn.QueryRow(ctx, `SELECT count() FROM invoices WHERE period_from >= toDate(?) AND period_to <= toDate(?)`,
		p.From.Format(time.DateOnly), p.To.Format(time.DateOnly)).Scan(&n); err != nil {
		return false, fmt.Errorf("read invoices: %w", err)
	}
	return n > 0, nil
}

// readFast groups a chunk of terms (sorted by their meter) and reads what billing them
// needs.
func (r *Runner) readFast(ctx context.Context, p Period, terms []registry.Term, st *runState, anyIssued bool) (*fastBatch, error) {
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
	b := &fastBatch{period: p, held: st.held, groups: groups, ags: ags, rest: rest}
	if len(ags) == 0 {
		return b, nil
	}
	totals, err := r.aggregate(ctx, groups, ags)
	if err != nil {
		return nil, err
	}
	ids := make([]registry.Term, 0, len(ags))
	for _, a := range ags {
		ids = append(ids, a.term)
	}
	b.totals = totals
	if anyIssued {
		if b.issued, err = r.issued(ctx, ids, p); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// billFast computes and issues the bills of a batch's agreements with totals, adds the
// others to its rest, and returns how many it decided.
func (r *Runner) billFast(ctx context.Context, b *fastBatch, res *Result) (int, error) {
	groups, ags, totals, issued := b.groups, b.ags, b.totals, b.issued
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
			b, err := calc.Compute(in)
			if err != nil {
				outs[i].err = err
				return nil
			}
			outs[i].in, outs[i].err = r.issue(a.term, []billed{{tariffID: a.term.Spans[0].Version.Tariff, version: gr.docs[len(gr.docs)-1].Version, bill: b}}, issued[a.term.AgreementID])
			return nil
		})
	}
	_ = g.Wait()
	var billed []registry.Term
	var done []outcome
	for i, a := range ags {
		if totals[i] == nil {
			b.rest = append(b.rest, a.term)
			continue
		}
		billed = append(billed, a.term)
		done = append(done, outs[i])
	}
	res.Fast += len(billed)
	return len(billed), r.settle(ctx, b.period, b.held, billed, done, res)
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
	g.energyPeriods, g.demandPeriods = 1, 1
	for _, d := range docs {
		if e := d.Energy; e != nil && e.TOU != nil {
			g.energyPeriods = max(g.energyPeriods, len(e.TOU.Periods))
		}
		if m := d.Demand; m != nil && m.TOU != nil {
			g.demandPeriods = max(g.demandPeriods, len(m.TOU.Periods))
		}
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

// dateClass is a set of the chunk's dates that every group treats alike: the same part
// or history code and the same TOU slots of each hour. Profiles are summed per meter and
// class, hour by hour, so that ClickHouse adds arrays and the slots are applied here, once
// per result row.
type dateClass struct {
	codes          []int     // by group
	energy, demand [][]uint8 // by group: the slots of each hour (nil for history)
}

// aggregate sums the agreements' profiles into Totals, one per agreement in ags' order;
// nil where the fast path cannot bill it (missing or incomplete days, rows computed
// before migration 0045 or in another time zone than the tariff's).
func (r *Runner) aggregate(ctx context.Context, groups []*fastGroup, ags []fastAgreement) ([]*calc.Totals, error) {
	base, end := groups[0].histFrom, groups[0].to
	demand15, demand30 := false, false
	for _, g := range groups {
		if g.histFrom.Before(base) {
			base = g.histFrom
		}
		if end.Before(g.to) {
			end = g.to
		}
		for _, doc := range g.docs {
			if doc.Demand != nil {
				demand15 = demand15 || g.window == 15
				demand30 = demand30 || g.window == 30
			}
		}
	}
	var classes []dateClass
	index := map[string]int{}
	var dateClasses strings.Builder
	var key []byte
	for d := base; d.Before(end); d = nextDate(d) {
		c := dateClass{codes: make([]int, len(groups)), energy: make([][]uint8, len(groups)), demand: make([][]uint8, len(groups))}
		key = key[:0]
		for gi, g := range groups {
			c.codes[gi] = g.code(d)
			if c.codes[gi] >= 0 {
				c.energy[gi], c.demand[gi] = g.parts[c.codes[gi]].DaySlots(d, g.loc, g.dayType)
			}
			key = strconv.AppendInt(key, int64(c.codes[gi]), 10)
			key = append(key, ':')
			key = append(key, c.energy[gi]...)
			key = append(key, ':')
			key = append(key, c.demand[gi]...)
			key = append(key, ';')
		}
		ci, ok := index[string(key)]
		if !ok {
			ci = len(classes)
			classes = append(classes, c)
			index[string(key)] = ci
		}
		if dateClasses.Len() > 0 {
			dateClasses.WriteByte(',')
		}
		dateClasses.WriteString(strconv.Itoa(ci))
	}
	meters := make([]string, len(ags))
	for i, a := range ags {
		meters[i] = a.meter
	}
	sum := &profileSum{groups: groups, classes: classes, dateClasses: dateClasses.String(), base: base, end: end,
		demand15: demand15, demand30: demand30, ags: ags, out: make([]*calc.Totals, len(ags)), bad: make([]bool, len(ags))}
	// Without FINAL first: most (meter, day) rows have no replacement waiting for a merge,
	// and FINAL reads every array column in one thread. A meter with two rows for a day
	// (count() > uniqExact(day) in a class) is summed again with FINAL.
	dups, err := r.sumProfiles(ctx, sum, meters, false)
	if err != nil {
		return nil, err
	}
	if len(dups) > 0 {
		var again []string
		for _, i := range dups {
			sum.out[i], sum.bad[i] = nil, false
			again = append(again, ags[i].meter)
		}
		if _, err := r.sumProfiles(ctx, sum, again, true); err != nil {
			return nil, err
		}
	}
	out := sum.out
	for i, t := range out {
		if t == nil {
			continue
		}
		g := groups[ags[i].group]
		for k, p := range t.Parts {
			if sum.bad[i] || p.Intervals != g.expected[k] {
				out[i] = nil // the full path holds it, or bills it from rows the profiles lack
				break
			}
		}
	}
	return out, nil
}

// profileSum is one chunk's aggregation: its groups and date classes, and the totals
// being summed per agreement (out, nil until a row arrives; bad when the fast path cannot
// bill it).
type profileSum struct {
	groups             []*fastGroup
	classes            []dateClass
	dateClasses        string
	base, end          tariff.Date
	demand15, demand30 bool
	ags                []fastAgreement
	out                []*calc.Totals
	bad                []bool
}

// sumProfiles sums the profiles of meters (all on the chunk's agreements) into sum and
// returns the agreements whose meters have a day twice (possible only without final).
func (r *Runner) sumProfiles(ctx context.Context, sum *profileSum, meters []string, final bool) ([]int, error) {
	joined := func(agg string) string { return "arrayStringConcat(arrayMap(x -> toString(x), " + agg + "), ',')" }
	cols := []string{"toInt64(sum(arraySum(intervals)))", "toInt64(sum(arraySum(substituted)))", "toInt64(sum(arraySum(substituted_wh)))",
		"countIf(length(substituted) = 0)", "min(time_zone)", "max(time_zone)", "toInt64(count()) - toInt64(uniqExact(day))", joined("sumForEach(wh)")}
	inner := []string{"meter_id", "day", "wh", "intervals", "substituted", "substituted_wh", "time_zone"}
	if sum.demand15 {
		cols, inner = append(cols, joined("maxForEach(max15_wh)")), append(inner, "max15_wh")
	}
	if sum.demand30 {
		cols, inner = append(cols, joined("maxForEach(max30_wh)")), append(inner, "max30_wh")
	}
	from := "consumption_profiles"
	if final {
		from += " FINAL"
	}
	q := fmt.Sprintf(`SELECT meter_id, toUInt32(c), %s
FROM (
  SELECT %s, arrayElement([%s], toUInt32(toRelativeDayNum(day) - toRelativeDayNum(toDate(?))) + 1) AS c
  FROM %s
  WHERE day >= toDate(?) AND day < toDate(?) AND meter_id >= ? AND meter_id <= ? AND meter_id IN (SELECT arrayJoin(?))
) GROUP BY meter_id, c`, strings.Join(cols, ", "), strings.Join(inner, ", "), sum.dateClasses, from)
	byMeter := make(map[string]int, len(meters))
	for i, a := range sum.ags {
		byMeter[a.meter] = i
	}
	lo, hi := slices.Min(meters), slices.Max(meters)
	rows, err := r.conn.Query(ctx, q, sum.base.String(), sum.base.String(), sum.end.String(), lo, hi, meters)
	if err != nil {
		return nil, fmt.Errorf("aggregate consumption_profiles: %w", err)
	}
	defer rows.Close()
	var (
		meter, zoneLo, zoneHi, whs, m15, m30 string
		class                                uint32
		quarters, substituted, subWh, twice  int64
		old                                  uint64
		wh, mx                               []int64
		dups                                 []int
	)
	dup := map[int]bool{}
	dest := []any{&meter, &class, &quarters, &substituted, &subWh, &old, &zoneLo, &zoneHi, &twice, &whs}
	if sum.demand15 {
		dest = append(dest, &m15)
	}
	if sum.demand30 {
		dest = append(dest, &m30)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("aggregate consumption_profiles: %w", err)
		}
		i, ok := byMeter[meter]
		if !ok || sum.bad[i] || dup[i] || int(class) >= len(sum.classes) {
			continue
		}
		if twice > 0 {
			dup[i] = true
			dups = append(dups, i)
			continue
		}
		gi := sum.ags[i].group
		g := sum.groups[gi]
		c := sum.classes[class]
		code := c.codes[gi]
		if code == codeNone {
			continue
		}
		if old > 0 || zoneLo != g.zone || zoneHi != g.zone {
			sum.bad[i] = true // computed before migration 0045 or in another zone: the full path
			continue
		}
		if wh, err = appendInts(wh[:0], whs); err != nil {
			return nil, err
		}
		mx = mx[:0]
		if g.docs[0].Demand != nil {
			src := m15
			if g.window == 30 {
				src = m30
			}
			if mx, err = appendInts(mx, src); err != nil {
				return nil, err
			}
		}
		if sum.out[i] == nil {
			sum.out[i] = &calc.Totals{Parts: make([]calc.PartTotals, len(g.parts))}
		}
		t := sum.out[i]
		if code < 0 {
			for k, x := range wh {
				if code == codeYear || code == codeBoth {
					t.YearWh += x
				}
				if (code == codeRatchet || code == codeBoth) && k < len(mx) {
					t.RatchetWindowWh = max(t.RatchetWindowWh, mx[k])
				}
			}
			continue
		}
		es, ds := c.energy[gi], c.demand[gi]
		if len(wh) != len(es) {
			sum.bad[i] = true
			continue
		}
		p := &t.Parts[code]
		if p.PeriodWh == nil {
			p.PeriodWh, p.PeriodWindowWh = make([]int64, g.energyPeriods), make([]int64, g.demandPeriods)
		}
		p.Intervals += int(quarters)
		p.EstimatedIntervals += int(substituted)
		p.EstimatedWh += subWh
		for k, x := range wh {
			p.Wh += x
			p.PeriodWh[es[k]] += x
		}
		for k, x := range mx {
			p.WindowWh = max(p.WindowWh, x)
			p.PeriodWindowWh[ds[k]] = max(p.PeriodWindowWh[ds[k]], x)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("aggregate consumption_profiles: %w", err)
	}
	return dups, nil
}

// appendInts appends the comma-separated integers of s to dst.
func appendInts(dst []int64, s string) ([]int64, error) {
	for len(s) > 0 {
		j := strings.IndexByte(s, ',')
		if j < 0 {
			j = len(s)
		}
		v, err := strconv.ParseInt(s[:j], 10, 64)
		if err != nil {
			return dst, fmt.Errorf("aggregate consumption_profiles: %q: %w", s[:j], err)
		}
		dst = append(dst, v)
		s = s[min(j+1, len(s)):]
	}
	return dst, nil
}

// sortByMeter orders terms by their first span's meter, the fast path's read order.
func sortByMeter(terms []registry.Term) {
	sort.SliceStable(terms, func(a, b int) bool { return terms[a].Spans[0].Version.MeterID < terms[b].Spans[0].Version.MeterID })
}
