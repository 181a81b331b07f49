package job

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/query/consumption"
	"github.com/meterhouse/meterhouse/schema"
)

// client calls the test API with one token.
type client struct {
	t     *testing.T
	base  string
	token string
}

func (c client) do(method, path string, body any, accept string) (int, []byte) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req := testenv.Request{Method: method, URL: c.base + path, Token: c.token, Accept: accept, Body: r}
	if body != nil {
		req.ContentType = "application/json"
	}
	resp := testenv.Do(c.t, req)
	return resp.Status, resp.Body
}

func (c client) consumption(id string, params url.Values) consumption.Consumption {
	c.t.Helper()
	code, b := c.do(http.MethodGet, "/v1/meters/"+id+"/consumption?"+params.Encode(), nil, "")
	if code != http.StatusOK {
		c.t.Fatalf("consumption %v: %d %s", params, code, b)
	}
	var res consumption.Consumption
	if err := json.Unmarshal(b, &res); err != nil {
		c.t.Fatal(err)
	}
	return res
}

// TestAPI serves validated consumption in local days of 23 and 24 hours and months, as
// CSV, and edits it through the API with real tokens.
func TestAPI(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	from, to := time.Date(2026, 3, 27, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	d := simulate(t, 6, from, to, to)
	if err := schema.InsertMeters(context.Background(), conn, d.meters); err != nil {
		t.Fatal(err)
	}
	insertReadings(t, conn, d.readings)
	clock := to.Add(10 * time.Minute)
	j := newJob(t, conn, testConfig(), &clock)
	runAt(t, j, &clock, clock)

	srv, token := testenv.API(t, conn)
	q, err := consumption.New(consumption.DefaultConfig(), conn)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Register(srv); err != nil {
		t.Fatal(err)
	}
	if err := j.Register(srv); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Echo())
	t.Cleanup(hs.Close)
	analyst := client{t, hs.URL, token(api.RoleAnalyst)}
	editor := client{t, hs.URL, token(api.RoleAnalyst, api.RoleEditor)}
	billing := client{t, hs.URL, token(api.RoleBilling)}
	m := d.meters[5].MeterID

	t.Run("local days of 24 and 23 hours", func(t *testing.T) {
		p := url.Values{"from": {"2026-03-28T00:00:00+01:00"}, "to": {"2026-03-30T00:00:00+02:00"}, "step": {"1d"}, "tz": {"Europe/Berlin"}}
		raw := analyst.consumption(m, p)
		p.Set("source", "validated")
		val := analyst.consumption(m, p)
		if len(val.Points) != 2 || len(raw.Points) != 2 {
			t.Fatalf("points: validated %+v, raw %+v", val.Points, raw.Points)
		}
		for i, want := range []string{"2026-03-27T23:00:00Z", "2026-03-28T23:00:00Z"} {
			p := val.Points[i]
			if p.Start.UTC().Format(time.RFC3339) != want || p.Wh != raw.Points[i].Wh || *p.Completeness != 1 || *p.Quality != 0 {
				t.Errorf("day %d: %+v (quality %d, completeness %g), raw %+v; want start %s", i, p, *p.Quality, *p.Completeness, raw.Points[i], want)
			}
		}
		// The 23-hour day sums its 92 quarter hours.
		q := analyst.consumption(m, url.Values{"from": {"2026-03-28T23:00:00Z"}, "to": {"2026-03-29T22:00:00Z"}, "step": {"15m"}, "source": {"validated"}})
		var sum int64
		for _, p := range q.Points {
			sum += p.Wh
		}
		if len(q.Points) != 92 || sum != val.Points[1].Wh {
			t.Errorf("23-hour day: %d quarter hours summing to %d, day point %d", len(q.Points), sum, val.Points[1].Wh)
		}
		mo := analyst.consumption(m, url.Values{"from": {"2026-03-01T00:00:00Z"}, "to": {"2026-03-31T00:00:00Z"}, "step": {"1mo"}, "tz": {"Europe/Berlin"}, "source": {"validated"}})
		if len(mo.Points) != 1 || mo.Points[0].Start.UTC().Format(time.RFC3339) != "2026-02-28T23:00:00Z" || *mo.Points[0].Completeness >= 0.2 {
			t.Errorf("month: %+v", mo.Points)
		}
	})

	t.Run("CSV", func(t *testing.T) {
		code, b := analyst.do(http.MethodGet, "/v1/meters/"+m+"/consumption?from=2026-03-29T00:00:00Z&to=2026-03-29T02:00:00Z&source=validated", nil, "text/csv")
		recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if code != http.StatusOK || err != nil || len(recs) != 3 || fmt.Sprint(recs[0]) != "[start wh quality estimated edited questionable completeness]" {
			t.Errorf("CSV: %d %v %q", code, err, b)
		}
	})

	t.Run("bad parameters", func(t *testing.T) {
		for _, p := range []string{"tz=Mars/Olympus", "source=cooked", "step=1w"} {
			code, b := analyst.do(http.MethodGet, "/v1/meters/"+m+"/consumption?from=2026-03-29T00:00:00Z&to=2026-03-30T00:00:00Z&"+p, nil, "")
			if code != http.StatusBadRequest {
				t.Errorf("%s: %d %s", p, code, b)
			}
		}
	})

	t.Run("times the store cannot hold and implausible values", func(t *testing.T) {
		// An edit starting in 2163 was stored wrapped into 2026, off the grid; 1900 and 2200
		// as 2036 and 2063, answered 201.
		for _, c := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"start": "2163-01-01T10:00:00Z", "wh": 1, "reason": "r"}, "start"},
			{map[string]any{"start": "1900-01-01T00:00:00Z", "wh": 1, "reason": "r"}, "start"},
			{map[string]any{"start": "2200-01-01T00:00:00Z", "wh": 1, "reason": "r"}, "start"},
			{map[string]any{"start": "2026-03-29T10:00:00Z", "end": "2200-01-01T00:00:00Z", "wh": 1, "reason": "r"}, "end"},
			{map[string]any{"start": "2026-03-29T10:00:00Z", "wh": -5, "reason": "r"}, "wh"},
			{map[string]any{"start": "2026-03-29T10:00:00Z", "wh": DefaultMaxEditWh + 1, "reason": "r"}, "wh"},
		} {
			code, b := editor.do(http.MethodPost, "/v1/meters/"+m+"/edits", c.body, "")
			if code != http.StatusBadRequest || !bytes.Contains(b, []byte(`"field":"`+c.field+`"`)) {
				t.Errorf("edit %v: %d %s, want 400 on %s", c.body, code, b, c.field)
			}
		}
		var n uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM consumption_edits").Scan(&n); err != nil || n != 0 {
			t.Errorf("%d edits stored (%v), want none", n, err)
		}
		for _, c := range []struct{ path, field string }{
			{"/v1/meters/" + m + "/consumption?from=2200-01-01T00:00:00Z&to=2200-01-02T00:00:00Z", "from"},
			{"/v1/meters/" + m + "/consumption?from=1900-01-01T00:00:00Z&to=2026-01-02T00:00:00Z", "from"},
			{"/v1/meters/" + m + "/consumption?from=2026-01-01T00:00:00Z&to=2163-01-02T00:00:00Z", "to"},
			{"/v1/meters/" + m + "/consumption?from=1970-01-01T00:00:00Z&to=1970-01-03T00:00:00Z&step=1d&tz=Asia/Tokyo", "from"},
			{"/v1/meters/" + m + "/edits?from=2200-01-01T00:00:00Z", "from"},
		} {
			code, b := billing.do(http.MethodGet, c.path, nil, "")
			if code != http.StatusBadRequest || !bytes.Contains(b, []byte(`"field":"`+c.field+`"`)) || !bytes.Contains(b, []byte("time the store holds")) {
				t.Errorf("%s: %d %s, want 400 on %s", c.path, code, b, c.field)
			}
		}
	})

	t.Run("edit", func(t *testing.T) {
		p := url.Values{"from": {"2026-03-29T10:00:00Z"}, "to": {"2026-03-29T11:00:00Z"}, "step": {"15m"}, "source": {"validated"}}
		before := analyst.consumption(m, p)
		var prev int64
		for _, pt := range before.Points {
			prev += pt.Wh
		}
		edit := map[string]any{"start": "2026-03-29T10:00:00Z", "end": "2026-03-29T11:00:00Z", "wh": 1000, "mode": "spread", "reason": "customer reading on site"}
		if code, b := analyst.do(http.MethodPost, "/v1/meters/"+m+"/edits", edit, ""); code != http.StatusForbidden {
			t.Errorf("analyst without the edit permission: %d %s", code, b)
		}
		if code, b := billing.do(http.MethodPost, "/v1/meters/"+m+"/edits", edit, ""); code != http.StatusForbidden {
			t.Errorf("billing may not edit: %d %s", code, b)
		}
		if code, b := editor.do(http.MethodPost, "/v1/meters/"+m+"/edits", map[string]any{"start": "2026-03-29T10:00:00Z", "wh": 1}, ""); code != http.StatusBadRequest || !bytes.Contains(b, []byte(`"field":"reason"`)) {
			t.Errorf("edit without a reason: %d %s", code, b)
		}
		if code, b := editor.do(http.MethodPost, "/v1/meters/NOPE/edits", edit, ""); code != http.StatusNotFound {
			t.Errorf("edit of an unknown meter: %d %s", code, b)
		}
		code, b := editor.do(http.MethodPost, "/v1/meters/"+m+"/edits", edit, "")
		var got editResponse
		if err := json.Unmarshal(b, &got); code != http.StatusCreated || err != nil {
			t.Fatalf("edit: %d %s", code, b)
		}
		if !got.Recomputed || got.PreviousWh != prev || got.Author == "" || got.ID == "" {
			t.Errorf("edit response %+v, previous %d", got, prev)
		}
		after := analyst.consumption(m, p)
		for _, pt := range after.Points {
			if pt.Wh != 250 || *pt.Quality != 7 || *pt.Edited != 1 {
				t.Errorf("edited interval %+v (quality %d)", pt, *pt.Quality)
			}
		}
		// The original stays queryable: raw consumption is unchanged.
		raw := analyst.consumption(m, url.Values{"from": p["from"], "to": p["to"], "step": p["step"]})
		var rawSum int64
		for _, pt := range raw.Points {
			rawSum += pt.Wh
		}
		if rawSum != prev {
			t.Errorf("raw consumption %d, before the edit %d", rawSum, prev)
		}
		code, b = billing.do(http.MethodGet, "/v1/meters/"+m+"/edits", nil, "")
		var list struct {
			Rows []map[string]any `json:"rows"`
		}
		if err := json.Unmarshal(b, &list); code != http.StatusOK || err != nil || len(list.Rows) != 1 ||
			list.Rows[0]["previous_wh"] != float64(prev) || list.Rows[0]["reason"] != "customer reading on site" {
			t.Errorf("edits: %d %s", code, b)
		}
		// The day's row counts the edited intervals.
		day := analyst.consumption(m, url.Values{"from": {"2026-03-29T00:00:00+01:00"}, "to": {"2026-03-30T00:00:00+02:00"}, "step": {"1d"}, "tz": {"Europe/Berlin"}, "source": {"validated"}})
		if len(day.Points) != 1 || *day.Points[0].Edited != 4 || *day.Points[0].Quality != 13 {
			t.Errorf("edited day: %+v", day.Points)
		}
	})
}
