package calc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/billing/tariff"
	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestGoldenCommercial bills the commercial example of billing/tariff/testdata (fixed per
// period and day, block tiers, baseline, flat demand by month with tiers, TOU demand with
// holidays of their own, a ratchet of summer months, two taxes) over a cycle from 17 May
// to 16 June that crosses into summer, with a holiday on 25 May; the lines and each
// part's determinants are the golden file. Spot checks by hand: the May part has 15 of 31
// days, so its customer charge is 18.50 × 0.4838709677 = 8.95 and its tier threshold
// 1000 × 15/31 = 483.8709677419 kWh.
func TestGoldenCommercial(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "tariff", "testdata", "us-commercial.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := tariff.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	// History: one summer day of 2025 with a 20 kW quarter hour (ratchet 16 kW).
	ivs := series("America/Chicago", "2025-07-01 00:00", "2025-07-02 00:00", 15*time.Minute, func(l time.Time) int64 {
		if l.Hour() == 15 && l.Minute() == 0 {
			return 5000
		}
		return 250
	})
	// The cycle: 300 Wh a quarter in the weekday afternoons 13-19, 100 otherwise, and a
	// 3.6 kWh quarter (14.4 kW) on 10 June at 14:00.
	ivs = append(ivs, series("America/Chicago", "2026-05-17 00:00", "2026-06-17 00:00", 15*time.Minute, func(l time.Time) int64 {
		switch {
		case l.Month() == 6 && l.Day() == 10 && l.Hour() == 14 && l.Minute() == 0:
			return 3600
		case l.Weekday() != time.Saturday && l.Weekday() != time.Sunday && l.Hour() >= 13 && l.Hour() < 19:
			return 300
		}
		return 100
	})...)
	dayType := func(date tariff.Date) string {
		if date.String() == "2026-05-25" {
			return tariff.Holiday
		}
		return Weekdays(date)
	}
	b, err := Compute(Input{Tariffs: []*tariff.Document{d}, From: date("2026-05-17"), To: date("2026-06-17"), Territory: "T", DayType: dayType, Intervals: ivs})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, l := range b.Lines {
		fmt.Fprintf(&out, "%-50s %-16s %-5s %-12s %s\n", l.Name, l.Quantity, l.Unit, l.Rate, l.Amount)
	}
	fmt.Fprintf(&out, "total %s %s; estimated %d intervals, %d Wh\n", b.Total, b.Currency, b.EstimatedIntervals, b.EstimatedWh)
	for _, p := range b.Parts {
		fmt.Fprintf(&out, "part %s..%s season %s days %d: %s kWh, tiers %v, max %s kW over %d min, by period %v, ratchet %s kW, %d intervals\n",
			p.From, p.To, p.Season, p.Days, p.KWh, p.TierKWh, p.MaxDemandKW, p.DemandMinutes, p.PeriodDemandKW, p.RatchetKW, p.Intervals)
	}
	testenv.Golden(t, filepath.Join("testdata", "us-commercial.golden"), out.String())
	if got := b.Lines[0]; got.Name != "customer [2026-05-17, 2026-06-01)" || got.Amount.String() != "8.95" {
		t.Errorf("first line %+v", got)
	}
}
