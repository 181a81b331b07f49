package job

import (
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestJobQueriesOnCurrentClickHouse runs the statements the VEE job reads with (pinned in
// testdata; of a roll-up, its SELECT) on testenv's fixture in ClickHouse 18.16 and in chDB,
// the embedded current ClickHouse engine, and compares their results, so that the job
// does not rely on behaviour only the old server has.
func TestJobQueriesOnCurrentClickHouse(t *testing.T) {
	version := testenv.ChDB(t)
	_, conn := testenv.ClickHouse(t)
	at := func(day, hour int) time.Time { return time.Date(2026, 3, day, hour, 0, 0, 0, time.UTC) }
	unix := func(day, hour, minute int) int64 {
		return at(day, hour).Add(time.Duration(minute) * time.Minute).Unix()
	}
	computed, ingested := at(30, 9), testenv.FixtureIngestedAt
	gap := int64(nearGap / time.Second)
	args := map[string][][]any{
		"last_run": {{}},
		"arrivals": {{ingested.Add(-time.Hour), ingested.Add(2 * time.Hour), at(20, 0)},
			{ingested, ingested.Add(2 * time.Hour), at(29, 0)}}, // the replay only
		"reading_days":   {{at(28, 0), at(30, 0), ingested}},
		"edits_since":    {{at(30, 0), at(30, 6)}},
		"registry":       {{[]string{"M1", "M3", "M4", "M9"}}},
		"readings":       {{at(28, 20), at(29, 4), []string{"M1", "M2"}}},
		"point_readings": {{[]string{"M1", "M2", "M2"}, []int64{unix(29, 1, 30), unix(28, 10, 0), unix(28, 16, 15)}}},
		"anchors": {{at(28, 10).Add(-nearGap), at(29, 6).Add(nearGap), []string{"M1", "M2"},
			[]string{"M2", "M1"}, []int64{unix(28, 10, 0), unix(29, 0, 0)}, []int64{unix(28, 16, 0), unix(29, 6, 0)}, gap, gap}},
		"rows":            {{"15m", []string{"M2", "M3"}, at(28, 8), at(28, 18)}, {"1h", []string{"M1"}, at(28, 0), at(30, 0)}},
		"history":         {{[]string{"M2", "M3"}, []string{"M2", "M3"}, []string{"M2", "M3"}, at(28, 8), at(28, 18)}},
		"profile_history": {{[]string{"M2", "M3", "M4"}, []string{"M2", "M3", "M4"}, []string{"M2", "M3", "M4"}, "2026-03-27", "2026-03-29"}},
		"edits":           {{[]string{"M1", "M3"}, at(30, 0), at(28, 0)}},
		"sum":             {{"M2", at(28, 0), at(29, 0)}},
		"meter_known":     {{"M4", "M4"}},
		"open_failures":   {{}},
		"groups": {{computed, []string{"F1", "F2"}, []string{"north"}, []string{"commercial", "residential"}, []string{"T1"},
			at(28, 0), at(30, 0), "M3", at(28, 0), at(30, 0), "M3"}},
	}
	queries := testenv.GoldenQueries(t, "testdata", args)
	for i, q := range queries {
		if strings.HasPrefix(q.SQL, "INSERT INTO ") { // a roll-up: compare what it would insert
			_, queries[i].SQL, _ = strings.Cut(q.SQL, "\n")
		}
	}
	testenv.CompareWithChDB(t, conn, version, testenv.ReadFixture(), queries)
}
