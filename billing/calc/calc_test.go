package calc

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/billing/tariff"
	"github.com/meterhouse/meterhouse/calendar/holidays"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/shopspring/decimal"
)

// doc parses and validates a tariff document; head holds id, dates, zone and currency.
func doc(t *testing.T, zone, from, body string) *tariff.Document {
	t.Helper()
	src := "id: T\neffective_from: " + from + "\ntime_zone: " + zone + "\ncurrency: USD\n" + body
	d, err := tariff.Parse(strings.NewReader(src))
	if err != nil {
		t.Fatalf("tariff: %v\n%s", err, src)
	}
	return d
}

func date(s string) tariff.Date {
	d, err := tariff.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// series returns intervals of step from the local time start (in zone) until end, each
// with wh(local start).
func series(zone, start, end string, step time.Duration, wh func(local time.Time) int64) []Interval {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		panic(err)
	}
	s, _ := time.ParseInLocation("2006-01-02 15:04", start, loc)
	e, _ := time.ParseInLocation("2006-01-02 15:04", end, loc)
	var out []Interval
	for t := s; t.Before(e); t = t.Add(step) {
		out = append(out, Interval{Start: t, End: t.Add(step), Wh: wh(t.In(loc))})
	}
	return out
}

func constant(wh int64) func(time.Time) int64 { return func(time.Time) int64 { return wh } }

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// lines renders a bill's lines as "name qty unit rate amount" for comparison.
func lines(b *Bill) []string {
	var out []string
	for _, l := range b.Lines {
		out = append(out, l.Name+" "+l.Quantity.String()+" "+l.Unit+" "+l.Rate.String()+" "+l.Amount.String())
	}
	return out
}

func check(t *testing.T, b *Bill, total string, want ...string) {
	t.Helper()
	got := lines(b)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !b.Total.Equal(dec(total)) {
		t.Errorf("total %s, want %s", b.Total, total)
	}
}

const tou = `
energy:
  tier_allocation: %s
  tou:
    periods:
      - name: off
        tiers: [{up_to: 100, rate: 0.10}, {rate: 0.20}]
        hours: [{ranges: ["0-12"]}]
      - name: peak
        tiers: [{up_to: 100, rate: 0.30}, {rate: 0.50}]
        hours: [{ranges: ["12-24"]}]
`

