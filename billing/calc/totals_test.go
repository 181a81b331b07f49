package calc

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/billing/tariff"
)

// aggregate is the reference of the billing run's fast path: it sums 15-minute intervals
// into Totals the way the run's ClickHouse query sums daily profiles — hours assigned to
// TOU periods by Plan's DaySlots (by the hour's element from the local midnight), demand as
// clock-aligned blocks within an hour, history before the period for annual tiers and
// ratchets.
func aggregate(t *testing.T, in Input) *Totals {
	t.Helper()
	parts, err := Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := in.Tariffs[0].Location()
	dayType := in.DayType
	if dayType == nil {
		dayType = Weekdays
	}
	tot := &Totals{Parts: make([]PartTotals, len(parts))}
	first := parts[0].Doc
	periodStart := in.From.Start(loc)
	yearStart := tierYear(first, in.From)
	var ratchet *tariff.Ratchet
	if first.Demand != nil {
		ratchet = first.Demand.Ratchet
	}
	size := time.Duration(WindowMinutes(first)) * time.Minute
	type wkey struct {
		part  int // -1: history
		start int64
	}
	windows := map[wkey]int64{}
	windowSlot := map[wkey]uint8{}
	for _, iv := range in.Intervals {
		l := iv.Start.In(loc)
		d := tariff.NewDate(l.Year(), l.Month(), l.Day())
		// The hour's element in the local day's arrays.
		elem := int(iv.Start.Sub(d.Start(loc)) / time.Hour)
		_, off := iv.Start.Zone()
		sec := int64(size / time.Second)
		local := iv.Start.Unix() + int64(off)
		block := local - ((local%sec)+sec)%sec - int64(off) // the block's UTC start: the repeated hour of a fall-back day is its own
		if iv.Start.Before(periodStart) {
			if !yearStart.IsZero() && !iv.Start.Before(yearStart.Start(loc)) {
				tot.YearWh += iv.Wh
			}
			if ratchet != nil && !iv.Start.Before(monthsBefore(periodStart, ratchet.Months, loc)) &&
				(len(ratchet.CountedMonths) == 0 || slices.Contains(ratchet.CountedMonths, int(l.Month()))) {
				windows[wkey{-1, block}] += iv.Wh
			}
			continue
		}
		for i, p := range parts {
			if d.Before(p.From) || !d.Before(p.To) {
				continue
			}
			es, ds := p.DaySlots(d, loc, dayType)
			pt := &tot.Parts[i]
			if pt.PeriodWh == nil {
				pt.PeriodWh, pt.PeriodWindowWh = make([]int64, 8), make([]int64, 8)
			}
			pt.Wh += iv.Wh
			pt.PeriodWh[es[elem]] += iv.Wh
			pt.Intervals++
			if iv.Estimated {
				pt.EstimatedIntervals++
				pt.EstimatedWh += iv.Wh
			}
			windows[wkey{i, block}] += iv.Wh
			windowSlot[wkey{i, block}] = ds[elem]
		}
	}
	for k, wh := range windows {
		if k.part < 0 {
			tot.RatchetWindowWh = max(tot.RatchetWindowWh, wh)
			continue
		}
		pt := &tot.Parts[k.part]
		pt.WindowWh = max(pt.WindowWh, wh)
		s := windowSlot[k]
		pt.PeriodWindowWh[s] = max(pt.PeriodWindowWh[s], wh)
	}
	return tot
}

