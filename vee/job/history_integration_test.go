package job

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/vee"
)

// TestLoadHistoryKeepsLatestVersion checks that the history, read without FINAL, holds
// one interval per start, the version with the highest computed_at whatever the order
// of the inserts, sorted by start, for each meter asked and for no other one.
func TestLoadHistoryKeepsLatestVersion(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return day.Add(time.Duration(m) * time.Minute) }
	v1, v2, v3 := day.Add(24*time.Hour), day.Add(48*time.Hour), day.Add(72*time.Hour)
	type ins struct {
		meter    string
		start    time.Time
		wh       int64
		quality  vee.Quality
		computed time.Time
	}
	// Each insert is its own part: the newest version of 00:15 is inserted before an
	// older one, and 00:30 has three versions.
	for _, r := range []ins{
		{"A", at(15), 30, vee.QualityValid, v3},
		{"A", at(15), 10, vee.QualityValid, v1},
		{"A", at(0), 5, vee.QualityQuestionable, v1},
		{"A", at(30), 7, vee.QualityValid, v1},
		{"A", at(30), 8, vee.QualityEstimatedLinear, v2},
		{"A", at(30), 9, vee.QualityValid, v1},
		{"B", at(0), 40, vee.QualityValid, v2},
		{"C", at(0), 50, vee.QualityValid, v2},
		{"A", at(45), 1, vee.QualityValid, v1}, // outside [from, to)
	} {
		if err := conn.Exec(ctx, `INSERT INTO consumption (resolution, meter_id, start, wh, quality, intervals, expected_intervals, estimated, edited, questionable, flags, reasons, computed_at)
SELECT '15m', ?, ?, ?, ?, 1, 1, 0, 0, 0, [], [], ?`, r.meter, r.start, r.wh, uint8(r.quality), r.computed); err != nil {
			t.Fatal(err)
		}
	}
	j := newJob(t, conn, testConfig(), &day)
	got := map[string][]vee.HistoryInterval{}
	if err := j.loadIntervalHistory(ctx, got, []string{"A", "B", "Z"}, at(0), at(45)); err != nil {
		t.Fatal(err)
	}
	want := map[string][]vee.HistoryInterval{
		"A": {{StartUnix: at(0).Unix(), Wh: 5, Quality: vee.QualityQuestionable}, {StartUnix: at(15).Unix(), Wh: 30, Quality: vee.QualityValid},
			{StartUnix: at(30).Unix(), Wh: 8, Quality: vee.QualityEstimatedLinear}},
		"B": {{StartUnix: at(0).Unix(), Wh: 40, Quality: vee.QualityValid}},
	}
	if len(got) != len(want) {
		t.Fatalf("history of meters %v, want those of A and B", keys(got))
	}
	for m, w := range want {
		if !slices.Equal(got[m], w) {
			t.Errorf("history of %s: %+v, want %+v", m, got[m], w)
		}
	}
}

// TestLoadHistoryFromProfiles checks that the history comes from the profiles' 15m
// arrays, the latest version of each day whatever the order of the inserts, clipped to
// [from, to), and from the 15m rows for a meter with a profile written before migration
// 0060 (no arrays), whose profile arrays are not used at all.
func TestLoadHistoryFromProfiles(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return day.Add(time.Duration(m) * time.Minute) }
	v1, v2 := day.Add(24*time.Hour), day.Add(48*time.Hour)
	j := newJob(t, conn, testConfig(), &day)
	r := func(m string, minute int, wh int64, q vee.Quality) row {
		return row{resolution: "15m", meter: m, start: at(minute), wh: wh, quality: uint8(q), intervals: 1}
	}
	write := func(computed time.Time, ps ...profile) {
		if err := j.insertProfiles(ctx, ps, computed); err != nil {
			t.Fatal(err)
		}
	}
	next := day.AddDate(0, 0, 1)
	// The newer version of A's first day is inserted first.
	write(v2, dayProfile("A", time.UTC, day, next, []row{r("A", 0, 6, vee.QualityValid), r("A", 15, 11, vee.QualityValid),
		r("A", 30, 7, vee.QualityEstimatedLinear)}))
	write(v1, dayProfile("A", time.UTC, day, next, []row{r("A", 0, 5, vee.QualityQuestionable), r("A", 15, 10, vee.QualityValid)}),
		dayProfile("A", time.UTC, next, next.AddDate(0, 0, 1), []row{r("A", 24*60, 3, vee.QualityValid), r("A", 24*60+15, 4, vee.QualityValid)}),
		dayProfile("B", time.UTC, next, next.AddDate(0, 0, 1), []row{r("B", 24*60, 99, vee.QualityValid)}))
	// B's first day as written before migration 0060, and its 15m rows.
	if err := conn.Exec(ctx, `INSERT INTO consumption_profiles (day, meter_id, time_zone, start, wh, intervals, max15_wh, max30_wh,
    estimated, edited, substituted, substituted_wh, computed_at)
SELECT toDate('2026-03-10'), 'B', 'UTC', ?, [40], [1], [40], [40], [0], [0], [0], [0], ?`, day, v1); err != nil {
		t.Fatal(err)
	}
	for _, m := range []int{0, 24 * 60} {
		if err := conn.Exec(ctx, `INSERT INTO consumption (resolution, meter_id, start, wh, quality, intervals, expected_intervals, estimated, edited, questionable, flags, reasons, computed_at)
SELECT '15m', 'B', ?, 40, 0, 1, 1, 0, 0, 0, [], [], ?`, at(m), v1); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string][]vee.HistoryInterval{}
	if err := j.loadHistory(ctx, got, nil, []string{"A", "B", "Z"}, at(15), at(24*60+15)); err != nil {
		t.Fatal(err)
	}
	want := map[string][]vee.HistoryInterval{
		"A": {{StartUnix: at(15).Unix(), Wh: 11, Quality: vee.QualityValid}, {StartUnix: at(30).Unix(), Wh: 7, Quality: vee.QualityEstimatedLinear},
			{StartUnix: at(24 * 60).Unix(), Wh: 3, Quality: vee.QualityValid}},
		"B": {{StartUnix: at(24 * 60).Unix(), Wh: 40, Quality: vee.QualityValid}},
	}
	if len(got) != len(want) {
		t.Fatalf("history of meters %v, want those of A and B", keys(got))
	}
	for m, w := range want {
		if !slices.Equal(got[m], w) {
			t.Errorf("history of %s: %+v, want %+v", m, got[m], w)
		}
	}
}

func keys(m map[string][]vee.HistoryInterval) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
