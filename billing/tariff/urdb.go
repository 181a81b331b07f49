package tariff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterhouse/meterhouse/fault"
)

// URDBOptions say how ImportURDB converts a rate.
type URDBOptions struct {
	// TimeZone is the IANA zone of the rate's schedules, which the URDB does not carry;
	// required.
	TimeZone string
	// Label picks the rate of an {"items": [...]} answer by its URDB label; empty: the
	// first item.
	Label string
}

// urdbRate is the part of a URDB rate object the import reads. Fields it does not know
// are descriptive (utility's comments, sources) and ignored; fields it knows but cannot
// express are refused by ImportURDB.
type urdbRate struct {
	Label                   string        `json:"label"`
	Name                    string        `json:"name"`
	Utility                 string        `json:"utility"`
	Currency                string        `json:"currency"`
	StartDate               *json.Number  `json:"startdate"`
	EndDate                 *json.Number  `json:"enddate"`
	EnergyRateStructure     [][]urdbTier  `json:"energyratestructure"`
	EnergyWeekdaySchedule   [][]int       `json:"energyweekdayschedule"`
	EnergyWeekendSchedule   [][]int       `json:"energyweekendschedule"`
	DemandRateStructure     [][]urdbTier  `json:"demandratestructure"`
	DemandWeekdaySchedule   [][]int       `json:"demandweekdayschedule"`
	DemandWeekendSchedule   [][]int       `json:"demandweekendschedule"`
	DemandUnits             string        `json:"demandunits"`
	DemandWindow            *json.Number  `json:"demandwindow"`
	FlatDemandStructure     [][]urdbTier  `json:"flatdemandstructure"`
	FlatDemandMonths        []int         `json:"flatdemandmonths"`
	FlatDemandUnit          string        `json:"flatdemandunit"`
	FixedChargeFirstMeter   *json.Number  `json:"fixedchargefirstmeter"`
	FixedChargeUnits        string        `json:"fixedchargeunits"`
	MinCharge               *json.Number  `json:"mincharge"`
	MinChargeUnits          string        `json:"minchargeunits"`
	LookbackPercent         *json.Number  `json:"lookbackpercent"`
	LookbackRange           *int          `json:"lookbackrange"`
	LookbackMonths          []any         `json:"lookbackmonths"`
	DemandRatchetPercentage []json.Number `json:"demandratchetpercentage"`
	CoincidentRateStructure [][]urdbTier  `json:"coincidentratestructure"`
	CoincidentRateSchedule  [][]int       `json:"coincidentrateschedule"`
}

// urdbTier is one tier of a URDB rate structure.
type urdbTier struct {
	Max  *json.Number `json:"max"`
	Rate *json.Number `json:"rate"`
	Adj  *json.Number `json:"adj"`
	Unit string       `json:"unit"`
	Sell *json.Number `json:"sell"`
}

var monthNames = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// ImportURDB converts one rate of the OpenEI Utility Rate Database's JSON (a rate object,
// or the API's {"items": [...]} answer) into a document, which it validates. It maps
// energyratestructure and the energy schedules to seasons (runs of months with the same
// schedules) and TOU periods named period_N after the URDB's period indices (a rate of one
// period is flat or tiered), with tier_allocation proportional, the URDB's reading;
// demandratestructure and its schedules to demand TOU periods; flatdemandstructure and
// flatdemandmonths to flat demand charges; fixedchargefirstmeter ($/month or $/day) to a
// fixed charge; mincharge to a minimum bill; lookbackpercent, lookbackrange and
// lookbackmonths to a ratchet; startdate and enddate (epoch seconds) to the effective
// dates, read in opts.TimeZone. A missing currency is USD.
//
// It refuses, with a fault.FieldError naming the URDB field: energy units other than kWh
// (kWh daily, kWh/kW), demand units other than kW, coincident demand, monthly demand
// ratchet percentages, sell (export) rates, fixed charge or minimum units other than
// $/month and $/day, demand windows other than 15 or 30 minutes, and schedules that are
// not 12 × 24 or name a period the structure lacks.
func ImportURDB(r io.Reader, opts URDBOptions) (*Document, error) {
	if opts.TimeZone == "" {
		return nil, fault.Invalid("tz", "the URDB carries no time zone: give one (--tz)")
	}
	loc, err := time.LoadLocation(opts.TimeZone)
	if err != nil || opts.TimeZone == "Local" {
		return nil, fault.Invalid("tz", "%q is not an IANA time zone", opts.TimeZone)
	}
	b, err := io.ReadAll(io.LimitReader(r, 16*MaxDocumentBytes))
	if err != nil {
		return nil, fmt.Errorf("read URDB rate: %w", err)
	}
	rate, err := pickURDB(b, opts.Label)
	if err != nil {
		return nil, err
	}
	return rate.convert(loc, opts.TimeZone)
}

