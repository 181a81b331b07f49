package tariff

import (
	"errors"
	"testing"

	"github.com/meterhouse/meterhouse/fault"
)

// TestValidateRefuses breaks the worked examples one field at a time and checks that
// Validate names the path of the offending field.
func TestValidateRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		example string
		change  func(d *Document)
		field   string
	}{
		{"bad id", "us", func(d *Document) { d.ID = "a/b" }, "id"},
		{"no effective_from", "us", func(d *Document) { d.EffectiveFrom = Date{} }, "effective_from"},
		{"effective_to on effective_from", "us", func(d *Document) { e := d.EffectiveFrom; d.EffectiveTo = &e }, "effective_to"},
		{"effective_to before effective_from", "us", func(d *Document) { e := NewDate(2025, 1, 1); d.EffectiveTo = &e }, "effective_to"},
		{"unknown time zone", "us", func(d *Document) { d.TimeZone = "Mars/Olympus_Mons" }, "time_zone"},
		{"Local time zone", "us", func(d *Document) { d.TimeZone = "Local" }, "time_zone"},
		{"unknown currency", "us", func(d *Document) { d.Currency = "XYZ" }, "currency"},
		{"lower-case currency", "us", func(d *Document) { d.Currency = "usd" }, "currency"},
		{"unknown rounding mode", "us", func(d *Document) { d.Rounding.Mode = "half_down" }, "rounding.mode"},
		{"rounding places", "us", func(d *Document) { p := 9; d.Rounding.Places = &p }, "rounding.places"},
		{"cycle split", "us", func(d *Document) { d.CycleSplit = "kwh" }, "cycle_split"},
		{"seasons leave a gap", "us", func(d *Document) { d.Seasons[0].To = "09-29" }, "seasons"},
		{"seasons overlap", "us", func(d *Document) { d.Seasons[1].From = "09-30" }, "seasons[1]"},
		{"season date", "us", func(d *Document) { d.Seasons[1].From = "02-30" }, "seasons[1].from"},
		{"season twice", "cn", func(d *Document) { d.Seasons[1].Name = "summer" }, "seasons[1].name"},
		{"negative fixed charge", "us", func(d *Document) { d.FixedCharges[0].Amount = D("-1") }, "fixed_charges[0].amount"},
		{"fixed charge per month", "us", func(d *Document) { d.FixedCharges[1].Per = "month" }, "fixed_charges[1].per"},
		{"fixed charge named like a category", "us", func(d *Document) { d.FixedCharges[1].Name = "energy" }, "fixed_charges[1].name"},
		{"negative minimum", "us", func(d *Document) { d.MinimumBill.Amount = D("-0.01") }, "minimum_bill.amount"},
		{"no charge at all", "us", func(d *Document) { d.Energy, d.Demand, d.FixedCharges, d.Taxes = nil, nil, nil, nil }, "energy"},
		{"energy rate and tiers", "us", func(d *Document) { d.Energy.Rate = DP("0.1") }, "energy"},
		{"negative energy rate", "us", func(d *Document) { d.Energy.Tiers = nil; d.Energy.Rate = DP("-0.1") }, "energy.rate"},
		{"tiers out of order", "us", func(d *Document) {
			d.Energy.Tiers = []Tier{{UpTo: DP("500"), Rate: D("1")}, {UpTo: DP("400"), Rate: D("1")}, {Rate: D("1")}}
		}, "energy.tiers[1].up_to"},
		{"tiers equal", "us", func(d *Document) {
			d.Energy.Tiers = []Tier{{UpTo: DP("500"), Rate: D("1")}, {UpTo: DP("500"), Rate: D("1")}, {Rate: D("1")}}
		}, "energy.tiers[1].up_to"},
		{"tier threshold zero", "us", func(d *Document) { d.Energy.Tiers[0].UpTo = DP("0") }, "energy.tiers[0].up_to"},
		{"last tier closed", "us", func(d *Document) { d.Energy.Tiers[1].UpTo = DP("5000") }, "energy.tiers[1].up_to"},
		{"middle tier open", "us", func(d *Document) { d.Energy.Tiers[0].UpTo = nil }, "energy.tiers[0].up_to"},
		{"negative tier rate", "cn", func(d *Document) { d.Energy.TOU.Periods[3].Tiers[2].Rate = D("-0.5") }, "energy.tou.periods[3].tiers[2].rate"},
		{"negative adjustment is allowed, a negative rate is not", "us", func(d *Document) {
			d.Energy.Tiers[0].Adjustment = DP("-0.01")
			d.Demand.TOU.Periods[1].Rate = DP("-1")
		}, "demand.tou.periods[1].rate"},
		{"tier basis", "cn", func(d *Document) { d.Energy.TierBasis = "monthly" }, "energy.tier_basis"},
		{"tier allocation", "cn", func(d *Document) { d.Energy.TierAllocation = "fifo" }, "energy.tier_allocation"},
		{"year start without annual basis", "us", func(d *Document) { d.Energy.YearStart = "04-01" }, "energy.year_start"},
		{"overlapping TOU periods", "cn", func(d *Document) { d.Energy.TOU.Periods[2].Hours[1].Ranges[1] = "14-18" }, "energy.tou.periods[2].hours[1]"},
		{"TOU hours unassigned", "cn", func(d *Document) { d.Energy.TOU.Periods[3].Hours[0].Ranges = []string{"0-6", "23-24"} }, "energy.tou"},
		{"TOU unassigned for one day type", "us", func(d *Document) {
			d.Demand.TOU.Periods[1].Hours[1].DayTypes = []string{"weekend"}
		}, "demand.tou"},
		{"holiday without holidays own", "cn", func(d *Document) {
			d.Energy.TOU.Periods[3].Hours[0].DayTypes = []string{"weekday", "holiday"}
		}, "energy.tou.periods[3].hours[0].day_types[1]"},
		{"unknown day type", "us", func(d *Document) { d.Demand.TOU.Periods[0].Hours[0].DayTypes = []string{"workday"} }, "demand.tou.periods[0].hours[0].day_types[0]"},
		{"unknown season in hours", "cn", func(d *Document) { d.Energy.TOU.Periods[0].Hours[0].Seasons = []string{"winter"} }, "energy.tou.periods[0].hours[0].seasons[0]"},
		{"hour range wraps midnight", "cn", func(d *Document) { d.Energy.TOU.Periods[3].Hours[0].Ranges = []string{"23-7"} }, "energy.tou.periods[3].hours[0].ranges[0]"},
		{"hour range past 24", "cn", func(d *Document) { d.Energy.TOU.Periods[3].Hours[0].Ranges[1] = "23-25" }, "energy.tou.periods[3].hours[0].ranges[1]"},
		{"period twice", "cn", func(d *Document) { d.Energy.TOU.Periods[1].Name = "flat" }, "energy.tou.periods[2].name"},
		{"period with rate and tiers", "cn", func(d *Document) { d.Energy.TOU.Periods[1].Rate = DP("1") }, "energy.tou.periods[1]"},
		{"baseline unknown season", "us", func(d *Document) { d.Baseline.Allowances[1].Season = "spring" }, "baseline.allowances[1].season"},
		{"baseline season missing", "us", func(d *Document) { d.Baseline.Allowances = d.Baseline.Allowances[:1] }, "baseline.allowances"},
		{"baseline twice", "us", func(d *Document) { d.Baseline.Allowances[1].Season = "summer" }, "baseline.allowances[1]"},
		{"negative allowance", "us", func(d *Document) { d.Baseline.Allowances[0].KWhPerDay = D("-1") }, "baseline.allowances[0].kwh_per_day"},
		{"demand interval", "us", func(d *Document) { d.Demand.Interval = "5m" }, "demand.interval"},
		{"flat demand month twice", "us", func(d *Document) { d.Demand.Flat[1].Months[0] = 6 }, "demand.flat[1].months[0]"},
		{"flat demand month 13", "us", func(d *Document) { d.Demand.Flat[0].Months[0] = 13 }, "demand.flat[0].months[0]"},
		{"flat demand tiers out of order", "us", func(d *Document) { d.Demand.Flat[1].Tiers[0].UpTo = DP("-5") }, "demand.flat[1].tiers[0].up_to"},
		{"ratchet share above 1", "us", func(d *Document) { d.Demand.Ratchet.Share = D("80") }, "demand.ratchet.share"},
		{"ratchet months", "us", func(d *Document) { d.Demand.Ratchet.Months = 0 }, "demand.ratchet.months"},
		{"ratchet counted month twice", "us", func(d *Document) { d.Demand.Ratchet.CountedMonths[1] = 6 }, "demand.ratchet.counted_months[1]"},
		{"negative tax", "us", func(d *Document) { d.Taxes[0].Percent = D("-3") }, "taxes[0].percent"},
		{"tax of an unknown line", "us", func(d *Document) { d.Taxes[0].Of[1] = "demands" }, "taxes[0].of[1]"},
		{"tax of a later tax", "us", func(d *Document) { d.Taxes[0].Of[1] = "sales_tax" }, "taxes[0].of[1]"},
		{"export mode", "us", func(d *Document) { d.Export.Mode = "feed_in" }, "export.mode"},
		{"negative export rate", "us", func(d *Document) { d.Export.Rate = DP("-0.01") }, "export.rate"},
		{"net export with a rate", "us", func(d *Document) { d.Export.Mode = ExportNet }, "export"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := map[string]string{"us": "us-commercial.json", "cn": "cn-residential.yaml"}[tc.example]
			d := readExample(t, file)
			tc.change(d)
			err := d.Validate()
			var fe *fault.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("Validate: %v, want a fault on %s", err, tc.field)
			}
			if !errors.Is(err, fault.ErrInvalid) {
				t.Errorf("%v is not fault.ErrInvalid", err)
			}
		})
	}
}