// TestWorkedExamples computes hand-computed bills for each component and combinations.
func TestWorkedExamples(t *testing.T) {
	hourly1kWh := series("UTC", "2026-04-01 00:00", "2026-05-01 00:00", time.Hour, constant(1000)) // 720 kWh
	// 10 days: the first 5 with 2 kWh in each hour 0-9 (off, 100 kWh), the last 5 with
	// 2 kWh in each hour 12-21 (peak, 100 kWh).
	offThenPeak := series("UTC", "2026-04-01 00:00", "2026-04-11 00:00", time.Hour, func(l time.Time) int64 {
		if l.Day() <= 5 && l.Hour() < 10 || l.Day() > 5 && l.Hour() >= 12 && l.Hour() < 22 {
			return 2000
		}
		return 0
	})
	cases := []struct {
		name      string
		tariff    string
		from, to  string
		cycleDays int
		ivs       []Interval
		total     string
		lines     []string
	}{{
		name: "flat energy, fixed per period and per day, a tax",
		tariff: `fixed_charges: [{name: customer, amount: 10, per: period}, {name: meter, amount: 0.5, per: day}]
energy: {rate: 0.25}
taxes: [{name: tax, percent: 10, of: [energy, fixed]}]`,
		from: "2026-04-01", to: "2026-05-01", ivs: hourly1kWh,
		// 720 × 0.25 = 180; 30 × 0.5 = 15; 10 % of 205 = 20.50
		total: "225.5",
		lines: []string{"customer 1 period 10 10", "meter 30 day 0.5 15", "energy 720 kWh 0.25 180", "tax 205 USD 0.1 20.5"},
	}, {
		name:   "block tiers over the period",
		tariff: `energy: {tiers: [{up_to: 100, rate: 0.10}, {up_to: 300, rate: 0.20}, {rate: 0.30}]}`,
		from:   "2026-04-01", to: "2026-04-18", // 17 days × 24 kWh = 408 kWh
		ivs: hourly1kWh,
		// 100 × 0.1 + 200 × 0.2 + 108 × 0.3 = 10 + 40 + 32.40; thresholds scale 17/17
		total: "82.4",
		lines: []string{"energy tier 1 100 kWh 0.1 10", "energy tier 2 200 kWh 0.2 40", "energy tier 3 108 kWh 0.3 32.4"},
	}, {
		name: "partial period at move-in: thresholds and fixed charge by days",
		tariff: `fixed_charges: [{name: customer, amount: 10, per: period}]
energy: {tiers: [{up_to: 100, rate: 0.10}, {up_to: 300, rate: 0.20}, {rate: 0.30}]}`,
		from: "2026-04-21", to: "2026-05-01", cycleDays: 30, // 10 of 30 days, 240 kWh
		ivs: hourly1kWh,
		// thresholds 33.3333333333 and 100; 33.3333333333 × 0.1 = 3.33, 66.6666666667 × 0.2 = 13.33,
		// 140 × 0.3 = 42; customer 10 × 0.3333333333 = 3.33
		total: "61.99",
		lines: []string{"customer 0.3333333333 period 10 3.33", "energy tier 1 33.3333333333 kWh 0.1 3.33",
			"energy tier 2 66.6666666667 kWh 0.2 13.33", "energy tier 3 140 kWh 0.3 42"},
	}, {
		name:   "TOU x tiers, proportional",
		tariff: strings.ReplaceAll(tou, "%s", "proportional"),
		from:   "2026-04-01", to: "2026-04-11", ivs: offThenPeak,
		// the total 200 kWh is half tier 1, half tier 2; each period's 100 kWh likewise:
		// off 50 × 0.1 + 50 × 0.2 = 15, peak 50 × 0.3 + 50 × 0.5 = 40
		total: "55",
		lines: []string{"energy off tier 1 50 kWh 0.1 5", "energy off tier 2 50 kWh 0.2 10",
			"energy peak tier 1 50 kWh 0.3 15", "energy peak tier 2 50 kWh 0.5 25"},
	}, {
		name:   "TOU x tiers, chronological",
		tariff: strings.ReplaceAll(tou, "%s", "chronological"),
		from:   "2026-04-01", to: "2026-04-11", ivs: offThenPeak,
		// off's 100 kWh come first and fill tier 1: 10; peak's are all tier 2: 50
		total: "60",
		lines: []string{"energy off tier 1 100 kWh 0.1 10", "energy peak tier 2 100 kWh 0.5 50"},
	}, {
		name:   "cumulative annual tiers count the year's history",
		tariff: `energy: {tier_basis: annual, tiers: [{up_to: 1000, rate: 0.5}, {rate: 0.8}]}`,
		from:   "2026-03-01", to: "2026-03-02",
		ivs: append([]Interval{
			{Start: time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Wh: 5_000_000}, // last year: not counted
			{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Wh: 900_000},
		}, series("UTC", "2026-03-01 00:00", "2026-03-02 00:00", time.Hour, constant(12500))...), // 300 kWh
		// 900 kWh before: 100 × 0.5 + 200 × 0.8 = 50 + 160
		total: "210",
		lines: []string{"energy tier 1 100 kWh 0.5 50", "energy tier 2 200 kWh 0.8 160"},
	}, {
		name: "minimum bill is a floor on energy + demand + fixed; taxes after",
		tariff: `fixed_charges: [{name: customer, amount: 5, per: period}]
minimum_bill: {amount: 50, per: period}
energy: {rate: 0.25}
taxes: [{name: tax, percent: 10, of: [energy, fixed, minimum_bill]}]`,
		from: "2026-04-01", to: "2026-05-01",
		ivs: series("UTC", "2026-04-01 00:00", "2026-04-01 10:00", time.Hour, constant(1000)), // 10 kWh
		// 5 + 2.50 = 7.50 → minimum 42.50; tax 10 % of 50
		total: "55",
		lines: []string{"customer 1 period 5 5", "energy 10 kWh 0.25 2.5", "minimum_bill 1 bill 42.5 42.5", "tax 50 USD 0.1 5"},
	}, {
		name: "baseline credit up to the daily allowance",
		tariff: `energy: {rate: 0.25}
baseline: {credit_rate: 0.05, allowances: [{season: all, kwh_per_day: 10}]}`,
		from: "2026-04-01", to: "2026-05-01", ivs: hourly1kWh,
		// 720 kWh; allowance 30 × 10 = 300 → −15
		total: "165",
		lines: []string{"energy 720 kWh 0.25 180", "baseline 300 kWh -0.05 -15"},
	}, {
		name:   "rounding half up per line",
		tariff: `energy: {rate: 0.25}`,
		from:   "2026-04-01", to: "2026-04-02",
		ivs:   []Interval{{Start: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC), Wh: 500}},
		total: "0.13", // 0.125
		lines: []string{"energy 0.5 kWh 0.25 0.13"},
	}, {
		name: "rounding half even per line",
		tariff: `rounding: {mode: half_even}
energy: {rate: 0.25}`,
		from: "2026-04-01", to: "2026-04-02",
		ivs:   []Interval{{Start: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC), Wh: 500}},
		total: "0.12",
		lines: []string{"energy 0.5 kWh 0.25 0.12"},
	}, {
		name: "rounding per total",
		tariff: `rounding: {per: total}
fixed_charges: [{name: a, amount: 0.004, per: period}, {name: b, amount: 0.004, per: period}]`,
		from: "2026-04-01", to: "2026-04-02",
		total: "0.01", // 0.008
		lines: []string{"a 1 period 0.004 0.004", "b 1 period 0.004 0.004"},
	}, {
		name: "a tax of a tax and of one named fixed charge",
		tariff: `fixed_charges: [{name: a, amount: 100, per: period}, {name: b, amount: 50, per: period}]
taxes: [{name: levy, percent: 2, of: [a]}, {name: vat, percent: 20, of: [fixed, levy]}]`,
		from: "2026-04-01", to: "2026-05-01",
		// levy 2 % of 100 = 2; vat 20 % of 152 = 30.40
		total: "182.4",
		lines: []string{"a 1 period 100 100", "b 1 period 50 50", "levy 100 USD 0.02 2", "vat 152 USD 0.2 30.4"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := doc(t, "UTC", "2026-01-01", c.tariff)
			b, err := Compute(Input{Tariffs: []*tariff.Document{d}, From: date(c.from), To: date(c.to), CycleDays: c.cycleDays, Intervals: c.ivs})
			if err != nil {
				t.Fatal(err)
			}
			check(t, b, c.total, c.lines...)
		})
	}
}

