package tariff

import (
	"fmt"
	"slices"
	"time"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
)

// Line categories that taxes may name besides fixed charges and earlier taxes.
var lineCategories = []string{"energy", "demand", "fixed", "baseline", "minimum_bill"}

// Validate checks the document and returns the first fault as a fault.FieldError naming
// the path of the offending field. It refuses: a malformed id; a missing effective_from,
// an effective_to on or before it; an unknown time zone or currency; seasons that leave a
// day of the year out or overlap; a TOU schedule with an hour in two periods or an hour
// of some day type and season in none; tiers whose thresholds do not strictly increase
// (or a last tier with a threshold); a negative rate, amount, percentage or allowance
// (adjustments may be negative); unknown enumerated values; taxes of unknown lines.
func (d *Document) Validate() error {
	if err := d.checkID(); err != nil {
		return err
	}
	if d.EffectiveFrom.IsZero() {
		return fault.Invalid("effective_from", "required")
	}
	if d.EffectiveTo != nil && !d.EffectiveFrom.Before(*d.EffectiveTo) {
		return fault.Invalid("effective_to", "%s is not after effective_from %s", d.EffectiveTo, d.EffectiveFrom)
	}
	if d.TimeZone == "" || d.TimeZone == "Local" {
		return fault.Invalid("time_zone", "%q: want an IANA time zone like Europe/Berlin", d.TimeZone)
	}
	if _, err := time.LoadLocation(d.TimeZone); err != nil {
		return fault.Invalid("time_zone", "%q is not an IANA time zone", d.TimeZone)
	}
	if _, ok := Currencies[d.Currency]; !ok {
		return fault.Invalid("currency", "%q is not a known ISO 4217 currency", d.Currency)
	}
	if err := oneOf("rounding.mode", d.Rounding.Mode, "half_up", "half_even", "down", "up"); err != nil {
		return err
	}
	if err := oneOf("rounding.per", d.Rounding.Per, "line", "total"); err != nil {
		return err
	}
	if p := d.Rounding.Places; p != nil && (*p < 0 || *p > 6) {
		return fault.Invalid("rounding.places", "%d: want 0 to 6", *p)
	}
	if err := oneOf("cycle_split", d.CycleSplit, "days"); err != nil {
		return err
	}
	if err := d.checkSeasons(); err != nil {
		return err
	}
	if d.Energy == nil && d.Demand == nil && len(d.FixedCharges) == 0 {
		return fault.Invalid("energy", "the tariff has no charge: give energy, demand or fixed_charges")
	}
	lines := slices.Clone(lineCategories)
	addLine := func(path, name string) error {
		if name == "" {
			return fault.Invalid(path, "required")
		}
		if slices.Contains(lines, name) {
			return fault.Invalid(path, "%q is already the name of a line", name)
		}
		lines = append(lines, name)
		return nil
	}
	for i, f := range d.FixedCharges {
		p := fmt.Sprintf("fixed_charges[%d]", i)
		if err := addLine(p+".name", f.Name); err != nil {
			return err
		}
		if err := nonNegative(p+".amount", f.Amount); err != nil {
			return err
		}
		if err := required(p+".per", f.Per, PerPeriod, PerDay); err != nil {
			return err
		}
	}
	if m := d.MinimumBill; m != nil {
		if err := nonNegative("minimum_bill.amount", m.Amount); err != nil {
			return err
		}
		if err := required("minimum_bill.per", m.Per, PerPeriod, PerDay); err != nil {
			return err
		}
	}
	if d.Energy != nil {
		if err := d.checkEnergy(); err != nil {
			return err
		}
	}
	if d.Baseline != nil {
		if err := d.checkBaseline(); err != nil {
			return err
		}
	}
	if d.Demand != nil {
		if err := d.checkDemand(addLine); err != nil {
			return err
		}
	}
	for i, t := range d.Taxes {
		p := fmt.Sprintf("taxes[%d]", i)
		if err := nonNegative(p+".percent", t.Percent); err != nil {
			return err
		}
		if len(t.Of) == 0 {
			return fault.Invalid(p+".of", "name the lines the tax is a percentage of")
		}
		for j, o := range t.Of {
			if !slices.Contains(lines, o) {
				return fault.Invalid(fmt.Sprintf("%s.of[%d]", p, j), "%q is not a line (%v) before this tax", o, lines)
			}
		}
		if err := addLine(p+".name", t.Name); err != nil {
			return err
		}
	}
	if d.Export != nil {
		return d.checkExport()
	}
	return nil
}

