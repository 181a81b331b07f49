package calc

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/meterhouse/meterhouse/billing/tariff"
	"github.com/meterhouse/meterhouse/calendar/holidays"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/shopspring/decimal"
)

// Interval is the validated energy of one meter over [Start, End): 15 minutes or coarser.
type Interval struct {
	// Start is the interval's first instant.
	Start time.Time `json:"start"`
	// End is the first instant after it.
	End time.Time `json:"end"`
	// Wh is the imported energy in watt-hours, never negative.
	Wh int64 `json:"wh"`
	// Estimated marks energy that VEE estimated or an editor edited.
	Estimated bool `json:"estimated"`
}

// DayTypeFunc returns the tariff day type (tariff.Weekday, Weekend or Holiday) of a local
// date.
type DayTypeFunc func(tariff.Date) string

// Weekdays is the day type rule without a calendar: Saturday and Sunday are weekend days,
// every other day a weekday.
func Weekdays(d tariff.Date) string {
	switch d.UTC().Weekday() {
	case time.Saturday, time.Sunday:
		return tariff.Weekend
	}
	return tariff.Weekday
}

// CalendarDayTypes returns the day type rule of a holiday calendar: holidays are
// tariff.Holiday, weekends (not substituted working days) tariff.Weekend, working,
// special and substituted working days tariff.Weekday.
func CalendarDayTypes(days *holidays.Days) DayTypeFunc {
	return func(d tariff.Date) string {
		switch days.Kind(d.UTC()) {
		case holidays.Holiday:
			return tariff.Holiday
		case holidays.Weekend:
			return tariff.Weekend
		}
		return tariff.Weekday
	}
}

// Input is what a bill is computed from.
type Input struct {
	// Tariffs are the versions of the agreement's tariff (validated documents) that may be
	// in force during the period; each date uses the version in force on it. They share
	// one time zone and currency.
	Tariffs []*tariff.Document
	// From and To are the billing period [From, To), local dates in the tariff's zone.
	From, To tariff.Date
	// CycleDays is the number of days of the whole billing cycle when [From, To) is a
	// partial one (move-in, move-out); 0 means the period is a whole cycle.
	CycleDays int
	// DayType gives each date's day type; nil means Weekdays.
	DayType DayTypeFunc
	// Territory is the baseline territory; empty for tariffs with one.
	Territory string
	// Intervals is the validated energy, in any order. Intervals before From are history
	// (ratchet, annual tiers), never billed; intervals from To on are ignored; an interval
	// across From or To is an error.
	Intervals []Interval
	// Totals, when set instead of Intervals, are the period's determinants aggregated
	// elsewhere (see Totals and Plan).
	Totals *Totals
}

// Line kinds: what taxes name besides a line's own name.
const (
	KindFixed   = "fixed"
	KindEnergy  = "energy"
	KindDemand  = "demand"
	KindBase    = "baseline"
	KindMinimum = "minimum_bill"
	KindTax     = "tax"
)

// Line is one line of a bill: Amount is Quantity × Rate, rounded by the tariff's rounding.
type Line struct {
	// Name names the line ("energy peak tier 2", a fixed charge's name, a tax's name).
	Name string `json:"name"`
	// Kind is fixed, energy, demand, baseline, minimum_bill or tax.
	Kind string `json:"kind"`
	// Quantity is what is priced: kWh, kW, days, a share of a period, or (for a tax) the
	// amount it is a percentage of.
	Quantity decimal.Decimal `json:"quantity"`
	// Unit is kWh, kW, day, period, bill, or the currency (a tax).
	Unit string `json:"unit"`
	// Rate is the price per unit (for a tax: the percentage as a fraction).
	Rate decimal.Decimal `json:"rate"`
	// Amount is the line's money.
	Amount decimal.Decimal `json:"amount"`
	// of is the tariff item the line comes from (a fixed charge's, flat demand's or tax's
	// name), for taxes that name it.
	of string
}

