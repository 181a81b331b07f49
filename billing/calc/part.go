package calc

import (
	"fmt"
	"slices"
	"time"

	"github.com/meterhouse/meterhouse/billing/tariff"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/shopspring/decimal"
)

// part is a run of dates of one tariff version, season and tier year.
type part struct {
	doc         *tariff.Document
	loc         *time.Location
	year        tariff.Date
	det         Determinants
	dayType     DayTypeFunc
	territory   string
	periodStart time.Time
	cycle       ratio           // partDays / cycleDays
	factor      decimal.Decimal // cycle, rounded
	demandShare ratio           // partDays / periodDays
	ivs, hist   []Interval
	hourCache   map[hourKey]*[24]int
	// tot, when set, replaces ivs and hist: the part's aggregated determinants, with
	// offsetWh (the tier year's energy before the part) and ratchetWh (the largest
	// demand window of the ratchet's months).
	tot                 *PartTotals
	offsetWh, ratchetWh int64
}

// slot returns the TOU period index of an interval, which must lie in one local hour.
func (p *part) slot(t *tariff.TOU, iv Interval, what string) (int, error) {
	s := iv.Start.In(p.loc)
	e := iv.End.Add(-time.Nanosecond).In(p.loc)
	if s.Hour() != e.Hour() || s.Day() != e.Day() || iv.End.Sub(iv.Start) > time.Hour {
		return 0, fault.Invalid("intervals", "%s..%s spans more than one local hour: %s by time of use needs hourly or finer data", iv.Start.Format(time.RFC3339), iv.End.Format(time.RFC3339), what)
	}
	i := p.hours(t, s)[s.Hour()]
	if i < 0 {
		return 0, fmt.Errorf("calc: no %s period at %s", what, iv.Start.Format(time.RFC3339))
	}
	return i, nil
}

// hours returns the period index of each local hour of the date of local time s, cached
// per schedule, season and day type (TOU.PeriodAt parses the ranges on every call).
func (p *part) hours(t *tariff.TOU, s time.Time) *[24]int {
	y, m, d := s.Date()
	date := tariff.NewDate(y, m, d)
	key := hourKey{t, p.doc.SeasonOf(date), p.dayType(date)}
	if h, ok := p.hourCache[key]; ok {
		return h
	}
	h := new([24]int)
	for hr := range h {
		h[hr] = t.PeriodAt(key.season, key.dayType, hr)
	}
	if p.hourCache == nil {
		p.hourCache = map[hourKey]*[24]int{}
	}
	p.hourCache[key] = h
	return h
}

// hourKey is a schedule, a season and a day type.
type hourKey struct {
	tou             *tariff.TOU
	season, dayType string
}

// round rounds a line's amount by the document's rule.
func (p *part) round(x decimal.Decimal) decimal.Decimal {
	if p.doc.Rounding.Per == "total" {
		return x.Round(ip)
	}
	return p.doc.Round(x)
}

func (p *part) line(kind, name, unit string, qty, rate decimal.Decimal, of string) Line {
	return Line{Name: name, Kind: kind, Quantity: qty, Unit: unit, Rate: rate, Amount: p.round(qty.Mul(rate)), of: of}
}

