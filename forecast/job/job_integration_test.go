package job

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/calendar/holidays"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/sim"
	"github.com/meterhouse/meterhouse/weather"
)

// jobFixture is a fresh database holding a simulated fleet's history, a holiday, weather
// and a meter with three days of history only.
type jobFixture struct {
	conn   driver.Conn
	job    *Job
	hist   sim.History
	issued time.Time
}

func newJobFixture(t *testing.T, cfg Config) *jobFixture {
	t.Helper()
	ctx := context.Background()
	_, conn := testenv.ClickHouse(t)
	h := sim.History{Meters: 300, First: time.Date(2026, 9, 7, 0, 0, 0, 0, time.UTC), Days: 45, Regions: 2, Seed: 1}
	if err := h.Insert(ctx, conn, true); err != nil {
		t.Fatal(err)
	}
	cals, err := holidays.NewStore(conn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cals.Load(ctx, []holidays.Entry{{Region: "R0", Date: time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC), Kind: holidays.EntryHoliday, Name: "test holiday"}}, "test"); err != nil {
		t.Fatal(err)
	}
	wx, err := weather.NewStore(conn)
	if err != nil {
		t.Fatal(err)
	}
	issued := h.First.AddDate(0, 0, 43).Add(10 * time.Hour)
	var vals []weather.Value
	for d := range h.Days {
		for hr := range 24 {
			at := h.First.AddDate(0, 0, d).Add(time.Duration(hr) * time.Hour)
			v := weather.Value{Region: "R0", ValidTime: at, IssuedAt: at, Kind: weather.Observed, Source: "sim", TemperatureC: h.Temperature(d, hr)}
			if at.Before(issued) {
				vals = append(vals, v)
			}
			if d >= 43 { // the forecast issued an hour before the issue, for the rest of day 43 and day 44
				v.Kind, v.IssuedAt = weather.Forecast, issued.Add(-time.Hour)
				vals = append(vals, v)
			}
		}
	}
	if _, err := wx.Load(ctx, vals); err != nil {
		t.Fatal(err)
	}
	// A meter registered three days before the issue.
	if err := conn.Exec(ctx, `INSERT INTO meters (meter_id, customer_class, feeder, region, tariff, time_zone, life_support, status, updated_at)
SELECT 'SHORT1', 'residential', 'F0', 'R1', 'T-RES', 'UTC', 0, 'active', now()`); err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, `INSERT INTO consumption_profiles (day, meter_id, time_zone, start, wh, intervals, computed_at)
SELECT day, 'SHORT1', 'UTC', start, wh, intervals, computed_at FROM consumption_profiles WHERE meter_id = 'H10000001' AND day >= toDate('2026-10-17')`); err != nil {
		t.Fatal(err)
	}
	j, err := New(cfg, conn, cals, wx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return &jobFixture{conn: conn, job: j, hist: h, issued: issued}
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.HistoryDays = 42
	cfg.TrainMeters = 200
	cfg.Lambdas = []float64{1e-3, 1e-1}
	cfg.ChunkMeters = 70 // several chunks
	return cfg
}