// Determinants are the billing determinants of one part of a period (a part has one
// tariff version and one season; see Compute).
type Determinants struct {
	// From and To are the part's local dates [From, To).
	From, To tariff.Date
	// Tariff and Version name the tariff document priced.
	Tariff, Version string
	// Season is the part's season.
	Season string
	// Days is the number of local dates.
	Days int
	// KWh is the energy of the part's intervals.
	KWh decimal.Decimal
	// PeriodKWh is the energy per energy TOU period.
	PeriodKWh map[string]decimal.Decimal
	// TierKWh is the energy per tier (summed over TOU periods), as allocated.
	TierKWh []decimal.Decimal
	// DemandMinutes is the interval demand is averaged over: the tariff's, or the data's
	// own when coarser.
	DemandMinutes int
	// MaxDemandKW is the highest average power of the part.
	MaxDemandKW decimal.Decimal
	// PeriodDemandKW is the highest average power per demand TOU period.
	PeriodDemandKW map[string]decimal.Decimal
	// RatchetKW is the ratchet's floor (share × highest demand of previous months).
	RatchetKW decimal.Decimal
	// Intervals, EstimatedIntervals and EstimatedWh count the part's intervals.
	Intervals, EstimatedIntervals int
	// EstimatedWh is the energy of the estimated intervals.
	EstimatedWh int64
}

// Bill is the computed bill of a period.
type Bill struct {
	// Currency is the tariff's ISO 4217 code.
	Currency string `json:"currency"`
	// Lines are the bill's lines: per part, fixed, energy, demand, baseline, minimum bill,
	// taxes.
	Lines []Line `json:"lines"`
	// Total is the sum of the lines (rounded when the tariff rounds per total).
	Total decimal.Decimal `json:"total"`
	// EstimatedWh is the energy of estimated intervals in the period.
	EstimatedWh int64 `json:"estimated_wh"`
	// EstimatedIntervals counts them.
	EstimatedIntervals int `json:"estimated_intervals"`
	// Parts are the determinants of each part of the period.
	Parts []Determinants `json:"-"`
}

// ErrNoTariff is wrapped by Compute's error when a date of the period has no tariff
// version in force: a billing run holds such a bill with the error as its reason.
var ErrNoTariff = errors.New("no tariff version in force")

// ip is the precision of intermediate quantities.
const ip = tariff.IntermediatePlaces

// Compute computes the bill of in. The period is cut into parts at every date where the
// tariff version, the season or (with annual tiers) the tier year changes; each part is
// priced by its version with per-period quantities (fixed charges per period, monthly
// tier thresholds, a minimum bill per period) scaled by partDays/cycleDays, demand charges
// by partDays/periodDays. With several parts, each line's name says its part. Errors are
// fault.FieldErrors naming the input (tariff, from, to, intervals[i]).
func Compute(in Input) (*Bill, error) {
	if len(in.Tariffs) == 0 {
		return nil, fault.Invalid("tariff", "no tariff given")
	}
	if !in.From.Before(in.To) {
		return nil, fault.Invalid("to", "%s is not after from %s", in.To, in.From)
	}
	first := in.Tariffs[0]
	for i, d := range in.Tariffs {
		if d.TimeZone != first.TimeZone || d.Currency != first.Currency {
			return nil, fault.Invalid("tariff", "version %d (%s) has time zone %s and currency %s, version 0 %s and %s: versions must agree", i, d.EffectiveFrom, d.TimeZone, d.Currency, first.TimeZone, first.Currency)
		}
	}
	loc, err := first.Location()
	if err != nil {
		return nil, fault.Invalid("tariff", "time zone: %v", err)
	}
	dayType := in.DayType
	if dayType == nil {
		dayType = Weekdays
	}
	periodDays := daysBetween(in.From, in.To)
	cycleDays := in.CycleDays
	if cycleDays == 0 {
		cycleDays = periodDays
	}
	if cycleDays < periodDays {
		return nil, fault.Invalid("cycle_days", "%d is shorter than the period's %d days", cycleDays, periodDays)
	}
	ivs, err := sortIntervals(in, loc)
	if err != nil {
		return nil, err
	}
	parts, err := cut(in, loc)
	if err != nil {
		return nil, err
	}
	if err := useTotals(in, parts); err != nil {
		return nil, err
	}
	bill := &Bill{Currency: first.Currency}
	for _, p := range parts {
		p.dayType = dayType
		p.territory = in.Territory
		p.periodStart = in.From.Start(loc)
		p.cycle = ratio{int64(p.det.Days), int64(cycleDays)}
		p.factor = decimal.NewFromInt(int64(p.det.Days)).DivRound(decimal.NewFromInt(int64(cycleDays)), ip)
		p.demandShare = ratio{int64(p.det.Days), int64(periodDays)}
		start, end := p.det.From.Start(loc), p.det.To.Start(loc)
		for _, iv := range ivs {
			switch {
			case iv.Start.Before(start):
				p.hist = append(p.hist, iv)
			case iv.Start.Before(end):
				p.ivs = append(p.ivs, iv)
			}
		}
		lines, err := p.price()
		if err != nil {
			return nil, err
		}
		if len(parts) > 1 {
			for i := range lines {
				lines[i].Name += fmt.Sprintf(" [%s, %s)", p.det.From, p.det.To)
			}
		}
		bill.Lines = append(bill.Lines, lines...)
		bill.Parts = append(bill.Parts, p.det)
		bill.EstimatedWh += p.det.EstimatedWh
		bill.EstimatedIntervals += p.det.EstimatedIntervals
	}
	for _, l := range bill.Lines {
		bill.Total = bill.Total.Add(l.Amount)
	}
	if first.Rounding.Per == "total" {
		bill.Total = first.Round(bill.Total)
	}
	return bill, nil
}