// TestDeterminantsAddUp checks that the determinants' kWh is the sum of the billed
// intervals' energy, per TOU period and per tier as well, on a month of uneven 15-minute
// data with history before the period.
func TestDeterminantsAddUp(t *testing.T) {
	d := doc(t, "Europe/Berlin", "2026-01-01", strings.ReplaceAll(tou, "%s", "proportional")+`
demand: {flat: [{name: max_demand, months: [1,2,3,4,5,6,7,8,9,10,11,12], rate: 5}]}`)
	ivs := series("Europe/Berlin", "2026-02-20 00:00", "2026-04-01 00:00", 15*time.Minute, func(l time.Time) int64 {
		return int64(l.Unix()/900%37) * 17
	})
	ivs[len(ivs)-5].Estimated = true
	ivs[len(ivs)-9].Estimated = true
	b, err := Compute(Input{Tariffs: []*tariff.Document{d}, From: date("2026-03-01"), To: date("2026-04-01"), Intervals: ivs})
	if err != nil {
		t.Fatal(err)
	}
	var wh, est int64
	n := 0
	loc, _ := time.LoadLocation("Europe/Berlin")
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, loc)
	for _, iv := range ivs {
		if !iv.Start.Before(from) {
			wh += iv.Wh
			n++
			if iv.Estimated {
				est += iv.Wh
			}
		}
	}
	p := b.Parts[0]
	if len(b.Parts) != 1 || !p.KWh.Equal(kWh(wh)) || p.Intervals != n || n != 31*96-4 {
		t.Fatalf("parts %d, kWh %s, intervals %d: want Σ %s over %d (31 days less the spring's 4 quarters)", len(b.Parts), p.KWh, p.Intervals, kWh(wh), n)
	}
	sum := p.PeriodKWh["off"].Add(p.PeriodKWh["peak"])
	tiers := p.TierKWh[0].Add(p.TierKWh[1])
	if !sum.Equal(p.KWh) || !tiers.Equal(p.KWh) {
		t.Errorf("periods Σ %s, tiers Σ %s, want %s", sum, tiers, p.KWh)
	}
	if p.Days != 31 || b.EstimatedIntervals != 2 || b.EstimatedWh != est || est == 0 {
		t.Errorf("days %d, estimated %d intervals %d Wh, want 31, 2, %d", p.Days, b.EstimatedIntervals, b.EstimatedWh, est)
	}
	// The highest quarter holds 36 × 17 Wh: 612 Wh in 15 minutes is 2.448 kW.
	if !p.MaxDemandKW.Equal(dec("2.448")) {
		t.Errorf("max demand %s, want 2.448", p.MaxDemandKW)
	}
}