func (d *Document) checkID() error {
	if !schema.ValidMeterID([]byte(d.ID)) {
		return fault.Invalid("id", "%q is not a tariff id: want 1-64 characters of A-Z a-z 0-9 . _ : -", d.ID)
	}
	return nil
}

func (d *Document) checkSeasons() error {
	names := map[string]bool{}
	for i, s := range d.Seasons {
		p := fmt.Sprintf("seasons[%d]", i)
		if s.Name == "" {
			return fault.Invalid(p+".name", "required")
		}
		if names[s.Name] {
			return fault.Invalid(p+".name", "%q is given twice", s.Name)
		}
		names[s.Name] = true
		if _, err := parseMonthDay(s.From); err != nil {
			return fault.Invalid(p+".from", "%v", err)
		}
		if _, err := parseMonthDay(s.To); err != nil {
			return fault.Invalid(p+".to", "%v", err)
		}
	}
	if len(d.Seasons) == 0 {
		return nil
	}
	// Walk a leap year: every date in exactly one season.
	for day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC); day.Year() == 2024; day = day.AddDate(0, 0, 1) {
		date := Date{day}
		var in []int
		for i := range d.Seasons {
			one := Document{Seasons: d.Seasons[i : i+1]}
			if one.SeasonOf(date) != "" {
				in = append(in, i)
			}
		}
		switch {
		case len(in) == 0:
			return fault.Invalid("seasons", "%s is in no season: the seasons must cover the year", day.Format("01-02"))
		case len(in) > 1:
			return fault.Invalid(fmt.Sprintf("seasons[%d]", in[1]), "%s is also in season %q: seasons may not overlap", day.Format("01-02"), d.Seasons[in[0]].Name)
		}
	}
	return nil
}

func (d *Document) checkEnergy() error {
	e := d.Energy
	given := 0
	for _, b := range []bool{e.Rate != nil, len(e.Tiers) > 0, e.TOU != nil} {
		if b {
			given++
		}
	}
	if given != 1 {
		return fault.Invalid("energy", "give exactly one of rate, tiers and tou")
	}
	if e.Rate != nil {
		if err := nonNegative("energy.rate", *e.Rate); err != nil {
			return err
		}
	} else if e.Adjustment != nil {
		return fault.Invalid("energy.adjustment", "an adjustment goes with a flat rate; give tiers and periods their own")
	}
	if len(e.Tiers) > 0 {
		if err := checkTiers("energy.tiers", e.Tiers); err != nil {
			return err
		}
	}
	if e.TOU != nil {
		if err := d.checkTOU("energy.tou", e.TOU); err != nil {
			return err
		}
	}
	if err := oneOf("energy.tier_basis", e.TierBasis, BasisPeriod, BasisAnnual); err != nil {
		return err
	}
	if e.YearStart != "" {
		if e.TierBasis != BasisAnnual {
			return fault.Invalid("energy.year_start", "only with tier_basis annual")
		}
		if _, err := parseMonthDay(e.YearStart); err != nil || e.YearStart == "02-29" {
			return fault.Invalid("energy.year_start", "%q: want a date MM-DD other than 02-29", e.YearStart)
		}
	}
	return oneOf("energy.tier_allocation", e.TierAllocation, Proportional, Chronological)
}

func (d *Document) checkBaseline() error {
	b := d.Baseline
	if err := nonNegative("baseline.credit_rate", b.CreditRate); err != nil {
		return err
	}
	if len(b.Allowances) == 0 {
		return fault.Invalid("baseline.allowances", "required")
	}
	seasons := d.SeasonNames()
	have := map[[2]string]bool{}
	territories := []string{}
	for i, a := range b.Allowances {
		p := fmt.Sprintf("baseline.allowances[%d]", i)
		if !slices.Contains(seasons, a.Season) {
			return fault.Invalid(p+".season", "%q is not a season (%v)", a.Season, seasons)
		}
		k := [2]string{a.Territory, a.Season}
		if have[k] {
			return fault.Invalid(p, "territory %q, season %q is given twice", a.Territory, a.Season)
		}
		have[k] = true
		if !slices.Contains(territories, a.Territory) {
			territories = append(territories, a.Territory)
		}
		if err := nonNegative(p+".kwh_per_day", a.KWhPerDay); err != nil {
			return err
		}
	}
	for _, t := range territories {
		for _, s := range seasons {
			if !have[[2]string{t, s}] {
				return fault.Invalid("baseline.allowances", "territory %q has no allowance in season %q", t, s)
			}
		}
	}
	return nil
}