// useTotals hands each part its aggregated determinants and the energy of its tier year
// before it, when in has Totals.
func useTotals(in Input, parts []*part) error {
	t := in.Totals
	if t == nil {
		return nil
	}
	if len(in.Intervals) > 0 {
		return fault.Invalid("intervals", "given together with totals: one or the other")
	}
	if len(t.Parts) != len(parts) {
		return fault.Invalid("totals", "%d parts, the period has %d", len(t.Parts), len(parts))
	}
	if err := CanAggregate(in.Tariffs); err != nil {
		return fault.Invalid("totals", "%v", err)
	}
	for i, p := range parts {
		p.tot = &t.Parts[i]
		p.ratchetWh = t.RatchetWindowWh
		if p.year == parts[0].year {
			p.offsetWh = t.YearWh
		}
		for _, q := range parts[:i] {
			if q.year == p.year {
				p.offsetWh += q.tot.Wh
			}
		}
	}
	return nil
}

// sortIntervals checks the intervals and returns those before To, sorted by start.
func sortIntervals(in Input, loc *time.Location) ([]Interval, error) {
	from, to := in.From.Start(loc), in.To.Start(loc)
	out := make([]Interval, 0, len(in.Intervals))
	// The common case, an interval inside the period, first; then the faults and the rest.
	for i, iv := range in.Intervals {
		if iv.End.After(iv.Start) && iv.Wh >= 0 && !iv.Start.Before(from) && !iv.End.After(to) {
			out = append(out, iv)
			continue
		}
		f := fmt.Sprintf("intervals[%d]", i) // only for the faults and the history
		switch {
		case !iv.End.After(iv.Start):
			return nil, fault.Invalid(f, "end %s is not after start %s", iv.End.Format(time.RFC3339), iv.Start.Format(time.RFC3339))
		case iv.Wh < 0:
			return nil, fault.Invalid(f, "%d Wh is negative: export is not billed yet", iv.Wh)
		case iv.Start.Before(from) && iv.End.After(from):
			return nil, fault.Invalid(f, "%s..%s crosses the period's start %s", iv.Start.Format(time.RFC3339), iv.End.Format(time.RFC3339), from.Format(time.RFC3339))
		case iv.Start.Before(to) && iv.End.After(to):
			return nil, fault.Invalid(f, "%s..%s crosses the period's end %s", iv.Start.Format(time.RFC3339), iv.End.Format(time.RFC3339), to.Format(time.RFC3339))
		case !iv.Start.Before(to):
			continue
		}
		out = append(out, iv)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Start.Before(out[b].Start) })
	for i := 1; i < len(out); i++ {
		if out[i].Start.Before(out[i-1].End) {
			return nil, fault.Invalid("intervals", "%s..%s overlaps %s..%s", out[i].Start.Format(time.RFC3339), out[i].End.Format(time.RFC3339), out[i-1].Start.Format(time.RFC3339), out[i-1].End.Format(time.RFC3339))
		}
	}
	return out, nil
}