// price computes the part's determinants and lines.
func (p *part) price() ([]Line, error) {
	d := p.doc
	var wh int64
	for _, iv := range p.ivs {
		wh += iv.Wh
		p.det.Intervals++
		if iv.Estimated {
			p.det.EstimatedIntervals++
			p.det.EstimatedWh += iv.Wh
		}
	}
	if t := p.tot; t != nil {
		wh = t.Wh
		p.det.Intervals, p.det.EstimatedIntervals, p.det.EstimatedWh = t.Intervals, t.EstimatedIntervals, t.EstimatedWh
	}
	p.det.KWh = kWh(wh)
	var lines []Line
	for _, f := range d.FixedCharges {
		if f.Per == tariff.PerDay {
			lines = append(lines, p.line(KindFixed, f.Name, "day", decimal.NewFromInt(int64(p.det.Days)), f.Amount.Decimal, f.Name))
		} else {
			lines = append(lines, p.line(KindFixed, f.Name, "period", p.factor, f.Amount.Decimal, f.Name))
		}
	}
	if d.Energy != nil {
		l, err := p.energy()
		if err != nil {
			return nil, err
		}
		lines = append(lines, l...)
	}
	if d.Demand != nil {
		l, err := p.demand()
		if err != nil {
			return nil, err
		}
		lines = append(lines, l...)
	}
	if m := d.MinimumBill; m != nil {
		floor := m.Amount.Mul(p.factor)
		if m.Per == tariff.PerDay {
			floor = m.Amount.Mul(decimal.NewFromInt(int64(p.det.Days)))
		}
		floor = p.round(floor)
		sum := decimal.Zero
		for _, l := range lines {
			sum = sum.Add(l.Amount)
		}
		if sum.LessThan(floor) {
			lines = append(lines, Line{Name: KindMinimum, Kind: KindMinimum, Quantity: decimal.NewFromInt(1), Unit: "bill",
				Rate: floor.Sub(sum), Amount: floor.Sub(sum)})
		}
	}
	if b := d.Baseline; b != nil {
		l, err := p.baseline(b)
		if err != nil {
			return nil, err
		}
		lines = append(lines, l)
	}
	for _, t := range d.Taxes {
		base := decimal.Zero
		for _, l := range lines {
			if slices.Contains(t.Of, l.Kind) || (l.of != "" && slices.Contains(t.Of, l.of)) {
				base = base.Add(l.Amount)
			}
		}
		lines = append(lines, p.line(KindTax, t.Name, d.Currency, base, t.Percent.Div(decimal.NewFromInt(100)), t.Name))
	}
	return lines, nil
}

// offset is the energy that counts toward the tiers before the part: the tier year's
// history with annual tiers, else nothing.
func (p *part) offset() decimal.Decimal {
	sum := decimal.Zero
	if p.year.IsZero() {
		return sum
	}
	if p.tot != nil {
		return kWh(p.offsetWh)
	}
	from := p.year.Start(p.loc)
	for _, iv := range p.hist {
		if !iv.Start.Before(from) {
			sum = sum.Add(kWh(iv.Wh))
		}
	}
	return sum
}

// scale is what tier thresholds are multiplied by: the part's share of the cycle for
// thresholds of the billing period, 1 for annual ones.
func (p *part) scale() ratio {
	if p.year.IsZero() {
		return p.cycle
	}
	return one
}

func (p *part) energy() ([]Line, error) {
	e := p.doc.Energy
	switch {
	case e.Rate != nil:
		p.det.TierKWh = []decimal.Decimal{p.det.KWh}
		return []Line{p.line(KindEnergy, "energy", "kWh", p.det.KWh, rateOf(*e.Rate, e.Adjustment), "")}, nil
	case len(e.Tiers) > 0:
		amounts := fill(p.offset(), p.det.KWh, e.Tiers, p.scale())
		p.det.TierKWh = amounts
		var out []Line
		for k, a := range amounts {
			if a.IsPositive() {
				out = append(out, p.line(KindEnergy, fmt.Sprintf("energy tier %d", k+1), "kWh", a, rateOf(e.Tiers[k].Rate, e.Tiers[k].Adjustment), ""))
			}
		}
		return out, nil
	}
	return p.energyTOU(e)
}