func (d *Document) checkDemand(addLine func(path, name string) error) error {
	m := d.Demand
	if err := oneOf("demand.interval", m.Interval, "15m", "30m"); err != nil {
		return err
	}
	if len(m.Flat) == 0 && m.TOU == nil {
		return fault.Invalid("demand", "give flat or tou")
	}
	month := map[int]string{}
	for i, f := range m.Flat {
		p := fmt.Sprintf("demand.flat[%d]", i)
		if err := addLine(p+".name", f.Name); err != nil {
			return err
		}
		if len(f.Months) == 0 {
			return fault.Invalid(p+".months", "required")
		}
		for j, mo := range f.Months {
			mp := fmt.Sprintf("%s.months[%d]", p, j)
			if mo < 1 || mo > 12 {
				return fault.Invalid(mp, "%d is not a month 1-12", mo)
			}
			if other, ok := month[mo]; ok {
				return fault.Invalid(mp, "month %d is already in %q", mo, other)
			}
			month[mo] = f.Name
		}
		if err := checkPrice(p, f.Rate, f.Adjustment, f.Tiers); err != nil {
			return err
		}
	}
	if m.TOU != nil {
		if err := d.checkTOU("demand.tou", m.TOU); err != nil {
			return err
		}
	}
	if r := m.Ratchet; r != nil {
		if !r.Share.IsPositive() || r.Share.GreaterThan(D("1").Decimal) {
			return fault.Invalid("demand.ratchet.share", "%s: want a fraction above 0, at most 1", r.Share)
		}
		if r.Months < 1 || r.Months > 36 {
			return fault.Invalid("demand.ratchet.months", "%d: want 1 to 36", r.Months)
		}
		seen := map[int]bool{}
		for j, mo := range r.CountedMonths {
			if mo < 1 || mo > 12 || seen[mo] {
				return fault.Invalid(fmt.Sprintf("demand.ratchet.counted_months[%d]", j), "%d: want distinct months 1-12", mo)
			}
			seen[mo] = true
		}
	}
	return nil
}

func (d *Document) checkExport() error {
	x := d.Export
	if err := required("export.mode", x.Mode, ExportNet, ExportCredit); err != nil {
		return err
	}
	if x.Mode == ExportNet {
		if x.Rate != nil || x.TOU != nil {
			return fault.Invalid("export", "mode net_per_interval takes no rate or tou")
		}
		return nil
	}
	if (x.Rate == nil) == (x.TOU == nil) {
		return fault.Invalid("export", "mode credit takes exactly one of rate and tou")
	}
	if x.Rate != nil {
		return nonNegative("export.rate", *x.Rate)
	}
	return d.checkTOU("export.tou", x.TOU)
}