// TestDemand covers flat, TOU, tiered demand, the ratchet, a 30-minute demand interval
// and hourly data.
func TestDemand(t *testing.T) {
	utc := func(m time.Month, d, h, min int) time.Time { return time.Date(2026, m, d, h, min, 0, 0, time.UTC) }
	q := func(start time.Time, wh int64) Interval {
		return Interval{Start: start, End: start.Add(15 * time.Minute), Wh: wh}
	}
	april := []Interval{q(utc(4, 2, 13, 0), 10000), q(utc(4, 2, 13, 15), 6000), q(utc(4, 3, 3, 0), 2000)}
	all := "months: [1,2,3,4,5,6,7,8,9,10,11,12]"
	cases := []struct {
		name, tariff string
		ivs          []Interval
		total        string
		lines        []string
	}{{
		name:   "flat: the highest quarter hour",
		tariff: `demand: {flat: [{name: max_demand, ` + all + `, rate: 10}]}`,
		ivs:    april, total: "400", // 10 kWh in 15 min = 40 kW
		lines: []string{"max_demand 40 kW 10 400"},
	}, {
		name:   "30-minute interval from 15-minute data",
		tariff: `demand: {interval: 30m, flat: [{name: max_demand, ` + all + `, rate: 10}]}`,
		ivs:    april, total: "320", // 16 kWh in 30 min = 32 kW
		lines: []string{"max_demand 32 kW 10 320"},
	}, {
		name:   "hourly data gives hourly demand",
		tariff: `demand: {flat: [{name: max_demand, ` + all + `, rate: 10}]}`,
		ivs:    []Interval{{Start: utc(4, 2, 13, 0), End: utc(4, 2, 14, 0), Wh: 50000}, {Start: utc(4, 2, 14, 0), End: utc(4, 2, 15, 0), Wh: 20000}},
		total:  "500",
		lines:  []string{"max_demand 50 kW 10 500"},
	}, {
		name:   "tiered",
		tariff: `demand: {flat: [{name: max_demand, ` + all + `, tiers: [{up_to: 30, rate: 4}, {rate: 6}]}]}`,
		ivs:    april, total: "180", // 30 × 4 + 10 × 6
		lines: []string{"max_demand tier 1 30 kW 4 120", "max_demand tier 2 10 kW 6 60"},
	}, {
		name: "by TOU period",
		tariff: `demand:
  tou:
    periods:
      - {name: off, rate: 1, hours: [{ranges: ["0-12"]}]}
      - {name: peak, rate: 5, hours: [{ranges: ["12-24"]}]}`,
		ivs: april, total: "208", // off 8 kW × 1, peak 40 kW × 5
		lines: []string{"demand off 8 kW 1 8", "demand peak 40 kW 5 200"},
	}, {
		name:   "ratchet: 80 % of January's 100 kW",
		tariff: `demand: {flat: [{name: max_demand, ` + all + `, rate: 10}], ratchet: {share: 0.8, months: 11}}`,
		ivs: append([]Interval{
			q(utc(1, 10, 12, 0), 25000),                             // 100 kW, counts
			q(time.Date(2025, 4, 30, 12, 0, 0, 0, time.UTC), 50000), // 200 kW, 11 months and a day before: does not
		}, april...),
		total: "800",
		lines: []string{"max_demand 80 kW 10 800"},
	}, {
		name:   "ratchet below the month's own demand",
		tariff: `demand: {flat: [{name: max_demand, ` + all + `, rate: 10}], ratchet: {share: 0.3, months: 11}}`,
		ivs:    append([]Interval{q(utc(1, 10, 12, 0), 25000)}, april...),
		total:  "400",
		lines:  []string{"max_demand 40 kW 10 400"},
	}, {
		name:   "ratchet counting summer months only",
		tariff: `demand: {flat: [{name: max_demand, ` + all + `, rate: 10}], ratchet: {share: 0.8, months: 11, counted_months: [6,7,8]}}`,
		ivs:    append([]Interval{q(utc(1, 10, 12, 0), 25000)}, april...),
		total:  "400",
		lines:  []string{"max_demand 40 kW 10 400"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := doc(t, "UTC", "2025-01-01", c.tariff)
			b, err := Compute(Input{Tariffs: []*tariff.Document{d}, From: date("2026-04-01"), To: date("2026-05-01"), Intervals: c.ivs})
			if err != nil {
				t.Fatal(err)
			}
			check(t, b, c.total, c.lines...)
		})
	}
}

