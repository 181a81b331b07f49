package tariff

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestImportURDBGolden converts both rates of the hand-written URDB answer (picked by
// label) and compares the YAML with the golden files (go test -update rewrites them); the
// YAML parses back into the same document.
func TestImportURDBGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/urdb-rates.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ label, golden string }{
		{"", "testdata/urdb-res-flat.golden"},
		{"mh-test-res-flat-2026", "testdata/urdb-res-flat.golden"},
		{"mh-test-gs-tou-2026", "testdata/urdb-gs-tou.golden"},
	} {
		t.Run(tc.label, func(t *testing.T) {
			d, err := ImportURDB(bytes.NewReader(b), URDBOptions{TimeZone: "America/Denver", Label: tc.label})
			if err != nil {
				t.Fatal(err)
			}
			y, err := d.YAML()
			if err != nil {
				t.Fatal(err)
			}
			testenv.Golden(t, tc.golden, string(y))
			again, err := Parse(bytes.NewReader(y))
			if err != nil {
				t.Fatalf("the YAML does not parse: %v", err)
			}
			j1, _ := d.JSON()
			j2, _ := again.JSON()
			if !bytes.Equal(j1, j2) {
				t.Errorf("YAML round trip changed the document:\n%s\n%s", j1, j2)
			}
		})
	}
}

// TestImportURDBMapping checks the commercial rate's mapping field by field, where the
// golden file would hide a wrong reading: seasons from the schedules, the TOU hours, the
// tiers with the last max dropped, the adjustment, the ratchet and the dates.
func TestImportURDBMapping(t *testing.T) {
	f, err := os.Open("testdata/urdb-rates.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := ImportURDB(f, URDBOptions{TimeZone: "America/Denver", Label: "mh-test-gs-tou-2026"})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.SeasonNames(); len(got) != 2 || got[0] != "jun-sep" || got[1] != "oct-may" {
		t.Fatalf("seasons %v, want jun-sep and oct-may", got)
	}
	if d.Seasons[1].From != "10-01" || d.Seasons[1].To != "05-31" {
		t.Errorf("oct-may is %s..%s", d.Seasons[1].From, d.Seasons[1].To)
	}
	tou := d.Energy.TOU
	for _, tc := range []struct {
		season, day string
		hour        int
		want        string
	}{{"jun-sep", Weekday, 14, "period_1"}, {"jun-sep", Weekday, 13, "period_2"}, {"jun-sep", Weekend, 15, "period_2"}, {"jun-sep", Holiday, 15, "period_2"}, {"oct-may", Weekday, 15, "period_0"}} {
		if i := tou.PeriodAt(tc.season, tc.day, tc.hour); i < 0 || tou.Periods[i].Name != tc.want {
			t.Errorf("PeriodAt(%s, %s, %d) = %d, want %s", tc.season, tc.day, tc.hour, i, tc.want)
		}
	}
	p0 := tou.Periods[0]
	if len(p0.Tiers) != 2 || p0.Tiers[0].UpTo.String() != "500" || p0.Tiers[1].UpTo != nil || p0.Tiers[1].Rate.String() != "0.0934" {
		t.Errorf("period_0 tiers %+v", p0.Tiers)
	}
	if p1 := tou.Periods[1]; p1.Rate.String() != "0.1587" || p1.Adjustment.String() != "-0.0042" {
		t.Errorf("period_1 rate %v adjustment %v", p1.Rate, p1.Adjustment)
	}
	if tou.Periods[2].Adjustment != nil {
		t.Errorf("a zero adj became an adjustment %v", tou.Periods[2].Adjustment)
	}
	if d.Energy.TierAllocation != Proportional {
		t.Errorf("tier allocation %q", d.Energy.TierAllocation)
	}
	r := d.Demand.Ratchet
	if r == nil || r.Share.String() != "0.75" || r.Months != 11 || len(r.CountedMonths) != 4 || r.CountedMonths[0] != 6 {
		t.Errorf("ratchet %+v", r)
	}
	if d.Demand.Interval != "30m" || len(d.Demand.Flat) != 1 || len(d.Demand.Flat[0].Months) != 12 {
		t.Errorf("demand %+v", d.Demand)
	}
	if d.EffectiveFrom.String() != "2026-01-01" || d.EffectiveTo.String() != "2027-01-01" || d.Currency != "USD" {
		t.Errorf("effective %s..%s currency %s", d.EffectiveFrom, d.EffectiveTo, d.Currency)
	}
	if d.FixedCharges[0].Per != PerPeriod || d.MinimumBill.Per != PerDay || d.MinimumBill.Amount.String() != "0.95" {
		t.Errorf("fixed %+v minimum %+v", d.FixedCharges, d.MinimumBill)
	}
}