// checkTOU checks that every hour of every day type of every season is in exactly one
// period, and each period's price.
func (d *Document) checkTOU(path string, t *TOU) error {
	if err := oneOf(path+".holidays", t.Holidays, HolidaysAsWeekend, HolidaysOwn); err != nil {
		return err
	}
	if len(t.Periods) == 0 {
		return fault.Invalid(path+".periods", "required")
	}
	seasons := d.SeasonNames()
	dayTypes := []string{Weekday, Weekend}
	if t.Holidays == HolidaysOwn {
		dayTypes = append(dayTypes, Holiday)
	}
	type slot struct {
		season, dayType string
		hour            int
	}
	owner := map[slot]string{}
	names := map[string]bool{}
	for i, p := range t.Periods {
		pp := fmt.Sprintf("%s.periods[%d]", path, i)
		if p.Name == "" {
			return fault.Invalid(pp+".name", "required")
		}
		if names[p.Name] {
			return fault.Invalid(pp+".name", "%q is given twice", p.Name)
		}
		names[p.Name] = true
		if err := checkPrice(pp, p.Rate, p.Adjustment, p.Tiers); err != nil {
			return err
		}
		if len(p.Hours) == 0 {
			return fault.Invalid(pp+".hours", "required")
		}
		for j, h := range p.Hours {
			hp := fmt.Sprintf("%s.hours[%d]", pp, j)
			for k, s := range h.Seasons {
				if !slices.Contains(seasons, s) {
					return fault.Invalid(fmt.Sprintf("%s.seasons[%d]", hp, k), "%q is not a season (%v)", s, seasons)
				}
			}
			for k, dt := range h.DayTypes {
				if !slices.Contains(dayTypes, dt) {
					return fault.Invalid(fmt.Sprintf("%s.day_types[%d]", hp, k), "%q is not a day type here (%v; holiday needs holidays: own)", dt, dayTypes)
				}
			}
			if len(h.Ranges) == 0 {
				return fault.Invalid(hp+".ranges", "required")
			}
			for k, r := range h.Ranges {
				a, b, err := parseRange(r)
				if err != nil {
					return fault.Invalid(fmt.Sprintf("%s.ranges[%d]", hp, k), "%v", err)
				}
				for _, s := range seasons {
					if !matches(h.Seasons, s) {
						continue
					}
					for _, dt := range dayTypes {
						if !matches(h.DayTypes, dt) {
							continue
						}
						for hr := a; hr < b; hr++ {
							sl := slot{s, dt, hr}
							if other, ok := owner[sl]; ok {
								return fault.Invalid(hp, "hour %d of a %s in season %s is already in period %q: periods may not overlap", hr, dt, s, other)
							}
							owner[sl] = p.Name
						}
					}
				}
			}
		}
	}
	for _, s := range seasons {
		for _, dt := range dayTypes {
			for hr := range 24 {
				if _, ok := owner[slot{s, dt, hr}]; !ok {
					return fault.Invalid(path, "hour %d of a %s in season %s is in no period: every hour needs one", hr, dt, s)
				}
			}
		}
	}
	return nil
}

// checkPrice checks a priced item: exactly one of rate and tiers.
func checkPrice(path string, rate, adj *Dec, tiers []Tier) error {
	if (rate == nil) == (len(tiers) == 0) {
		return fault.Invalid(path, "give exactly one of rate and tiers")
	}
	if rate == nil {
		if adj != nil {
			return fault.Invalid(path+".adjustment", "an adjustment goes with a rate; give each tier its own")
		}
		return checkTiers(path+".tiers", tiers)
	}
	return nonNegative(path+".rate", *rate)
}

// checkTiers checks that thresholds strictly increase and the last tier is open.
func checkTiers(path string, tiers []Tier) error {
	var prev *Dec
	for i, t := range tiers {
		p := fmt.Sprintf("%s[%d]", path, i)
		if err := nonNegative(p+".rate", t.Rate); err != nil {
			return err
		}
		last := i == len(tiers)-1
		switch {
		case last && t.UpTo != nil:
			return fault.Invalid(p+".up_to", "the last tier is open: leave up_to out")
		case !last && t.UpTo == nil:
			return fault.Invalid(p+".up_to", "required on every tier but the last")
		case !last && !t.UpTo.IsPositive():
			return fault.Invalid(p+".up_to", "%s is not positive", t.UpTo)
		case !last && prev != nil && !t.UpTo.GreaterThan(prev.Decimal):
			return fault.Invalid(p+".up_to", "%s is not above the previous tier's %s: thresholds must strictly increase", t.UpTo, prev)
		}
		prev = t.UpTo
	}
	return nil
}

func nonNegative(path string, v Dec) error {
	if v.IsNegative() {
		return fault.Invalid(path, "%s is negative", v)
	}
	return nil
}

// oneOf accepts empty (the default) or one of values.
func oneOf(path, v string, values ...string) error {
	if v == "" || slices.Contains(values, v) {
		return nil
	}
	return fault.Invalid(path, "%q: want one of %v", v, values)
}

// required accepts one of values only.
func required(path, v string, values ...string) error {
	if v == "" {
		return fault.Invalid(path, "required: one of %v", values)
	}
	return oneOf(path, v, values...)
}
