package job

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/table"
)

// forecastBody is the JSON answer of a forecast route.
type forecastBody struct {
	Scope        string  `json:"scope"`
	ID           string  `json:"id"`
	Issued       string  `json:"issued"`
	Start        string  `json:"start"`
	Method       string  `json:"method"`
	ModelVersion string  `json:"model_version"`
	Scale        float64 `json:"scale"`
	Unit         string  `json:"unit"`
	Rows         []struct {
		Time string  `json:"time"`
		Wh   float64 `json:"wh"`
	} `json:"rows"`
}

// accuracyBody is the JSON answer of the accuracy route; NaN measures are nulls (nil).
type accuracyBody struct {
	Scope string           `json:"scope"`
	Rows  []map[string]any `json:"rows"`
}

// insertAccuracyRows writes forecast_accuracy rows of one region issue: one per element of
// maes, mases and biases.
func insertAccuracyRows(t *testing.T, conn driver.Conn, issued string, maes, mases, biases []float64) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), insertAccuracy)
	if err != nil {
		t.Fatal(err)
	}
	for i := range maes {
		id := string(rune('a' + i))
		if err := b.Append("region", id, mustTime(t, issued), mustTime(t, issued).Add(18*time.Hour), uint16(24), 100.0, 100.0,
			maes[i], maes[i], math.NaN(), biases[i], mases[i], "model", "v1", time.Unix(1e9, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// TestRoutes serves the forecasts and their accuracy to analysts, as JSON, CSV and Arrow,
// with issued and horizon; refuses bad parameters with 400 naming them, answers 404 when
// no forecast was issued, and refuses other roles.
func TestRoutes(t *testing.T) {
	s, conn := newTestStore(t)
	ctx := context.Background()
	scoreFixture(t, s, conn)
	if _, err := s.Score(ctx, mustTime(t, "2026-03-27T00:00:00Z"), mustTime(t, "2026-03-30T00:00:00Z"), mustTime(t, "2026-03-31T01:00:00Z")); err != nil {
		t.Fatal(err)
	}
	// Five regions on one issue, and one whose series have no MASE.
	nan := math.NaN()
	insertAccuracyRows(t, conn, "2026-02-01T06:00:00Z", []float64{1, 5, 3, 7, 9}, []float64{2, nan, 4, 8, nan}, []float64{1, 2, 3, 4, 5})
	insertAccuracyRows(t, conn, "2026-02-02T06:00:00Z", []float64{2, 4}, []float64{nan, nan}, []float64{-1, -3})
	s.now = func() time.Time { return mustTime(t, "2026-03-31T00:00:00Z") }

	srv, token := testenv.API(t, conn)
	if err := s.Register(srv); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Echo())
	t.Cleanup(hs.Close)
	analyst, billing := token(api.RoleAnalyst), token(api.RoleBilling)
	get := func(path, tok, accept string) testenv.Response {
		t.Helper()
		return testenv.Do(t, testenv.Request{Method: http.MethodGet, URL: hs.URL + path, Token: tok, Accept: accept})
	}
	forecast := func(path string) forecastBody {
		t.Helper()
		r := get(path, analyst, "")
		var b forecastBody
		if err := json.Unmarshal(r.Body, &b); r.Status != http.StatusOK || err != nil {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
		return b
	}

	t.Run("routes are documented", func(t *testing.T) {
		for _, r := range srv.Routes() {
			if !strings.Contains(r.Path, "forecast") {
				continue
			}
			if r.Summary == "" || r.Description == "" || !slices.Equal(r.Roles, []api.Role{api.RoleAnalyst}) {
				t.Errorf("%s %s: summary %q, roles %v", r.Method, r.Path, r.Summary, r.Roles)
			}
			for _, seg := range strings.Split(r.Path, "/") {
				if name, ok := strings.CutPrefix(seg, ":"); ok && !slices.ContainsFunc(r.Params, func(p api.Param) bool { return p.Name == name && p.In == "path" }) {
					t.Errorf("%s: path parameter %s undocumented", r.Path, name)
				}
			}
		}
	})

	t.Run("meter: latest, by issue, horizon", func(t *testing.T) {
		b := forecast("/v1/meters/MTR-A/forecast")
		if b.Scope != "meter" || b.ID != "MTR-A" || b.Issued != "2026-03-30T06:00:00Z" || b.Start != "2026-03-30T22:00:00Z" ||
			b.Method != "model" || b.ModelVersion != "v1" || b.Scale != 1 || b.Unit != "Wh" || len(b.Rows) != 24 {
			t.Errorf("latest: %+v", b)
		}
		b = forecast("/v1/meters/MTR-A/forecast?issued=2026-03-29T00:00:00Z")
		if b.Issued != "2026-03-28T06:00:00Z" || len(b.Rows) != 23 || b.Rows[0].Time != "2026-03-28T23:00:00Z" ||
			b.Rows[22].Time != "2026-03-29T21:00:00Z" || b.Rows[22].Wh != 110 {
			t.Errorf("the 23-hour day: %+v", b)
		}
		// Hours starting before 06:00 + 24h: 23:00 to 05:00, seven.
		b = forecast("/v1/meters/MTR-A/forecast?issued=2026-03-29T00:00:00Z&horizon=24h")
		if len(b.Rows) != 7 || b.Rows[6].Time != "2026-03-29T05:00:00Z" {
			t.Errorf("horizon 24h: %+v", b.Rows)
		}
	})

	t.Run("groups and fleet", func(t *testing.T) {
		b := forecast("/v1/groups/feeder/FDR-01/forecast")
		if b.Scope != "feeder" || b.ID != "FDR-01" || len(b.Rows) != 23 || b.Rows[0].Wh != 1000 {
			t.Errorf("feeder: %+v", b)
		}
		for _, p := range []string{"/v1/fleet/forecast?horizon=38h", "/v1/groups/fleet/all/forecast?horizon=38h"} {
			b = forecast(p)
			// 23:00 to 19:00 the next day start before 06:00 + 38h.
			if b.Scope != "fleet" || b.ID != "all" || len(b.Rows) != 21 {
				t.Errorf("%s: %+v", p, b)
			}
		}
	})

	t.Run("CSV and Arrow", func(t *testing.T) {
		r := get("/v1/groups/feeder/FDR-01/forecast?horizon=2h", analyst, table.MediaCSV)
		recs, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
		if r.Status != http.StatusOK || err != nil || len(recs) != 1 {
			// 2h after 06:00 is before the first hour: a header only.
			t.Errorf("CSV: %d %v %q", r.Status, err, r.Body)
		}
		r = get("/v1/meters/MTR-B/forecast?issued=2026-03-28T00:00:00Z", analyst, table.MediaCSV)
		recs, err = csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
		if r.Status != http.StatusOK || err != nil || len(recs) != 25 || strings.Join(recs[0], ",") != "time,wh" ||
			strings.Join(recs[1], ",") != "2026-03-27T23:00:00Z,90" {
			t.Errorf("CSV: %d %v %q", r.Status, err, r.Body)
		}
		r = get("/v1/meters/MTR-B/forecast?issued=2026-03-28T00:00:00Z", analyst, table.MediaArrow)
		if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), table.MediaArrow) {
			t.Fatalf("Arrow: %d %s", r.Status, r.Body)
		}
		rd, err := ipc.NewReader(bytes.NewReader(r.Body))
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Release()
		n, sum := 0, 0.0
		for rd.Next() {
			rec := rd.RecordBatch()
			if rec.Schema().Field(0).Name != "time" || rec.Schema().Field(1).Name != "wh" {
				t.Errorf("Arrow schema %v", rec.Schema())
			}
			for _, v := range rec.Column(1).(*array.Float64).Float64Values() {
				n, sum = n+1, sum+v
			}
		}
		if n != 24 || sum != 24*90 {
			t.Errorf("Arrow: %d hours summing to %v", n, sum)
		}
		r = get("/v1/forecast/accuracy?scope=meter&id=MTR-A&from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z", analyst, table.MediaCSV)
		recs, err = csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
		if r.Status != http.StatusOK || err != nil || len(recs) != 2 ||
			strings.Join(recs[0], ",") != "issued,start,hours,actual_wh,forecast_wh,mae,rmse,mape,bias,mase,method,model_version" {
			t.Errorf("accuracy CSV: %d %v %q", r.Status, err, r.Body)
		}
		r = get("/v1/forecast/accuracy?scope=region&from=2026-02-01T00:00:00Z&to=2026-02-03T00:00:00Z", analyst, table.MediaArrow)
		if rd, err := ipc.NewReader(bytes.NewReader(r.Body)); r.Status != http.StatusOK || err != nil || rd.Schema().NumFields() != 8 {
			t.Errorf("accuracy Arrow: %d %v", r.Status, err)
		} else {
			rd.Release()
		}
	})

	t.Run("accuracy", func(t *testing.T) {
		acc := func(q string) accuracyBody {
			t.Helper()
			r := get("/v1/forecast/accuracy?"+q, analyst, "")
			var b accuracyBody
			if err := json.Unmarshal(r.Body, &b); r.Status != http.StatusOK || err != nil {
				t.Fatalf("%s: %d %s", q, r.Status, r.Body)
			}
			return b
		}
		b := acc("scope=meter&id=MTR-B&from=2026-03-27T00:00:00Z&to=2026-03-30T00:00:00Z")
		if len(b.Rows) != 1 || b.Rows[0]["issued"] != "2026-03-27T06:00:00Z" || b.Rows[0]["mae"] != 10.0 ||
			b.Rows[0]["bias"] != -10.0 || b.Rows[0]["hours"] != 24.0 || b.Rows[0]["mase"] != nil {
			t.Errorf("MTR-B: %+v", b.Rows)
		}
		// From is inclusive, to exclusive.
		if b := acc("scope=meter&id=MTR-B&from=2026-03-27T06:00:01Z&to=2026-03-30T00:00:00Z"); len(b.Rows) != 0 {
			t.Errorf("after the issue: %+v", b.Rows)
		}
		b = acc("scope=feeder&id=FDR-01&from=2026-03-27T00:00:00Z&to=2026-03-30T00:00:00Z")
		if len(b.Rows) != 1 || b.Rows[0]["hours"] != 2.0 || b.Rows[0]["mase"] != 2.0 {
			t.Errorf("FDR-01: %+v", b.Rows)
		}
		b = acc("scope=region&from=2026-02-01T00:00:00Z&to=2026-02-03T00:00:00Z")
		want := []map[string]any{
			{"issued": "2026-02-01T06:00:00Z", "series": 5.0, "median_mae": 5.0, "mean_mae": 5.0, "median_mase": 4.0,
				"mean_mase": 14.0 / 3, "mean_bias": 3.0, "hours": 120.0},
			{"issued": "2026-02-02T06:00:00Z", "series": 2.0, "median_mae": 3.0, "mean_mae": 3.0, "median_mase": nil,
				"mean_mase": nil, "mean_bias": -2.0, "hours": 48.0},
		}
		if len(b.Rows) != 2 {
			t.Fatalf("summary: %+v", b.Rows)
		}
		for i, w := range want {
			for k, v := range w {
				g := b.Rows[i][k]
				gf, gok := g.(float64)
				wf, wok := v.(float64)
				if g != v && !(gok && wok && sameFloat(gf, wf)) {
					t.Errorf("summary row %d %s = %v, want %v", i, k, g, v)
				}
			}
		}
		if b := acc("scope=meter&from=2026-03-27T00:00:00Z&to=2026-03-30T00:00:00Z"); len(b.Rows) != 2 || b.Rows[0]["series"] != 1.0 {
			t.Errorf("meter summary: %+v", b.Rows)
		}
	})

	t.Run("bad parameters", func(t *testing.T) {
		for _, c := range []struct{ path, field string }{
			{"/v1/groups/street/X/forecast", "kind"},
			{"/v1/groups/meter/MTR-A/forecast", "kind"},
			{"/v1/groups/fleet/everyone/forecast", "group_id"},
			{"/v1/meters/MTR%201/forecast", "meter_id"},
			{"/v1/meters/MTR-A/forecast?horizon=0s", "horizon"},
			{"/v1/meters/MTR-A/forecast?horizon=-1h", "horizon"},
			{"/v1/meters/MTR-A/forecast?horizon=73h", "horizon"},
			{"/v1/meters/MTR-A/forecast?horizon=1d", "horizon"},
			{"/v1/meters/MTR-A/forecast?issued=yesterday", "issued"},
			{"/v1/meters/MTR-A/forecast?issued=2200-01-01T00:00:00Z", "issued"},
			{"/v1/forecast/accuracy?from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z", "scope"},
			{"/v1/forecast/accuracy?scope=street&from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z", "scope"},
			{"/v1/forecast/accuracy?scope=street&id=X&from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z", "scope"},
			{"/v1/forecast/accuracy?scope=meter&id=MTR%201&from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z", "id"},
			{"/v1/forecast/accuracy?scope=meter&to=2026-04-01T00:00:00Z", "from"},
			{"/v1/forecast/accuracy?scope=meter&from=2026-04-01T00:00:00Z&to=2026-04-01T00:00:00Z", "to"},
			{"/v1/forecast/accuracy?scope=meter&from=2026-04-02T00:00:00Z&to=2026-04-01T00:00:00Z", "to"},
			{"/v1/forecast/accuracy?scope=meter&from=2025-01-01T00:00:00Z&to=2026-04-01T00:00:00Z", "to"},
		} {
			r := get(c.path, analyst, "")
			if r.Status != http.StatusBadRequest || !bytes.Contains(r.Body, []byte(`"field":"`+c.field+`"`)) {
				t.Errorf("%s: %d %s, want 400 on %s", c.path, r.Status, r.Body, c.field)
			}
		}
		if r := get("/v1/meters/MTR-A/forecast", analyst, "text/html"); r.Status != http.StatusNotAcceptable {
			t.Errorf("Accept text/html: %d %s", r.Status, r.Body)
		}
	})

	t.Run("not found", func(t *testing.T) {
		for _, c := range []struct{ path, says string }{
			{"/v1/meters/NOPE/forecast", `meter \"NOPE\"`},
			{"/v1/meters/MTR-A/forecast?issued=2026-03-28T05:59:59Z", "2026-03-28T05:59:59Z"},
			{"/v1/groups/tariff/T1/forecast", `tariff \"T1\"`},
		} {
			r := get(c.path, analyst, "")
			if r.Status != http.StatusNotFound || !bytes.Contains(r.Body, []byte(c.says)) {
				t.Errorf("%s: %d %s, want 404 saying %s", c.path, r.Status, r.Body, c.says)
			}
		}
	})

	t.Run("other roles refused", func(t *testing.T) {
		for _, p := range []string{"/v1/meters/MTR-A/forecast", "/v1/groups/feeder/FDR-01/forecast", "/v1/fleet/forecast",
			"/v1/forecast/accuracy?scope=meter&from=2026-03-27T00:00:00Z&to=2026-03-30T00:00:00Z"} {
			if r := get(p, billing, ""); r.Status != http.StatusForbidden {
				t.Errorf("billing %s: %d %s", p, r.Status, r.Body)
			}
			if r := get(p, "", ""); r.Status != http.StatusUnauthorized {
				t.Errorf("no token %s: %d %s", p, r.Status, r.Body)
			}
		}
	})
}