// TestClockChanges bills a day of 23 and a day of 25 hours in Europe/Berlin by TOU: the
// missing and the repeated hour 2 belong to the off-peak hours 0-12.
func TestClockChanges(t *testing.T) {
	d := doc(t, "Europe/Berlin", "2026-01-01", `fixed_charges: [{name: daily, amount: 1, per: day}]
energy:
  tou:
    periods:
      - {name: off, rate: 0.10, hours: [{ranges: ["0-12"]}]}
      - {name: peak, rate: 0.30, hours: [{ranges: ["12-24"]}]}`)
	for _, c := range []struct {
		day, next string
		quarters  int
		total     string
		lines     []string
	}{
		// 11 off-peak hours (2:00 does not exist) × 1 kWh × 0.10, 12 peak × 0.30
		{"2026-03-29", "2026-03-30", 92, "5.7", []string{"daily 1 day 1 1", "energy off 11 kWh 0.1 1.1", "energy peak 12 kWh 0.3 3.6"}},
		// 13 off-peak hours (2:00 twice)
		{"2026-10-25", "2026-10-26", 100, "5.9", []string{"daily 1 day 1 1", "energy off 13 kWh 0.1 1.3", "energy peak 12 kWh 0.3 3.6"}},
	} {
		t.Run(c.day, func(t *testing.T) {
			ivs := series("Europe/Berlin", c.day+" 00:00", c.next+" 00:00", 15*time.Minute, constant(250))
			if len(ivs) != c.quarters {
				t.Fatalf("%d quarters, want %d", len(ivs), c.quarters)
			}
			b, err := Compute(Input{Tariffs: []*tariff.Document{d}, From: date(c.day), To: date(c.next), Intervals: ivs})
			if err != nil {
				t.Fatal(err)
			}
			check(t, b, c.total, c.lines...)
		})
	}
}

// TestLeapDay bills February 2028: 29 days, the 29th a Tuesday priced as a weekday.
func TestLeapDay(t *testing.T) {
	d := doc(t, "America/New_York", "2028-01-01", `fixed_charges: [{name: daily, amount: 1, per: day}]
energy:
  tou:
    periods:
      - {name: weekday, rate: 0.20, hours: [{day_types: [weekday], ranges: ["0-24"]}]}
      - {name: weekend, rate: 0.10, hours: [{day_types: [weekend], ranges: ["0-24"]}]}`)
	ivs := series("America/New_York", "2028-02-29 00:00", "2028-03-01 00:00", time.Hour, constant(1000))
	b, err := Compute(Input{Tariffs: []*tariff.Document{d}, From: date("2028-02-01"), To: date("2028-03-01"), Intervals: ivs})
	if err != nil {
		t.Fatal(err)
	}
	check(t, b, "33.8", "daily 29 day 1 29", "energy weekday 24 kWh 0.2 4.8")
}

// TestHolidayFromCalendar prices a Wednesday holiday with the weekend's hours.
func TestHolidayFromCalendar(t *testing.T) {
	d := doc(t, "UTC", "2026-01-01", `energy:
  tou:
    periods:
      - {name: weekday, rate: 0.20, hours: [{day_types: [weekday], ranges: ["0-24"]}]}
      - {name: weekend, rate: 0.10, hours: [{day_types: [weekend], ranges: ["0-24"]}]}`)
	days, err := holidays.NewDays("r", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		[]holidays.Entry{{Region: "r", Date: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), Kind: holidays.EntryHoliday}})
	if err != nil {
		t.Fatal(err)
	}
	ivs := series("UTC", "2026-04-01 00:00", "2026-04-03 00:00", time.Hour, constant(1000)) // Wednesday, Thursday
	b, err := Compute(Input{Tariffs: []*tariff.Document{d}, From: date("2026-04-01"), To: date("2026-04-03"), Intervals: ivs, DayType: CalendarDayTypes(days)})
	if err != nil {
		t.Fatal(err)
	}
	check(t, b, "7.2", "energy weekday 24 kWh 0.2 4.8", "energy weekend 24 kWh 0.1 2.4")
}

// TestTariffChangeMidPeriod bills April 2026 under a version to the 10th and another from
// the 11th: each part has its days' share of the fixed charge and its own rate.
func TestTariffChangeMidPeriod(t *testing.T) {
	v1 := doc(t, "UTC", "2026-01-01", "fixed_charges: [{name: customer, amount: 10, per: period}]\nenergy: {rate: 0.20}")
	v2 := doc(t, "UTC", "2026-04-11", "fixed_charges: [{name: customer, amount: 12, per: period}]\nenergy: {rate: 0.30}")
	ivs := series("UTC", "2026-03-25 00:00", "2026-05-01 00:00", time.Hour, constant(1000))
	b, err := Compute(Input{Tariffs: []*tariff.Document{v2, v1}, From: date("2026-04-01"), To: date("2026-05-01"), Intervals: ivs})
	if err != nil {
		t.Fatal(err)
	}
	// 10 days: 10 × 10/30 = 3.33, 240 kWh × 0.2 = 48; 20 days: 12 × 0.6666666667 = 8.00,
	// 480 kWh × 0.3 = 144
	check(t, b, "203.33",
		"customer [2026-04-01, 2026-04-11) 0.3333333333 period 10 3.33",
		"energy [2026-04-01, 2026-04-11) 240 kWh 0.2 48",
		"customer [2026-04-11, 2026-05-01) 0.6666666667 period 12 8",
		"energy [2026-04-11, 2026-05-01) 480 kWh 0.3 144")
	if _, err := Compute(Input{Tariffs: []*tariff.Document{v2}, From: date("2026-04-01"), To: date("2026-05-01")}); !errors.Is(err, ErrNoTariff) || !errors.Is(err, fault.ErrInvalid) || !strings.Contains(err.Error(), "no tariff version is in force on 2026-04-01") {
		t.Errorf("a period before the version: %v", err)
	}
}