func (p *part) energyTOU(e *tariff.Energy) ([]Line, error) {
	periods := e.TOU.Periods
	perWh := make([]int64, len(periods))
	alloc := make([][]decimal.Decimal, len(periods))
	whole := make([][]int64, len(periods)) // Wh of intervals that lie in one tier
	bounds := make([][][2]int64, len(periods))
	offset := p.offset()
	scale := p.scale()
	chrono := e.TierAllocation == tariff.Chronological
	for i, pd := range periods {
		alloc[i] = make([]decimal.Decimal, len(pd.Tiers))
		whole[i] = make([]int64, len(pd.Tiers))
		if chrono {
			bounds[i] = whBounds(pd.Tiers, offset, scale)
		}
	}
	if p.tot != nil {
		if chrono {
			return nil, fault.Invalid("totals", "chronological TOU tiers need the intervals")
		}
		copy(perWh, p.tot.PeriodWh)
	}
	var cumWh int64 // Wh of the part before the interval
	for _, iv := range p.ivs {
		i, err := p.slot(e.TOU, iv, "energy")
		if err != nil {
			return nil, err
		}
		perWh[i] += iv.Wh
		if chrono && len(periods[i].Tiers) > 0 {
			if t := oneTier(bounds[i], cumWh, iv.Wh); t >= 0 {
				whole[i][t] += iv.Wh
			} else {
				for t, a := range fill(offset.Add(kWh(cumWh)), kWh(iv.Wh), periods[i].Tiers, scale) {
					alloc[i][t] = alloc[i][t].Add(a)
				}
			}
		}
		cumWh += iv.Wh
	}
	per := make([]decimal.Decimal, len(periods))
	for i := range periods {
		per[i] = kWh(perWh[i])
		for t, wh := range whole[i] {
			alloc[i][t] = alloc[i][t].Add(kWh(wh))
		}
	}
	p.det.PeriodKWh = map[string]decimal.Decimal{}
	for i, pd := range periods {
		p.det.PeriodKWh[pd.Name] = per[i]
	}
	if e.TierAllocation != tariff.Chronological && p.det.KWh.IsPositive() {
		// Proportional: period i's share of tier t is per[i] × (the total's kWh in t) / total.
		for i, pd := range periods {
			if len(pd.Tiers) == 0 {
				continue
			}
			total := fill(offset, p.det.KWh, pd.Tiers, scale)
			last := -1
			for t := range total {
				if total[t].IsPositive() {
					last = t
				}
			}
			rest := per[i]
			for t := range total {
				if t == last {
					alloc[i][t] = rest
					break
				}
				alloc[i][t] = per[i].Mul(total[t]).DivRound(p.det.KWh, ip)
				rest = rest.Sub(alloc[i][t])
			}
		}
	}
	var out []Line
	for i, pd := range periods {
		if pd.Rate != nil {
			if per[i].IsPositive() {
				out = append(out, p.line(KindEnergy, "energy "+pd.Name, "kWh", per[i], rateOf(*pd.Rate, pd.Adjustment), ""))
			}
			continue
		}
		for t, a := range alloc[i] {
			for len(p.det.TierKWh) <= t {
				p.det.TierKWh = append(p.det.TierKWh, decimal.Zero)
			}
			p.det.TierKWh[t] = p.det.TierKWh[t].Add(a)
			if a.IsPositive() {
				out = append(out, p.line(KindEnergy, fmt.Sprintf("energy %s tier %d", pd.Name, t+1), "kWh", a, rateOf(pd.Tiers[t].Rate, pd.Tiers[t].Adjustment), ""))
			}
		}
	}
	return out, nil
}

// whBounds returns, for each tier, its lower and upper threshold in Wh after offset
// (thresholds scaled), the lower rounded up and the upper down to whole Wh; the first
// tier has no lower, the last no upper bound.
func whBounds(tiers []tariff.Tier, offset decimal.Decimal, scale ratio) [][2]int64 {
	const inf = int64(1) << 62
	out := make([][2]int64, len(tiers))
	lo := -inf
	for t, tr := range tiers {
		hi := inf
		if tr.UpTo != nil {
			thr := tr.UpTo.Mul(decimal.NewFromInt(scale.num)).DivRound(decimal.NewFromInt(scale.den), ip).Sub(offset).Shift(3)
			hi = clamp(thr.Floor())
			out[t] = [2]int64{lo, hi}
			lo = clamp(thr.Ceil())
			continue
		}
		out[t] = [2]int64{lo, hi}
	}
	return out
}

