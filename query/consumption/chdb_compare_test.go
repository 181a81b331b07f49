package consumption

import (
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestReadQueriesOnCurrentClickHouse runs the read queries pinned in testdata (the SQL the
// per-meter consumption read path sends) on testenv's fixture in ClickHouse 18.16 and
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
	berlinFrom, berlinTo := at(27, 23), at(29, 22)
	const berlin = "Europe/Berlin"
	args := map[string][][]any{
		"consumption_15m": {{from, "M2", to}, {from, "M1", to}},
		"consumption_1h":  {{"M2", from.Add(-48 * time.Hour), to}, {"M3", at(26, 0), at(30, 0)}},
		"consumption_1d": {{berlinFrom, berlin, "M2", berlinFrom.Add(-48 * time.Hour), berlinTo},
			{at(28, 0), "UTC", "M1", at(26, 0), at(30, 0)}},
		"consumption_1mo":     {{at(1, 0), berlin, "M1", at(1, 0).Add(-48 * time.Hour), at(31, 22)}},
		"register_before":     {{"M2", at(28, 12)}, {"M1", at(1, 0)}},
		"validated_15m":       {{"15m", "M2", from, to}},
		"validated_1h":        {{"M2", from, to}, {"M3", at(28, 0), at(30, 0)}},
		"validated_final_1h":  {{"M2", from, to}},
		"validated_final_15m": {{"15m", "M1", from, to}},
		"validated_1d":        {{berlin, "M2", berlinFrom, berlinTo}, {"UTC", "M1", at(28, 0), at(30, 0)}},
		"validated_1mo":       {{berlin, "M1", at(1, 0), at(31, 22)}},
	}
	return testenv.GoldenQueries(t, "testdata", args)
}