// TestSeasonSplit bills the cycle 17 June to 16 July of the README: the part in each
// season gets its days' share of the monthly threshold of 300 kWh.
func TestSeasonSplit(t *testing.T) {
	d := doc(t, "UTC", "2026-01-01", `seasons: [{name: summer, from: "07-01", to: "08-31"}, {name: other, from: "09-01", to: "06-30"}]
energy: {tiers: [{up_to: 300, rate: 0.10}, {rate: 0.20}]}`)
	ivs := series("UTC", "2026-06-17 00:00", "2026-07-17 00:00", time.Hour, constant(500)) // 12 kWh a day
	b, err := Compute(Input{Tariffs: []*tariff.Document{d}, From: date("2026-06-17"), To: date("2026-07-17"), Intervals: ivs})
	if err != nil {
		t.Fatal(err)
	}
	// June: 14 days, threshold 140, 168 kWh; July: 16 days, threshold 160, 192 kWh
	check(t, b, "42",
		"energy tier 1 [2026-06-17, 2026-07-01) 140 kWh 0.1 14",
		"energy tier 2 [2026-06-17, 2026-07-01) 28 kWh 0.2 5.6",
		"energy tier 1 [2026-07-01, 2026-07-17) 160 kWh 0.1 16",
		"energy tier 2 [2026-07-01, 2026-07-17) 32 kWh 0.2 6.4")
	if b.Parts[0].Season != "other" || b.Parts[1].Season != "summer" {
		t.Errorf("seasons %s, %s", b.Parts[0].Season, b.Parts[1].Season)
	}
}