func count(t *testing.T, conn driver.Conn, q string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestJobRun runs the job for an issue whose target day is held back in the history:
// every meter and group gets one forecast, the short meter a baseline that says why, the
// models are stored, a re-run replaces rather than duplicates, and the scored accuracy
// shows the shared model beating seasonal naive on the held-back day.
func TestJobRun(t *testing.T) {
	f := newJobFixture(t, testConfig())
	ctx := context.Background()
	res, err := f.job.Run(ctx, f.issued, Options{KeepGroups: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ClassErrors) > 0 {
		t.Fatalf("class models not fitted: %v", res.ClassErrors)
	}
	// Region R1 has no weather: its meters use the model without temperature, and say so
	// where their class has a temperature model.
	if res.Failed != 0 || res.Meters["model"]+res.Meters["model-no-weather-forecast"] != 300 || res.Meters["model-no-weather-forecast"] == 0 {
		t.Fatalf("meters by method %v, failed %d %q: want 300 by the models, some without weather", res.Meters, res.Failed, res.FailedSample)
	}
	if n := count(t, f.conn, `SELECT count() FROM (SELECT id, method FROM forecasts FINAL WHERE method = 'model-no-weather-forecast')
ANY INNER JOIN (SELECT meter_id AS id, region FROM meters) USING id WHERE region != 'R1'`); n != 0 {
		t.Errorf("%d meters outside R1 forecast without weather, want 0", n)
	}
	var method string
	if err := f.conn.QueryRow(ctx, `SELECT method FROM forecasts FINAL WHERE scope = 'meter' AND id = 'SHORT1'`).Scan(&method); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(method, "seasonal-naive-day: ") || !strings.Contains(method, "history") {
		t.Errorf("SHORT1's method %q: want the day baseline with the reason", method)
	}
	if n := count(t, f.conn, `SELECT count() FROM forecasts FINAL WHERE scope = 'meter'`); n != 301 {
		t.Errorf("%d meter forecasts, want 301", n)
	}
	// Groups: 1 feeder, 2 regions, 3 classes, 2 tariffs and the fleet.
	if n := count(t, f.conn, `SELECT count() FROM forecasts FINAL WHERE scope != 'meter'`); n != 9 {
		t.Errorf("%d group forecasts, want 9", n)
	}
	var wh []float64
	var start time.Time
	if err := f.conn.QueryRow(ctx, `SELECT start, wh FROM forecasts FINAL WHERE scope = 'fleet' AND id = 'all'`).Scan(&start, &wh); err != nil {
		t.Fatal(err)
	}
	if want := f.hist.First.AddDate(0, 0, 44); !start.Equal(want) || len(wh) != 24 {
		t.Errorf("fleet forecast starts %s with %d hours, want %s and 24", start, len(wh), want)
	}
	var actual float64
	if err := f.conn.QueryRow(ctx, `SELECT toFloat64(sum(wh)) FROM group_consumption FINAL WHERE group_kind = 'fleet' AND resolution = '1h' AND start >= ? AND start < ?`,
		start, start.Add(24*time.Hour)).Scan(&actual); err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, v := range wh {
		total += v
	}
	if math.Abs(total-actual) > 0.05*actual {
		t.Errorf("fleet forecast %.0f Wh for the day, actual %.0f Wh: want within 5 %%", total, actual)
	}
	// The class models use the weather forecast (the simulated load depends on temperature)
	// for the region that has one.
	var withTemp uint64
	if withTemp = count(t, f.conn, `SELECT count() FROM forecast_models FINAL WHERE position(features, 'temp') > 0`); withTemp == 0 {
		t.Error("no model with temperature was chosen")
	}
	if n := count(t, f.conn, `SELECT count() FROM forecast_models FINAL WHERE validation_mae < baseline_validation_mae`); n < 3 {
		t.Errorf("%d models beat seasonal naive on validation, want every class model", n)
	}

	// The store (behind the forecast routes) returns the run's latest issue.
	fc, ok, err := f.job.Store().Forecast(ctx, ScopeMeter, "H10000005", f.issued.Add(time.Hour))
	if err != nil || !ok {
		t.Fatalf("Store.Forecast: %v, found %v", err, ok)
	}
	if !fc.Issued.Equal(f.issued) || len(fc.Wh) != 24 || fc.ModelVersion == "" || !(fc.Scale > 0) || !(fc.NaiveMAE > 0) {
		t.Errorf("stored forecast %+v: want the run's issue, 24 hours, a model version, a level and a MASE denominator", fc)
	}

	// And the analyst route serves the run's fleet forecast.
	srv, token := testenv.API(t, f.conn)
	if err := f.job.Store().Register(srv); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Echo())
	defer hs.Close()
	resp := testenv.Do(t, testenv.Request{Method: http.MethodGet, URL: hs.URL + "/v1/fleet/forecast?issued=" + f.issued.Add(time.Hour).Format(time.RFC3339),
		Token: token(api.RoleAnalyst)})
	var body struct {
		Issued, Method string
		Rows           []struct{ Wh float64 }
	}
	if err := json.Unmarshal(resp.Body, &body); resp.Status != http.StatusOK || err != nil {
		t.Fatalf("GET /v1/fleet/forecast: %d %s", resp.Status, resp.Body)
	}
	if body.Issued != f.issued.Format(time.RFC3339) || body.Method != "group-model" || len(body.Rows) != 24 || body.Rows[12].Wh != wh[12] {
		t.Errorf("fleet route: issued %s, method %s, %d rows: want the run's own-model forecast of 24 hours", body.Issued, body.Method, len(body.Rows))
	}

	// Re-running the same issue replaces every row.
	if _, err := f.job.Run(ctx, f.issued, Options{}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, f.conn, `SELECT count() FROM forecasts FINAL`); n != 310 {
		t.Errorf("after a re-run %d forecasts, want 310", n)
	}
	if n := count(t, f.conn, `SELECT count() FROM forecast_accuracy FINAL WHERE scope = 'meter'`); n != 301 {
		t.Errorf("%d meters scored, want 301", n)
	}
	rows, err := f.conn.Query(ctx, `SELECT mase FROM forecast_accuracy FINAL WHERE scope = 'meter' AND method = 'model'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var mases []float64
	for rows.Next() {
		var m float64
		if err := rows.Scan(&m); err != nil {
			t.Fatal(err)
		}
		mases = append(mases, m)
	}
	sort.Float64s(mases)
	t.Logf("fleet: forecast %.0f Wh, actual %.0f Wh; median MASE of %d meters %.3f", total, actual, len(mases), mases[len(mases)/2])
	if med := mases[len(mases)/2]; !(med < 0.9) {
		t.Errorf("median MASE of the model on the held-back day %.3f, want < 0.9 (seasonal naive is about 1)", med)
	}
}

// TestJobGroupFilter forecasts one feeder only: its meters and itself.
func TestJobGroupFilter(t *testing.T) {
	cfg := testConfig()
	cfg.GroupMethod = map[string]string{"region": GroupOwn}
	f := newJobFixture(t, cfg)
	ctx := context.Background()
	res, err := f.job.Run(ctx, f.issued, Options{Group: &GroupFilter{Kind: "region", ID: "R1"}, KeepGroups: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Meters["model"] + res.Meters["seasonal-naive-day"]; got != 151 {
		t.Errorf("%v: want the 150 meters of R1 and SHORT1", res.Meters)
	}
	if n := count(t, f.conn, `SELECT count() FROM forecasts FINAL WHERE scope != 'meter'`); n != 1 {
		t.Errorf("%d group forecasts, want region R1 only", n)
	}
	g := res.ByGroup["region/R1"]
	if g == nil || g.Sum == nil {
		t.Fatalf("no sum for region R1: %+v", res.ByGroup)
	}
	if g.Own == nil {
		t.Fatalf("region R1 has no own-model forecast: %s", g.OwnErr)
	}
	var method string
	if err := f.conn.QueryRow(ctx, `SELECT method FROM forecasts FINAL WHERE scope = 'region' AND id = 'R1'`).Scan(&method); err != nil {
		t.Fatal(err)
	}
	if method != "group-model" {
		t.Errorf("region R1's method %q, want group-model (forecast.group_method.region: own)", method)
	}
}