func clamp(d decimal.Decimal) int64 {
	const inf = int64(1) << 62
	switch {
	case d.GreaterThan(decimal.NewFromInt(inf)):
		return inf
	case d.LessThan(decimal.NewFromInt(-inf)):
		return -inf
	}
	return d.IntPart()
}

// oneTier returns the tier that holds all of (cum, cum+wh] by bounds, or -1 when the
// interval crosses a threshold.
func oneTier(bounds [][2]int64, cum, wh int64) int {
	for t, b := range bounds {
		if cum+wh <= b[1] || t == len(bounds)-1 {
			if cum >= b[0] {
				return t
			}
			return -1
		}
	}
	return -1
}

// window is one demand interval's energy.
type window struct {
	start time.Time
	wh    int64
	dur   time.Duration
}

// windows groups intervals into demand windows of the tariff's interval, aligned to the
// local clock; an interval as long as the window or longer is a window of its own.
func (p *part) windows(ivs []Interval) []window {
	size := 15 * time.Minute
	if p.doc.Demand.Interval == "30m" {
		size = 30 * time.Minute
	}
	var out []window
	idx := map[int64]int{}
	for _, iv := range ivs {
		dur := iv.End.Sub(iv.Start)
		if dur >= size {
			out = append(out, window{start: iv.Start, wh: iv.Wh, dur: dur})
			continue
		}
		_, off := iv.Start.In(p.loc).Zone()
		sec := int64(size / time.Second)
		local := iv.Start.Unix() + int64(off)
		key := local - ((local%sec)+sec)%sec - int64(off)
		if j, ok := idx[key]; ok {
			out[j].wh += iv.Wh
			continue
		}
		idx[key] = len(out)
		out = append(out, window{start: time.Unix(key, 0), wh: iv.Wh, dur: size})
	}
	return out
}

// kW is a window's average power.
func (w window) kW() decimal.Decimal {
	return decimal.NewFromInt(w.wh).Mul(decimal.NewFromInt(3600)).
		DivRound(decimal.NewFromInt(int64(w.dur/time.Second)*1000), ip)
}