// TestTotalsEqualIntervals bills the same data from intervals and from their aggregated
// Totals, over tariffs with every component that aggregates (fixed, block and annual
// tiers, TOU with proportional tiers, baseline, flat and TOU demand with a ratchet and
// tiers, minimum bill, taxes, a season change, a version change, Berlin's 23- and 25-hour
// days): the bills must be the same, line for line.
func TestTotalsEqualIntervals(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "tariff", "testdata", "us-commercial.json"))
	if err != nil {
		t.Fatal(err)
	}
	commercial, err := tariff.Parse(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	commercialData := append(series("America/Chicago", "2025-07-01 00:00", "2025-07-02 00:00", 15*time.Minute, func(l time.Time) int64 {
		if l.Hour() == 15 && l.Minute() == 0 {
			return 5000
		}
		return 250
	}), series("America/Chicago", "2026-05-17 00:00", "2026-06-17 00:00", 15*time.Minute, func(l time.Time) int64 {
		switch {
		case l.Month() == 6 && l.Day() == 10 && l.Hour() == 14 && l.Minute() == 15:
			return 3600
		case l.Weekday() != time.Saturday && l.Weekday() != time.Sunday && l.Hour() >= 13 && l.Hour() < 19:
			return 300 + int64(l.Minute())
		}
		return 100
	})...)
	holiday := func(date tariff.Date) string {
		if date.String() == "2026-05-25" {
			return tariff.Holiday
		}
		return Weekdays(date)
	}
	touSrc := `fixed_charges: [{name: customer, amount: 9.5, per: day}]
energy:
  tou:
    periods:
      - {name: night, tiers: [{up_to: 150, rate: 0.21}, {rate: 0.25}], hours: [{ranges: ["0-6", "22-24"]}]}
      - {name: day, tiers: [{up_to: 150, rate: 0.31}, {rate: 0.35}], hours: [{ranges: ["6-22"]}]}
demand:
  interval: 30m
  flat: [{name: max_demand, months: [1,2,3,4,5,6,7,8,9,10,11,12], tiers: [{up_to: 5, rate: 4}, {rate: 6}]}]
  tou: {periods: [{name: day, rate: 2, hours: [{ranges: ["6-22"]}]}, {name: night, rate: 0, hours: [{ranges: ["0-6", "22-24"]}]}]}
  ratchet: {share: 0.8, months: 11}
minimum_bill: {amount: 40, per: period}
taxes: [{name: vat, percent: 19, of: [energy, demand, fixed]}]`
	touTiers := doc(t, "Europe/Berlin", "2026-01-01", touSrc)
	touTiers2 := doc(t, "Europe/Berlin", "2026-10-15", strings.ReplaceAll(touSrc, "0.31", "0.33"))
	// Berlin from 2026-03-01 to 2026-11-01: both clock changes, an uneven load with an
	// estimated stretch and one high half hour.
	berlin := series("Europe/Berlin", "2026-03-01 00:00", "2026-11-01 00:00", 15*time.Minute, func(l time.Time) int64 {
		switch {
		case l.Month() == 4 && l.Day() == 3 && l.Hour() == 9 && l.Minute() >= 30:
			return 2500
		case l.Month() == 10 && l.Day() == 25 && l.Hour() == 2:
			return 777
		}
		return int64(40 + (l.Hour()*7+l.Minute()+l.Day()*3)%90)
	})
	for i := range berlin {
		if s := berlin[i].Start.UTC(); s.Month() == 10 && s.Day() == 7 && s.Hour() < 5 {
			berlin[i].Estimated = true
		}
	}
	annual := doc(t, "Asia/Shanghai", "2026-01-01", `energy:
  tier_basis: annual
  tiers: [{up_to: 2160, rate: 0.5283}, {up_to: 4200, rate: 0.5783}, {rate: 0.8283}]`)
	shanghai := series("Asia/Shanghai", "2026-01-01 00:00", "2026-10-01 00:00", time.Hour/4, func(l time.Time) int64 { return int64(80 + l.Hour()*5) })
	cases := []struct {
		name string
		in   Input
	}{
		{"commercial cycle across seasons with a holiday", Input{Tariffs: []*tariff.Document{commercial}, From: date("2026-05-17"), To: date("2026-06-17"), Territory: "T", DayType: holiday, Intervals: commercialData}},
		{"TOU tiers, 30-minute demand, ratchet, spring forward", Input{Tariffs: []*tariff.Document{touTiers}, From: date("2026-03-17"), To: date("2026-04-17"), Intervals: berlin}},
		{"a version change and fall back", Input{Tariffs: []*tariff.Document{touTiers, touTiers2}, From: date("2026-10-01"), To: date("2026-11-01"), Intervals: berlin}},
		{"move-out: a partial period", Input{Tariffs: []*tariff.Document{touTiers}, From: date("2026-06-01"), To: date("2026-06-12"), CycleDays: 30, Intervals: berlin}},
		{"annual tiers crossing a threshold in September", Input{Tariffs: []*tariff.Document{annual}, From: date("2026-09-01"), To: date("2026-10-01"), Intervals: shanghai}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			full, err := Compute(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			agg := tc.in
			agg.Totals, agg.Intervals = aggregate(t, tc.in), nil
			fast, err := Compute(agg)
			if err != nil {
				t.Fatal(err)
			}
			if !fast.Total.Equal(full.Total) || len(fast.Lines) != len(full.Lines) || fast.EstimatedWh != full.EstimatedWh || fast.EstimatedIntervals != full.EstimatedIntervals {
				t.Fatalf("from totals %s (%d lines, %d estimated Wh), from intervals %s (%d lines, %d)", fast.Total, len(fast.Lines), fast.EstimatedWh,
					full.Total, len(full.Lines), full.EstimatedWh)
			}
			for i := range full.Lines {
				a, b := fast.Lines[i], full.Lines[i]
				if a.Name != b.Name || a.Quantity.String() != b.Quantity.String() || a.Rate.String() != b.Rate.String() || a.Amount.String() != b.Amount.String() {
					t.Errorf("line %d: from totals %+v, from intervals %+v", i, a, b)
				}
			}
			if full.Total.IsZero() {
				t.Error("a zero bill proves nothing")
			}
		})
	}
}

// TestCanAggregate refuses what totals cannot price.
func TestCanAggregate(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "tariff", "testdata", "cn-residential.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cn, err := tariff.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := CanAggregate([]*tariff.Document{cn}); err == nil || !strings.Contains(err.Error(), "chronologically") {
		t.Errorf("chronological TOU tiers: %v", err)
	}
	_, err = Compute(Input{Tariffs: []*tariff.Document{cn}, From: date("2026-09-01"), To: date("2026-10-01"), Totals: &Totals{Parts: make([]PartTotals, 1)}})
	if err == nil {
		t.Error("Compute priced chronological TOU tiers from totals")
	}
}