// versionAt returns the version in force on date, or nil.
func versionAt(docs []*tariff.Document, date tariff.Date) *tariff.Document {
	var best *tariff.Document
	for _, d := range docs {
		if date.Before(d.EffectiveFrom) || (d.EffectiveTo != nil && !date.Before(*d.EffectiveTo)) {
			continue
		}
		if best == nil || best.EffectiveFrom.Before(d.EffectiveFrom) {
			best = d
		}
	}
	return best
}

// cut splits the period into parts of one version, season and tier year.
func cut(in Input, loc *time.Location) ([]*part, error) {
	var parts []*part
	for d := in.From; d.Before(in.To); d = addDays(d, 1) {
		v := versionAt(in.Tariffs, d)
		if v == nil {
			return nil, fmt.Errorf("%w: %w", ErrNoTariff, fault.Invalid("tariff", "no tariff version is in force on %s", d))
		}
		season := v.SeasonOf(d)
		year := tierYear(v, d)
		if n := len(parts); n > 0 {
			last := parts[n-1]
			if last.doc == v && last.det.Season == season && last.year == year {
				last.det.To = addDays(d, 1)
				last.det.Days++
				continue
			}
		}
		parts = append(parts, &part{doc: v, loc: loc, year: year, det: Determinants{
			From: d, To: addDays(d, 1), Days: 1, Season: season, Tariff: v.ID, Version: v.Version,
		}})
	}
	return parts, nil
}

// tierYear returns the start of the annual tier year holding d, or the zero date when
// tiers are not annual.
func tierYear(doc *tariff.Document, d tariff.Date) tariff.Date {
	if doc.Energy == nil || doc.Energy.TierBasis != tariff.BasisAnnual {
		return tariff.Date{}
	}
	mm, dd := time.January, 1
	if s := doc.Energy.YearStart; s != "" {
		t, _ := time.Parse("01-02", s)
		mm, dd = t.Month(), t.Day()
	}
	y := d.UTC().Year()
	start := tariff.NewDate(y, mm, dd)
	if d.Before(start) {
		start = tariff.NewDate(y-1, mm, dd)
	}
	return start
}

func addDays(d tariff.Date, n int) tariff.Date {
	t := d.UTC().AddDate(0, 0, n)
	return tariff.NewDate(t.Year(), t.Month(), t.Day())
}

func daysBetween(from, to tariff.Date) int {
	return int(to.UTC().Sub(from.UTC()).Hours()/24 + 0.5)
}

// kWh converts watt-hours to exact kWh.
func kWh(wh int64) decimal.Decimal { return decimal.New(wh, -3) }

// ratio is a scale of tier thresholds: num/den (a part's days over the cycle's).
type ratio struct{ num, den int64 }

// one is the ratio of unscaled thresholds.
var one = ratio{1, 1}

// fill returns the amounts of [offset, offset+amount) in each tier, the thresholds scaled
// by scale (rounded to the intermediate precision).
func fill(offset, amount decimal.Decimal, tiers []tariff.Tier, scale ratio) []decimal.Decimal {
	out := make([]decimal.Decimal, len(tiers))
	lo, end := decimal.Zero, offset.Add(amount)
	for k, t := range tiers {
		hi := end
		if t.UpTo != nil {
			hi = t.UpTo.Mul(decimal.NewFromInt(scale.num)).DivRound(decimal.NewFromInt(scale.den), ip)
		}
		a, b := decimal.Max(lo, offset), decimal.Min(hi, end)
		if b.GreaterThan(a) {
			out[k] = b.Sub(a)
		}
		lo = hi
	}
	return out
}

func rateOf(r tariff.Dec, adj *tariff.Dec) decimal.Decimal {
	if adj != nil {
		return r.Add(adj.Decimal)
	}
	return r.Decimal
}

// monthsBefore returns the local midnight of t's date n months earlier.
func monthsBefore(t time.Time, n int, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month()-time.Month(n), l.Day(), 0, 0, 0, 0, loc)
}