// TestImportURDBRefuses changes the commercial rate one field at a time and checks that
// what the format cannot express is refused, naming the URDB field.
func TestImportURDBRefuses(t *testing.T) {
	b, err := os.ReadFile("testdata/urdb-rates.json")
	if err != nil {
		t.Fatal(err)
	}
	var answer struct{ Items []map[string]any }
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&answer); err != nil {
		t.Fatal(err)
	}
	tier := func(rate string, extra map[string]any) []any {
		m := map[string]any{"rate": json.Number(rate)}
		for k, v := range extra {
			m[k] = v
		}
		return []any{[]any{m}}
	}
	for _, tc := range []struct {
		name   string
		change func(r map[string]any)
		opts   URDBOptions
		field  string
	}{
		{"no time zone", func(map[string]any) {}, URDBOptions{}, "tz"},
		{"unknown time zone", func(map[string]any) {}, URDBOptions{TimeZone: "America/Gotham"}, "tz"},
		{"unknown label", func(map[string]any) {}, URDBOptions{TimeZone: "UTC", Label: "nope"}, "id"},
		{"kWh daily", func(r map[string]any) { r["energyratestructure"] = tier("0.1", map[string]any{"unit": "kWh daily"}) }, URDBOptions{}, "energyratestructure[0][0].unit"},
		{"kWh/kW", func(r map[string]any) { r["energyratestructure"] = tier("0.1", map[string]any{"unit": "kWh/kW"}) }, URDBOptions{}, "energyratestructure[0][0].unit"},
		{"sell rate", func(r map[string]any) {
			r["energyratestructure"] = tier("0.1", map[string]any{"sell": json.Number("0.03")})
		}, URDBOptions{}, "energyratestructure[0][0].sell"},
		{"coincident demand", func(r map[string]any) { r["coincidentratestructure"] = tier("3", nil) }, URDBOptions{}, "coincidentratestructure"},
		{"demand ratchet percentages", func(r map[string]any) {
			r["demandratchetpercentage"] = []any{json.Number("0.8"), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
		}, URDBOptions{}, "demandratchetpercentage[0]"},
		{"hp demand", func(r map[string]any) { r["demandunits"] = "hp" }, URDBOptions{}, "demandunits"},
		{"kVA flat demand", func(r map[string]any) { r["flatdemandunit"] = "kVA" }, URDBOptions{}, "flatdemandunit"},
		{"fixed charge per year", func(r map[string]any) { r["fixedchargeunits"] = "$/year" }, URDBOptions{}, "fixedchargeunits"},
		{"minimum per year", func(r map[string]any) { r["minchargeunits"] = "$/year" }, URDBOptions{}, "minchargeunits"},
		{"hourly demand window", func(r map[string]any) { r["demandwindow"] = json.Number("60") }, URDBOptions{}, "demandwindow"},
		{"schedule of 11 months", func(r map[string]any) {
			r["energyweekdayschedule"] = r["energyweekdayschedule"].([]any)[:11]
		}, URDBOptions{}, "energyweekdayschedule"},
		{"schedule names a missing period", func(r map[string]any) {
			r["energyweekendschedule"].([]any)[2].([]any)[5] = json.Number("7")
		}, URDBOptions{}, "energyweekendschedule[2][5]"},
		{"middle tier without max", func(r map[string]any) {
			delete(r["energyratestructure"].([]any)[0].([]any)[0].(map[string]any), "max")
		}, URDBOptions{}, "energyratestructure[0][0].max"},
		{"lookback as a percentage", func(r map[string]any) { r["lookbackpercent"] = json.Number("75") }, URDBOptions{}, "lookbackpercent"},
		{"no start date", func(r map[string]any) { delete(r, "startdate") }, URDBOptions{}, "startdate"},
		{"tiers out of order", func(r map[string]any) {
			r["energyratestructure"].([]any)[0].([]any)[0].(map[string]any)["max"] = json.Number("-5")
		}, URDBOptions{}, "energy.tou.periods[0].tiers[0].up_to"},
		{"negative rate", func(r map[string]any) {
			r["demandratestructure"].([]any)[1].([]any)[0].(map[string]any)["rate"] = json.Number("-1")
		}, URDBOptions{}, "demand.tou.periods[1].rate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r map[string]any
			raw, _ := json.Marshal(answer.Items[1])
			d := json.NewDecoder(bytes.NewReader(raw))
			d.UseNumber()
			if err := d.Decode(&r); err != nil {
				t.Fatal(err)
			}
			tc.change(r)
			if tc.opts.TimeZone == "" && tc.field != "tz" {
				tc.opts.TimeZone = "America/Denver"
			}
			body, _ := json.Marshal(r)
			_, err := ImportURDB(bytes.NewReader(body), tc.opts)
			var fe *fault.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("ImportURDB: %v, want a fault on %s", err, tc.field)
			}
		})
	}
}
