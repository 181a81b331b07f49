package analytics

import (
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
)

// TestReadQueriesOnCurrentClickHouse runs the read queries pinned in testdata (the SQL the
// analytics read path sends) on testenv's fixture in ClickHouse 18.16 and
// in chDB, the embedded current ClickHouse engine, each loaded through the migrations
// rendered for that server, and compares their results, so that no query relies on
// behaviour only the old server has. Both servers get the same text: the parameters are
// bound as literals the way the driver binds them.
func TestReadQueriesOnCurrentClickHouse(t *testing.T) {
	version := testenv.ChDB(t)
	_, conn := testenv.ClickHouse(t)
	testenv.CompareWithChDB(t, conn, version, testenv.ReadFixture(), readQueryCases(t))
}

// readQueryCases binds parameters to every golden read query in testdata. A golden file
// without an entry here fails the test, so a new read path is compared too.
func readQueryCases(t *testing.T) []testenv.Query {
	t.Helper()
	at := func(day, hour int) time.Time { return time.Date(2026, 3, day, hour, 0, 0, 0, time.UTC) }
	// The fixture's days, 2026-03-28 and 29: the second is Europe/Berlin's 23-hour day.
	from, to := at(28, 6), at(29, 18)
	const berlin = "Europe/Berlin"
	feeder, fleet := Group{schema.KindFeeder, "F1"}, Group{schema.KindFleet, schema.FleetID}
	args := map[string][][]any{
		"groups_load":                  {{"15m", "feeder", "F1", from, to}, {"1h", "fleet", schema.FleetID, at(28, 0), at(30, 0)}},
		"groups_profile_group":         {{berlin, berlin, berlin, "15m", "fleet", schema.FleetID, at(28, 0), at(30, 0)}},
		"groups_profile_meter":         {{berlin, berlin, berlin, "1h", "M2", at(28, 0), at(30, 0)}},
		"groups_quality_feeder_page":   {qualityArgs(feeder, from, to, true, "", 2), qualityArgs(feeder, from, to, true, "M1", 2)},
		"groups_quality_fleet_page":    {qualityArgs(fleet, from, to, true, "", 10)},
		"groups_quality_feeder_totals": {qualityArgs(feeder, from, to, false, "", 0)},
		"groups_quality_fleet_totals":  {qualityArgs(fleet, from, to, false, "", 0)},
		"groups_top_group":             {{"feeder", at(28, 0), at(30, 0), 10}},
		"groups_top_meter":             {{at(28, 0), at(30, 0), 2}},
	}
	return testenv.GoldenQueries(t, "testdata", args)
}