// TestBadInput refuses intervals that cannot be billed, naming them.
func TestBadInput(t *testing.T) {
	flat := doc(t, "UTC", "2026-01-01", "energy: {rate: 0.2}")
	touDoc := doc(t, "UTC", "2026-01-01", strings.ReplaceAll(tou, "%s", "proportional"))
	at := func(d, h int) time.Time { return time.Date(2026, 4, d, h, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		name string
		d    *tariff.Document
		ivs  []Interval
		want string
	}{
		{"across the start", flat, []Interval{{Start: at(1, 0).Add(-time.Hour), End: at(1, 1), Wh: 1}}, "intervals[0]"},
		{"across the end", flat, []Interval{{Start: at(30, 23), End: at(30, 23).Add(2 * time.Hour), Wh: 1}}, "crosses the period's end"},
		{"negative", flat, []Interval{{Start: at(1, 0), End: at(1, 1), Wh: -1}}, "export is not billed yet"},
		{"empty", flat, []Interval{{Start: at(1, 0), End: at(1, 0), Wh: 1}}, "is not after start"},
		{"overlapping", flat, []Interval{{Start: at(1, 0), End: at(1, 2), Wh: 1}, {Start: at(1, 1), End: at(1, 3), Wh: 1}}, "overlaps"},
		{"daily data under TOU", touDoc, []Interval{{Start: at(1, 0), End: at(2, 0), Wh: 1}}, "spans more than one local hour"},
	} {
		_, err := Compute(Input{Tariffs: []*tariff.Document{c.d}, From: date("2026-04-01"), To: date("2026-05-01"), Intervals: c.ivs})
		if !errors.Is(err, fault.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an invalid input naming %q", c.name, err, c.want)
		}
	}
}

// TestFlatDemandMonth charges a cycle across two months at the flat demand rate of the
// month holding most of its days.
func TestFlatDemandMonth(t *testing.T) {
	d := doc(t, "UTC", "2026-01-01", `demand: {flat: [{name: june, months: [6], rate: 10}, {name: july, months: [7], rate: 20}]}`)
	ivs := []Interval{{Start: time.Date(2026, 6, 20, 12, 0, 0, 0, time.UTC), End: time.Date(2026, 6, 20, 12, 15, 0, 0, time.UTC), Wh: 1000}}
	b, err := Compute(Input{Tariffs: []*tariff.Document{d}, From: date("2026-06-17"), To: date("2026-07-17"), Intervals: ivs})
	if err != nil {
		t.Fatal(err)
	}
	check(t, b, "80", "july 4 kW 20 80") // 16 days of July, 14 of June
}

// TestBadPeriod refuses a cycle shorter than the period and versions that disagree.
func TestBadPeriod(t *testing.T) {
	d := doc(t, "UTC", "2026-01-01", "energy: {rate: 0.2}")
	other := doc(t, "Europe/Berlin", "2026-04-11", "energy: {rate: 0.3}")
	for _, c := range []struct {
		in   Input
		want string
	}{
		{Input{Tariffs: []*tariff.Document{d}, From: date("2026-04-01"), To: date("2026-05-01"), CycleDays: 29}, "cycle_days"},
		{Input{Tariffs: []*tariff.Document{d}, From: date("2026-04-01"), To: date("2026-04-01")}, "to: "},
		{Input{Tariffs: []*tariff.Document{d, other}, From: date("2026-04-01"), To: date("2026-05-01")}, "versions must agree"},
		{Input{From: date("2026-04-01"), To: date("2026-05-01")}, "no tariff given"},
	} {
		if _, err := Compute(c.in); !errors.Is(err, fault.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v, want an error with %q", err, c.want)
		}
	}
}

// TestParseIntervalsCSV reads the preview's CSV and names the line and column of bad
// cells.
func TestParseIntervalsCSV(t *testing.T) {
	ivs, err := ParseIntervalsCSV(strings.NewReader("wh,start,end,estimated\n# a comment\n250,2026-04-01T00:00:00+02:00,2026-04-01T00:15:00+02:00,true\n0,2026-04-01T00:15:00+02:00,2026-04-01T00:30:00+02:00,\n"))
	if err != nil || len(ivs) != 2 || ivs[0].Wh != 250 || !ivs[0].Estimated || ivs[1].Estimated || !ivs[0].Start.Equal(time.Date(2026, 3, 31, 22, 0, 0, 0, time.UTC)) {
		t.Fatalf("%v %+v", err, ivs)
	}
	for _, c := range []struct{ csv, want string }{
		{"start,end\n", `wh: line 1: the header has no column "wh"`},
		{"start,end,wh\n2026-04-01T00:00:00Z,2026-04-01T00:15:00Z,-1\n", "wh: line 2"},
		{"start,end,wh\n2026-04-01T00:00:00Z,2026-04-01T00:15:00Z,1\n2026-04-01,2026-04-01T00:15:00Z,1\n", "start: line 3"},
		{"start,end,wh\n2026-04-01T00:15:00Z,2026-04-01T00:15:00Z,1\n", "end: line 2"},
		{"start,end,wh,estimated\n2026-04-01T00:00:00Z,2026-04-01T00:15:00Z,1,maybe\n", "estimated: line 2"},
	} {
		if _, err := ParseIntervalsCSV(strings.NewReader(c.csv)); !errors.Is(err, fault.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.csv, err, c.want)
		}
	}
}

// TestCombination bills fixed + TOU energy + flat demand with a ratchet + a minimum bill +
// VAT together, with and without the history that sets the ratchet.
func TestCombination(t *testing.T) {
	d := doc(t, "UTC", "2026-01-01", `fixed_charges: [{name: customer, amount: 20, per: period}]
minimum_bill: {amount: 60, per: period}
energy:
  tou:
    periods:
      - {name: off, rate: 0.10, hours: [{ranges: ["0-12"]}]}
      - {name: peak, rate: 0.30, hours: [{ranges: ["12-24"]}]}
demand:
  flat: [{name: max_demand, months: [1,2,3,4,5,6,7,8,9,10,11,12], rate: 8}]
  ratchet: {share: 0.5, months: 3}
taxes: [{name: vat, percent: 10, of: [energy, demand, fixed, minimum_bill]}]`)
	// Every April day: 1 kWh in hour 6, 2 kWh in hour 18 (hourly data: 2 kW at most).
	april := series("UTC", "2026-04-01 00:00", "2026-05-01 00:00", time.Hour, func(l time.Time) int64 {
		switch l.Hour() {
		case 6:
			return 1000
		case 18:
			return 2000
		}
		return 0
	})
	march := Interval{Start: time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 9, 12, 15, 0, 0, time.UTC), Wh: 30000} // 120 kW
	for _, c := range []struct {
		name  string
		ivs   []Interval
		total string
		lines []string
	}{
		// ratchet 60 kW × 8 = 480; 20 + 3 + 18 + 480 = 521 is above the minimum; VAT 52.10
		{"with the ratchet", append([]Interval{march}, april...), "573.1",
			[]string{"customer 1 period 20 20", "energy off 30 kWh 0.1 3", "energy peak 60 kWh 0.3 18", "max_demand 60 kW 8 480", "vat 521 USD 0.1 52.1"}},
		// 2 kW × 8 = 16; 20 + 3 + 18 + 16 = 57 → minimum 3; VAT 10 % of 60
		{"without history", april, "66",
			[]string{"customer 1 period 20 20", "energy off 30 kWh 0.1 3", "energy peak 60 kWh 0.3 18", "max_demand 2 kW 8 16", "minimum_bill 1 bill 3 3", "vat 60 USD 0.1 6"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := Compute(Input{Tariffs: []*tariff.Document{d}, From: date("2026-04-01"), To: date("2026-05-01"), Intervals: c.ivs})
			if err != nil {
				t.Fatal(err)
			}
			check(t, b, c.total, c.lines...)
			if b.Parts[0].DemandMinutes != 60 {
				t.Errorf("demand over %d minutes, want the data's 60", b.Parts[0].DemandMinutes)
			}
		})
	}
}