func (p *part) demand() ([]Line, error) {
	m := p.doc.Demand
	ws := p.windows(p.ivs)
	minutes := 15
	if m.Interval == "30m" {
		minutes = 30
	}
	for _, w := range ws {
		if mins := int(w.dur / time.Minute); mins > minutes {
			minutes = mins
		}
		if k := w.kW(); k.GreaterThan(p.det.MaxDemandKW) {
			p.det.MaxDemandKW = k
		}
	}
	size := time.Duration(minutes) * time.Minute
	if p.tot != nil {
		p.det.MaxDemandKW = window{wh: p.tot.WindowWh, dur: size}.kW()
	}
	p.det.DemandMinutes = minutes
	if r := m.Ratchet; r != nil {
		from := monthsBefore(p.periodStart, r.Months, p.loc)
		var hist []Interval
		for _, iv := range p.hist {
			if !iv.Start.Before(from) && iv.Start.Before(p.periodStart) &&
				(len(r.CountedMonths) == 0 || slices.Contains(r.CountedMonths, int(iv.Start.In(p.loc).Month()))) {
				hist = append(hist, iv)
			}
		}
		high := decimal.Zero
		for _, w := range p.windows(hist) {
			high = decimal.Max(high, w.kW())
		}
		if p.tot != nil {
			high = decimal.Max(high, window{wh: p.ratchetWh, dur: size}.kW())
		}
		p.det.RatchetKW = high.Mul(r.Share.Decimal).Round(ip)
	}
	var out []Line
	if f := p.flatDemand(); f != nil {
		kw := decimal.Max(p.det.MaxDemandKW, p.det.RatchetKW)
		out = append(out, p.demandLines(f.Name, kw, f.Rate, f.Adjustment, f.Tiers, f.Name)...)
	}
	if m.TOU != nil {
		maxes := make([]decimal.Decimal, len(m.TOU.Periods))
		if p.tot != nil {
			for i := range maxes {
				if i < len(p.tot.PeriodWindowWh) {
					maxes[i] = window{wh: p.tot.PeriodWindowWh[i], dur: size}.kW()
				}
			}
		}
		for _, w := range ws {
			i, err := p.slot(m.TOU, Interval{Start: w.start, End: w.start.Add(w.dur)}, "demand")
			if err != nil {
				return nil, err
			}
			maxes[i] = decimal.Max(maxes[i], w.kW())
		}
		p.det.PeriodDemandKW = map[string]decimal.Decimal{}
		for i, pd := range m.TOU.Periods {
			p.det.PeriodDemandKW[pd.Name] = maxes[i]
			kw := maxes[i]
			if len(m.Flat) == 0 {
				kw = decimal.Max(kw, p.det.RatchetKW)
			}
			if kw.IsPositive() {
				out = append(out, p.demandLines("demand "+pd.Name, kw, pd.Rate, pd.Adjustment, pd.Tiers, "")...)
			}
		}
	}
	return out, nil
}

// flatDemand returns the flat demand charge of the month holding most of the part's days
// (the earlier month on a tie), or nil.
func (p *part) flatDemand() *tariff.FlatDemand {
	counts := map[int]int{}
	best, bestN := 0, 0
	for d := p.det.From; d.Before(p.det.To); d = addDays(d, 1) {
		mo := int(d.UTC().Month())
		counts[mo]++
		if counts[mo] > bestN {
			best, bestN = mo, counts[mo]
		}
	}
	for i, f := range p.doc.Demand.Flat {
		if slices.Contains(f.Months, best) {
			return &p.doc.Demand.Flat[i]
		}
	}
	return nil
}

// demandLines prices kw at a rate or through tiers, the quantity scaled by the part's
// share of the period (to the intermediate precision).
func (p *part) demandLines(name string, kw decimal.Decimal, rate, adj *tariff.Dec, tiers []tariff.Tier, of string) []Line {
	share := func(x decimal.Decimal) decimal.Decimal {
		return x.Mul(decimal.NewFromInt(p.demandShare.num)).DivRound(decimal.NewFromInt(p.demandShare.den), ip)
	}
	if rate != nil {
		return []Line{p.line(KindDemand, name, "kW", share(kw), rateOf(*rate, adj), of)}
	}
	var out []Line
	for t, a := range fill(decimal.Zero, kw, tiers, one) {
		if a.IsPositive() {
			out = append(out, p.line(KindDemand, fmt.Sprintf("%s tier %d", name, t+1), "kW", share(a), rateOf(tiers[t].Rate, tiers[t].Adjustment), of))
		}
	}
	return out
}

// baseline credits the part's kWh up to the territory's allowance for its season and
// days.
func (p *part) baseline(b *tariff.Baseline) (Line, error) {
	var allowance *tariff.Allowance
	for i, a := range b.Allowances {
		if a.Territory == p.territory && a.Season == p.det.Season {
			allowance = &b.Allowances[i]
		}
	}
	if allowance == nil {
		return Line{}, fault.Invalid("territory", "%q has no baseline allowance in season %q", p.territory, p.det.Season)
	}
	allowed := allowance.KWhPerDay.Mul(decimal.NewFromInt(int64(p.det.Days)))
	return p.line(KindBase, KindBase, "kWh", decimal.Min(allowed, p.det.KWh), b.CreditRate.Neg(), ""), nil
}
