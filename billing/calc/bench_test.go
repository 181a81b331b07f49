package calc

import (
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/billing/tariff"
)

// BenchmarkComputeMonth bills a month of 15-minute data (2976 intervals) under TOU tiers
// with chronological allocation: the cost of a full recomputation from 15-minute rows.
func BenchmarkComputeMonth(b *testing.B) {
	d, err := tariff.Parse(strings.NewReader("id: T\neffective_from: 2026-01-01\ntime_zone: Europe/Berlin\ncurrency: EUR\n" + strings.ReplaceAll(tou, "%s", "chronological")))
	if err != nil {
		b.Fatal(err)
	}
	ivs := series("Europe/Berlin", "2026-05-01 00:00", "2026-06-01 00:00", 15*time.Minute, func(l time.Time) int64 { return int64(100 + l.Hour()*10) })
	in := Input{Tariffs: []*tariff.Document{d}, From: date("2026-05-01"), To: date("2026-06-01"), Intervals: ivs}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compute(in); err != nil {
			b.Fatal(err)
		}
	}
}