// TestProportionalRemainder splits 100 off-peak and 200 peak kWh over a tier of 100 and
// the rest: shares of thirds at 10 places, the last tier taking each period's remainder so
// that the tiers still sum to the total exactly.
func TestProportionalRemainder(t *testing.T) {
	d := doc(t, "UTC", "2026-01-01", strings.ReplaceAll(tou, "%s", "proportional"))
	ivs := series("UTC", "2026-04-01 00:00", "2026-04-02 00:00", time.Hour, func(l time.Time) int64 {
		if l.Hour() < 10 {
			return 10000 // off: 100 kWh
		}
		if l.Hour() >= 12 && l.Hour() < 22 {
			return 20000 // peak: 200 kWh
		}
		return 0
	})
	b, err := Compute(Input{Tariffs: []*tariff.Document{d}, From: date("2026-04-01"), To: date("2026-04-02"), Intervals: ivs})
	if err != nil {
		t.Fatal(err)
	}
	// off: 100 × 100/300 = 33.3333333333 × 0.1 = 3.33, 66.6666666667 × 0.2 = 13.33;
	// peak: 66.6666666667 × 0.3 = 20.00, 133.3333333333 × 0.5 = 66.67
	check(t, b, "103.33", "energy off tier 1 33.3333333333 kWh 0.1 3.33", "energy off tier 2 66.6666666667 kWh 0.2 13.33",
		"energy peak tier 1 66.6666666667 kWh 0.3 20", "energy peak tier 2 133.3333333333 kWh 0.5 66.67")
	if p := b.Parts[0]; !p.TierKWh[0].Equal(dec("100")) || !p.TierKWh[1].Equal(dec("200")) {
		t.Errorf("tiers %v, want 100 and 200", p.TierKWh)
	}
}

// TestChronologicalCrossing has an interval that crosses the tier threshold (99 → 102 kWh)
// and compares both allocations on the same data: 36 off-peak hours of 3 kWh (108 kWh),
// then one peak hour of 3 kWh.
func TestChronologicalCrossing(t *testing.T) {
	ivs := series("UTC", "2026-04-01 00:00", "2026-04-04 00:00", time.Hour, func(l time.Time) int64 {
		if l.Hour() < 12 || l.Day() == 3 && l.Hour() == 12 {
			return 3000
		}
		return 0
	})
	for _, c := range []struct {
		allocation, total string
		lines             []string
	}{
		// off: 100 × 0.1 + 8 × 0.2; peak: 3 × 0.5
		{"chronological", "13.1", []string{"energy off tier 1 100 kWh 0.1 10", "energy off tier 2 8 kWh 0.2 1.6", "energy peak tier 2 3 kWh 0.5 1.5"}},
		// of 111 kWh, 100 in tier 1: off 108 × 100/111 = 97.2972972973 → 9.73, the rest
		// 10.7027027027 → 2.14; peak 3 × 100/111 = 2.7027027027 → 0.81, 0.2972972973 → 0.15
		{"proportional", "12.83", []string{"energy off tier 1 97.2972972973 kWh 0.1 9.73", "energy off tier 2 10.7027027027 kWh 0.2 2.14",
			"energy peak tier 1 2.7027027027 kWh 0.3 0.81", "energy peak tier 2 0.2972972973 kWh 0.5 0.15"}},
	} {
		t.Run(c.allocation, func(t *testing.T) {
			d := doc(t, "UTC", "2026-01-01", strings.ReplaceAll(tou, "%s", c.allocation))
			b, err := Compute(Input{Tariffs: []*tariff.Document{d}, From: date("2026-04-01"), To: date("2026-04-04"), CycleDays: 3, Intervals: ivs})
			if err != nil {
				t.Fatal(err)
			}
			check(t, b, c.total, c.lines...)
		})
	}
}