func pickURDB(b []byte, label string) (*urdbRate, error) {
	var probe struct {
		Items []json.RawMessage `json:"items"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&probe); err != nil {
		return nil, fault.Invalid("body", "not a URDB JSON rate: %v", err)
	}
	raws := probe.Items
	if raws == nil {
		raws = []json.RawMessage{b}
	}
	var labels []string
	for i, raw := range raws {
		var rt urdbRate
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&rt); err != nil {
			return nil, fault.Invalid(fmt.Sprintf("items[%d]", i), "not a URDB rate: %v", err)
		}
		if label == "" || rt.Label == label {
			return &rt, nil
		}
		labels = append(labels, rt.Label)
	}
	if label == "" {
		return nil, fault.Invalid("items", "the answer holds no rate")
	}
	return nil, fault.Invalid("id", "no rate labelled %q (labels: %s)", label, strings.Join(labels, ", "))
}

func (u *urdbRate) convert(loc *time.Location, zone string) (*Document, error) {
	id := u.Label
	if id == "" {
		return nil, fault.Invalid("label", "required: it becomes the tariff's id")
	}
	d := &Document{ID: id, Name: u.Name, TimeZone: zone, Currency: u.Currency,
		Source: &Source{Kind: "urdb", Reference: u.Label, Utility: u.Utility}}
	if d.Currency == "" {
		d.Currency = "USD"
	}
	if u.StartDate == nil {
		return nil, fault.Invalid("startdate", "required: it becomes effective_from")
	}
	from, err := epochDate("startdate", *u.StartDate, loc)
	if err != nil {
		return nil, err
	}
	d.EffectiveFrom = from
	if u.EndDate != nil {
		to, err := epochDate("enddate", *u.EndDate, loc)
		if err != nil {
			return nil, err
		}
		d.EffectiveTo = &to
	}
	if err := u.refuseInexpressible(); err != nil {
		return nil, err
	}
	schedules := []struct {
		name  string
		m     [][]int
		count int
	}{
		{"energyweekdayschedule", u.EnergyWeekdaySchedule, len(u.EnergyRateStructure)},
		{"energyweekendschedule", u.EnergyWeekendSchedule, len(u.EnergyRateStructure)},
		{"demandweekdayschedule", u.DemandWeekdaySchedule, len(u.DemandRateStructure)},
		{"demandweekendschedule", u.DemandWeekendSchedule, len(u.DemandRateStructure)},
	}
	for _, s := range schedules {
		if s.count == 0 && s.m == nil {
			continue
		}
		if err := checkSchedule(s.name, s.m, s.count); err != nil {
			return nil, err
		}
	}
	// Seasons: runs of months whose four schedules agree (around the year's end).
	sig := make([]string, 12)
	for m := range 12 {
		for _, s := range schedules {
			if s.m != nil {
				sig[m] += fmt.Sprint(s.m[m])
			}
		}
	}
	var seasonOf [12]string
	start := 0
	for start < 12 && sig[start] == sig[(start+11)%12] {
		start++
	}
	if start < 12 {
		for i := 0; i < 12; {
			first := (start + i) % 12
			j := i
			for j+1 < 12 && sig[(start+j+1)%12] == sig[first] {
				j++
			}
			last := (start + j) % 12
			name := monthNames[first]
			if last != first {
				name += "-" + monthNames[last]
			}
			d.Seasons = append(d.Seasons, Season{Name: name, From: fmt.Sprintf("%02d-01", first+1), To: monthEnd(last)})
			for k := i; k <= j; k++ {
				seasonOf[(start+k)%12] = name
			}
			i = j + 1
		}
	} else {
		for m := range seasonOf {
			seasonOf[m] = "all"
		}
	}
	if len(u.EnergyRateStructure) > 0 {
		if d.Energy, err = u.energy(seasonOf); err != nil {
			return nil, err
		}
	}
	if len(u.DemandRateStructure) > 0 || len(u.FlatDemandStructure) > 0 {
		if d.Demand, err = u.demand(seasonOf); err != nil {
			return nil, err
		}
	}
	if u.FixedChargeFirstMeter != nil {
		amount, err := urdbDec("fixedchargefirstmeter", *u.FixedChargeFirstMeter)
		if err != nil {
			return nil, err
		}
		per, err := urdbPer("fixedchargeunits", u.FixedChargeUnits)
		if err != nil {
			return nil, err
		}
		if !amount.IsZero() {
			d.FixedCharges = []FixedCharge{{Name: "customer_charge", Amount: Dec{amount}, Per: per}}
		}
	}
	if u.MinCharge != nil {
		amount, err := urdbDec("mincharge", *u.MinCharge)
		if err != nil {
			return nil, err
		}
		per, err := urdbPer("minchargeunits", u.MinChargeUnits)
		if err != nil {
			return nil, err
		}
		if !amount.IsZero() {
			d.MinimumBill = &MinimumBill{Amount: Dec{amount}, Per: per}
		}
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("the converted document is not valid: %w", err)
	}
	return d, nil
}

// refuseInexpressible refuses what the document format cannot say.
func (u *urdbRate) refuseInexpressible() error {
	if len(u.CoincidentRateStructure) > 0 || len(u.CoincidentRateSchedule) > 0 {
		return fault.Invalid("coincidentratestructure", "coincident demand charges cannot be imported")
	}
	for i, p := range u.DemandRatchetPercentage {
		if v, err := decimal.NewFromString(string(p)); err != nil || !v.IsZero() {
			return fault.Invalid(fmt.Sprintf("demandratchetpercentage[%d]", i), "monthly demand ratchet percentages cannot be imported (use lookbackpercent)")
		}
	}
	if u.DemandUnits != "" && u.DemandUnits != "kW" {
		return fault.Invalid("demandunits", "%q: only kW demand can be imported", u.DemandUnits)
	}
	if u.FlatDemandUnit != "" && u.FlatDemandUnit != "kW" {
		return fault.Invalid("flatdemandunit", "%q: only kW demand can be imported", u.FlatDemandUnit)
	}
	for _, s := range []struct {
		name string
		st   [][]urdbTier
	}{{"energyratestructure", u.EnergyRateStructure}, {"demandratestructure", u.DemandRateStructure}, {"flatdemandstructure", u.FlatDemandStructure}} {
		for p, tiers := range s.st {
			if len(tiers) == 0 {
				return fault.Invalid(fmt.Sprintf("%s[%d]", s.name, p), "a period without tiers")
			}
			for t, tier := range tiers {
				path := fmt.Sprintf("%s[%d][%d]", s.name, p, t)
				if s.name == "energyratestructure" && tier.Unit != "" && tier.Unit != "kWh" {
					return fault.Invalid(path+".unit", "%q: only kWh tiers over the billing period can be imported", tier.Unit)
				}
				if tier.Sell != nil {
					if v, err := decimal.NewFromString(string(*tier.Sell)); err != nil || !v.IsZero() {
						return fault.Invalid(path+".sell", "sell (export) rates cannot be imported yet")
					}
				}
			}
		}
	}
	return nil
}

// energy converts the energy structure and schedules.
func (u *urdbRate) energy(seasonOf [12]string) (*Energy, error) {
	if len(u.EnergyRateStructure) == 1 && (u.EnergyWeekdaySchedule == nil || onePeriod(u.EnergyWeekdaySchedule, u.EnergyWeekendSchedule)) {
		rate, adj, tiers, err := urdbPrice("energyratestructure[0]", u.EnergyRateStructure[0])
		if err != nil {
			return nil, err
		}
		return &Energy{Rate: rate, Adjustment: adj, Tiers: tiers, TierAllocation: Proportional}, nil
	}
	if u.EnergyWeekdaySchedule == nil || u.EnergyWeekendSchedule == nil {
		return nil, fault.Invalid("energyweekdayschedule", "a rate of several periods needs both energy schedules")
	}
	tou, err := urdbTOU("energyratestructure", u.EnergyRateStructure, u.EnergyWeekdaySchedule, u.EnergyWeekendSchedule, seasonOf)
	if err != nil {
		return nil, err
	}
	return &Energy{TOU: tou, TierAllocation: Proportional}, nil
}

// demand converts the demand structures, schedules and the lookback ratchet.
func (u *urdbRate) demand(seasonOf [12]string) (*Demand, error) {
	m := &Demand{}
	if u.DemandWindow != nil {
		switch string(*u.DemandWindow) {
		case "15":
			m.Interval = "15m"
		case "30":
			m.Interval = "30m"
		default:
			return nil, fault.Invalid("demandwindow", "%s minutes: only 15 or 30 can be imported", *u.DemandWindow)
		}
	}
	if len(u.DemandRateStructure) > 0 {
		if u.DemandWeekdaySchedule == nil || u.DemandWeekendSchedule == nil {
			return nil, fault.Invalid("demandweekdayschedule", "demandratestructure needs both demand schedules")
		}
		tou, err := urdbTOU("demandratestructure", u.DemandRateStructure, u.DemandWeekdaySchedule, u.DemandWeekendSchedule, seasonOf)
		if err != nil {
			return nil, err
		}
		m.TOU = tou
	}
	if len(u.FlatDemandStructure) > 0 {
		if len(u.FlatDemandMonths) != 12 {
			return nil, fault.Invalid("flatdemandmonths", "want 12 period indices, one per month")
		}
		for p, tiers := range u.FlatDemandStructure {
			var months []int
			for mo, q := range u.FlatDemandMonths {
				if q < 0 || q >= len(u.FlatDemandStructure) {
					return nil, fault.Invalid(fmt.Sprintf("flatdemandmonths[%d]", mo), "period %d is not in flatdemandstructure", q)
				}
				if q == p {
					months = append(months, mo+1)
				}
			}
			if months == nil {
				continue
			}
			rate, adj, ts, err := urdbPrice(fmt.Sprintf("flatdemandstructure[%d]", p), tiers)
			if err != nil {
				return nil, err
			}
			m.Flat = append(m.Flat, FlatDemand{Name: fmt.Sprintf("flat_demand_%d", p), Months: months, Rate: rate, Adjustment: adj, Tiers: ts})
		}
	}
	if u.LookbackPercent != nil {
		share, err := urdbDec("lookbackpercent", *u.LookbackPercent)
		if err != nil {
			return nil, err
		}
		if !share.IsZero() {
			if share.GreaterThan(decimal.NewFromInt(1)) {
				return nil, fault.Invalid("lookbackpercent", "%s: want a fraction (0.8 for 80 %%)", share)
			}
			if u.LookbackRange == nil || *u.LookbackRange < 1 {
				return nil, fault.Invalid("lookbackrange", "a lookback needs its number of months")
			}
			r := &Ratchet{Share: Dec{share}, Months: *u.LookbackRange}
			if u.LookbackMonths != nil {
				if len(u.LookbackMonths) != 12 {
					return nil, fault.Invalid("lookbackmonths", "want 12 values, one per month")
				}
				for mo, v := range u.LookbackMonths {
					if v == true || v == json.Number("1") {
						r.CountedMonths = append(r.CountedMonths, mo+1)
					}
				}
				if len(r.CountedMonths) == 12 {
					r.CountedMonths = nil
				}
			}
			m.Ratchet = r
		}
	}
	return m, nil
}

// urdbTOU converts a structure and its weekday and weekend schedules into TOU periods.
func urdbTOU(name string, st [][]urdbTier, weekday, weekend [][]int, seasonOf [12]string) (*TOU, error) {
	tou := &TOU{}
	for p := range st {
		period := Period{Name: fmt.Sprintf("period_%d", p)}
		var err error
		if period.Rate, period.Adjustment, period.Tiers, err = urdbPrice(fmt.Sprintf("%s[%d]", name, p), st[p]); err != nil {
			return nil, err
		}
		done := map[string]bool{}
		for m := range 12 {
			s := seasonOf[m]
			if done[s] {
				continue
			}
			done[s] = true
			wd, we := hourRanges(weekday[m], p), hourRanges(weekend[m], p)
			var seasons []string
			if s != "all" {
				seasons = []string{s}
			}
			switch {
			case slices.Equal(wd, we) && wd != nil:
				period.Hours = append(period.Hours, Hours{Seasons: seasons, Ranges: wd})
			default:
				if wd != nil {
					period.Hours = append(period.Hours, Hours{Seasons: seasons, DayTypes: []string{Weekday}, Ranges: wd})
				}
				if we != nil {
					period.Hours = append(period.Hours, Hours{Seasons: seasons, DayTypes: []string{Weekend}, Ranges: we})
				}
			}
		}
		if period.Hours != nil { // a period no schedule uses is left out
			tou.Periods = append(tou.Periods, period)
		}
	}
	return tou, nil
}

// hourRanges returns the ranges "H-H" of the hours of row in period p.
func hourRanges(row []int, p int) []string {
	var out []string
	for h := 0; h < 24; h++ {
		if row[h] != p {
			continue
		}
		e := h
		for e < 24 && row[e] == p {
			e++
		}
		out = append(out, fmt.Sprintf("%d-%d", h, e))
		h = e
	}
	return out
}

// urdbPrice converts a period's tiers: one tier is a rate (and adjustment), several are
// tiers whose last threshold is dropped (the last tier is open).
func urdbPrice(path string, tiers []urdbTier) (*Dec, *Dec, []Tier, error) {
	conv := func(i int, t urdbTier) (Dec, *Dec, error) {
		rate := decimal.Zero
		var err error
		if t.Rate != nil {
			if rate, err = urdbDec(fmt.Sprintf("%s[%d].rate", path, i), *t.Rate); err != nil {
				return Dec{}, nil, err
			}
		}
		var adj *Dec
		if t.Adj != nil {
			a, err := urdbDec(fmt.Sprintf("%s[%d].adj", path, i), *t.Adj)
			if err != nil {
				return Dec{}, nil, err
			}
			if !a.IsZero() {
				adj = &Dec{a}
			}
		}
		return Dec{rate}, adj, nil
	}
	if len(tiers) == 1 {
		rate, adj, err := conv(0, tiers[0])
		return &rate, adj, nil, err
	}
	out := make([]Tier, len(tiers))
	for i, t := range tiers {
		rate, adj, err := conv(i, t)
		if err != nil {
			return nil, nil, nil, err
		}
		out[i] = Tier{Rate: rate, Adjustment: adj}
		if i < len(tiers)-1 {
			if t.Max == nil {
				return nil, nil, nil, fault.Invalid(fmt.Sprintf("%s[%d].max", path, i), "required on every tier but the last")
			}
			m, err := urdbDec(fmt.Sprintf("%s[%d].max", path, i), *t.Max)
			if err != nil {
				return nil, nil, nil, err
			}
			out[i].UpTo = &Dec{m}
		}
	}
	return nil, nil, out, nil
}

func checkSchedule(name string, m [][]int, periods int) error {
	if len(m) != 12 {
		return fault.Invalid(name, "want 12 months of 24 hours, got %d months", len(m))
	}
	for mo, row := range m {
		if len(row) != 24 {
			return fault.Invalid(fmt.Sprintf("%s[%d]", name, mo), "want 24 hours, got %d", len(row))
		}
		for h, p := range row {
			if p < 0 || p >= periods {
				return fault.Invalid(fmt.Sprintf("%s[%d][%d]", name, mo, h), "period %d is not in the rate structure (%d periods)", p, periods)
			}
		}
	}
	return nil
}

func onePeriod(ms ...[][]int) bool {
	for _, m := range ms {
		for _, row := range m {
			for _, p := range row {
				if p != 0 {
					return false
				}
			}
		}
	}
	return true
}

func urdbDec(path string, n json.Number) (decimal.Decimal, error) {
	v, err := decimal.NewFromString(string(n))
	if err != nil {
		return decimal.Decimal{}, fault.Invalid(path, "%q is not a number", string(n))
	}
	return v, nil
}

func urdbPer(path, units string) (string, error) {
	switch units {
	case "", "$/month":
		return PerPeriod, nil
	case "$/day":
		return PerDay, nil
	}
	return "", fault.Invalid(path, "%q: only $/month and $/day can be imported", units)
}

func epochDate(path string, n json.Number, loc *time.Location) (Date, error) {
	s, err := n.Int64()
	if err != nil {
		return Date{}, fault.Invalid(path, "%q is not a time in epoch seconds", string(n))
	}
	return DateOf(time.Unix(s, 0), time.UTC), nil
}

// monthEnd returns the MM-DD of the last day of month m (0-based) in a leap year.
func monthEnd(m int) string {
	last := time.Date(2024, time.Month(m+2), 0, 0, 0, 0, 0, time.UTC)
	return last.Format("01-02")
}
