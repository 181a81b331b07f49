package job

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// profileRow is one consumption_profiles row of a test.
type profileRow struct {
	day, meter, start string
	wh                []int64
	intervals         []uint8
}

func insertProfiles(t *testing.T, conn driver.Conn, at time.Time, rows ...profileRow) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), "INSERT INTO consumption_profiles (day, meter_id, time_zone, start, wh, intervals, computed_at)")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		day, _ := time.Parse(time.DateOnly, r.day)
		if err := b.Append(day, r.meter, "Europe/Berlin", mustTime(t, r.start), r.wh, r.intervals, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// groupRow is one 1h group_consumption row of a test.
type groupRow struct {
	kind, id, start                        string
	wh                                     int64
	intervals, expected, estimated, meters uint32
}

func insertGroupHours(t *testing.T, conn driver.Conn, rows ...groupRow) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), "INSERT INTO group_consumption (resolution, group_kind, group_id, start, wh, meters, intervals, expected_intervals, estimated, questionable, computed_at)")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := b.Append("1h", r.kind, r.id, mustTime(t, r.start), r.wh, r.meters, r.intervals, r.expected, r.estimated, uint32(0), time.Unix(1e9, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func constant[T any](n int, v T) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// accuracyRow is what the tests read back of forecast_accuracy.
type accuracyRow struct {
	hours                                         uint16
	actual, forecast, mae, rmse, mape, bias, mase float64
	method                                        string
}

func readAccuracy(t *testing.T, conn driver.Conn) map[string]accuracyRow {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT concat(scope, '/', id, '@', toString(issued)), hours, actual_wh, forecast_wh, mae, rmse, mape, bias, mase, method
FROM forecast_accuracy FINAL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]accuracyRow{}
	for rows.Next() {
		var k string
		var r accuracyRow
		if err := rows.Scan(&k, &r.hours, &r.actual, &r.forecast, &r.mae, &r.rmse, &r.mape, &r.bias, &r.mase, &r.method); err != nil {
			t.Fatal(err)
		}
		out[k] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// scoreFixture writes the forecasts and actuals of the Score tests: in Europe/Berlin,
// the 23-hour day 2026-03-29 and the 24-hour day 2026-03-28.
//
//   - MTR-A: issued 2026-03-28T06:00Z for the 23-hour day, 110 Wh each hour against a
//     profile of 100 Wh whose hour 22 has 2 of 4 intervals: 22 hours, error +10 each.
//   - MTR-AA: a forecast and no profile (pending).
//   - MTR-B: issued 2026-03-27T06:00Z for the 24-hour day, 90 Wh against 100 (naive MAE
//     unknown); issued 2026-03-29T06:00Z for 2026-03-30, which has no profile yet (pending).
//   - MTR-C: a profile and no forecast.
//   - MTR-A issued 2026-03-30T06:00Z: outside the scored range.
//   - feeder FDR-01: issued 2026-03-28T06:00Z for the 23-hour day, 23 hours of 1000 Wh;
//     group_consumption has its first three hours, 1100 Wh: complete, complete with two
//     estimated intervals, and incomplete (4 of 8 intervals).
//   - fleet: a forecast and no group_consumption (pending).
func scoreFixture(t *testing.T, s *Store, conn driver.Conn) {
	t.Helper()
	dst, day := mustTime(t, "2026-03-28T23:00:00Z"), mustTime(t, "2026-03-27T23:00:00Z")
	at := time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	f := func(scope, id, issued string, start time.Time, hours int, wh, naive float64) Forecast {
		return Forecast{Scope: scope, ID: id, Issued: mustTime(t, issued), Start: start, Wh: constant(hours, wh),
			Method: "model", ModelVersion: "v1", Scale: 1, NaiveMAE: naive}
	}
	writeForecasts(t, s, at,
		f("meter", "MTR-A", "2026-03-28T06:00:00Z", dst, 23, 110, 5),
		f("meter", "MTR-AA", "2026-03-28T06:00:00Z", dst, 23, 110, 5),
		f("meter", "MTR-B", "2026-03-27T06:00:00Z", day, 24, 90, math.NaN()),
		f("meter", "MTR-B", "2026-03-29T06:00:00Z", mustTime(t, "2026-03-29T22:00:00Z"), 24, 90, 5),
		f("meter", "MTR-A", "2026-03-30T06:00:00Z", mustTime(t, "2026-03-30T22:00:00Z"), 24, 1, 5),
		f("feeder", "FDR-01", "2026-03-28T06:00:00Z", dst, 23, 1000, 50),
		f("fleet", "all", "2026-03-28T06:00:00Z", dst, 23, 1000, 50),
	)
	partial := constant(23, uint8(4))
	partial[22] = 2
	insertProfiles(t, conn, at,
		profileRow{"2026-03-29", "MTR-A", "2026-03-28T23:00:00Z", constant(23, int64(100)), partial},
		profileRow{"2026-03-28", "MTR-A", "2026-03-27T23:00:00Z", constant(24, int64(5)), constant(24, uint8(4))},
		profileRow{"2026-03-28", "MTR-B", "2026-03-27T23:00:00Z", constant(24, int64(100)), constant(24, uint8(4))},
		profileRow{"2026-03-29", "MTR-C", "2026-03-28T23:00:00Z", constant(23, int64(100)), constant(23, uint8(4))},
	)
	insertGroupHours(t, conn,
		groupRow{"feeder", "FDR-01", "2026-03-28T23:00:00Z", 1100, 8, 8, 0, 2},
		groupRow{"feeder", "FDR-01", "2026-03-29T00:00:00Z", 1100, 6, 8, 2, 2},
		groupRow{"feeder", "FDR-01", "2026-03-29T01:00:00Z", 1100, 4, 8, 0, 2},
		groupRow{"region", "FDR-01", "2026-03-28T23:00:00Z", 1, 8, 8, 0, 2}, // another kind, same id
	)
}

// TestScore scores meters over their profiles (the 23-hour day included, its incomplete
// hour left out) and a feeder over group_consumption (an incomplete hour left out), gives
// no row to forecasts without a complete hour or outside the range, and replaces the rows
// when an issue is scored again after late actuals.
func TestScore(t *testing.T) {
	s, conn := newTestStore(t)
	ctx := context.Background()
	scoreFixture(t, s, conn)
	from, to := mustTime(t, "2026-03-27T00:00:00Z"), mustTime(t, "2026-03-30T00:00:00Z")
	res, err := s.Score(ctx, from, to, mustTime(t, "2026-03-31T01:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 2 || res.Rows["meter"] != 2 || res.Rows["feeder"] != 1 || res.Pending != 3 {
		t.Errorf("Score: %+v, want 2 meter rows, 1 feeder row and 3 pending", res)
	}
	nan := math.NaN()
	want := map[string]accuracyRow{
		// 22 complete hours of +10 on 100: MAPE 0.1, MASE 10/5.
		"meter/MTR-A@2026-03-28 06:00:00": {22, 2200, 2420, 10, 10, 0.1, 10, 2, "model"},
		// 24 hours of −10 on 100; no naive MAE, so no MASE.
		"meter/MTR-B@2026-03-27 06:00:00": {24, 2400, 2160, 10, 10, 0.1, -10, nan, "model"},
		// Hours 0 and 1 of 1000 against 1100: −100 each; MASE 100/50.
		"feeder/FDR-01@2026-03-28 06:00:00": {2, 2200, 2000, 100, 100, 100.0 / 1100, -100, 2, "model"},
	}
	checkAccuracy(t, readAccuracy(t, conn), want)

	// Late actuals: MTR-A's last hour is complete now, at 122 Wh; the issue is scored again.
	insertProfiles(t, conn, mustTime(t, "2026-03-31T02:00:00Z"),
		profileRow{"2026-03-29", "MTR-A", "2026-03-28T23:00:00Z", append(constant(22, int64(100)), 122), constant(23, uint8(4))})
	if _, err := s.Score(ctx, mustTime(t, "2026-03-28T06:00:00Z"), mustTime(t, "2026-03-28T07:00:00Z"), mustTime(t, "2026-03-31T03:00:00Z")); err != nil {
		t.Fatal(err)
	}
	// |e| = 22×10 + 12 = 232 over 23 hours; e² = 2200 + 144; bias (220 − 12)/23;
	// MAPE (22×0.1 + 12/122)/23.
	want["meter/MTR-A@2026-03-28 06:00:00"] = accuracyRow{23, 2322, 2530, 232.0 / 23, math.Sqrt(2344.0 / 23),
		(2.2 + 12.0/122) / 23, 208.0 / 23, 232.0 / 23 / 5, "model"}
	checkAccuracy(t, readAccuracy(t, conn), want)
	var stored uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM forecast_accuracy FINAL").Scan(&stored); err != nil || stored != 3 {
		t.Errorf("%d rows after re-scoring (%v), want 3", stored, err)
	}

	if _, err := s.Score(ctx, to, from, to); err == nil {
		t.Error("Score accepted a reversed range")
	}
}

func checkAccuracy(t *testing.T, got, want map[string]accuracyRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("accuracy rows %v, want %d", got, len(want))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("no accuracy row %s in %v", k, got)
			continue
		}
		same := g.hours == w.hours && g.method == w.method
		for _, p := range [][2]float64{{g.actual, w.actual}, {g.forecast, w.forecast}, {g.mae, w.mae}, {g.rmse, w.rmse},
			{g.mape, w.mape}, {g.bias, w.bias}, {g.mase, w.mase}} {
			same = same && sameFloat(p[0], p[1])
		}
		if !same {
			t.Errorf("%s: %+v, want %+v", k, g, w)
		}
	}
}
