package analytics_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/query/analytics"
	"github.com/meterhouse/meterhouse/query/consumption"
	"github.com/meterhouse/meterhouse/table"
)

// analyticsAPI is one test's API over a fresh database holding the contract tables.
type analyticsAPI struct {
	conn  driver.Conn
	url   string
	token func(roles ...api.Role) string
	user  string // an analyst's token
}

// newAnalytics serves the analytics routes over a fresh, migrated database.
func newAnalytics(t *testing.T) *analyticsAPI {
	t.Helper()
	_, conn := testenv.ClickHouse(t)
	srv, token := testenv.API(t, conn)
	svc, err := analytics.New(consumption.DefaultConfig(), conn)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Register(srv); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Echo())
	t.Cleanup(hs.Close)
	return &analyticsAPI{conn: conn, url: hs.URL, token: token, user: token(api.RoleAnalyst)}
}

// response is an HTTP answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (a *analyticsAPI) do(t *testing.T, method, path, accept, contentType, body, token string) response {
	t.Helper()
	r := testenv.Do(t, testenv.Request{Method: method, URL: a.url + path, Token: token,
		Accept: accept, ContentType: contentType, Body: strings.NewReader(body)})
	return response{status: r.Status, header: r.Header, body: r.Body}
}

func (a *analyticsAPI) get(t *testing.T, path, accept string) response {
	t.Helper()
	return a.do(t, http.MethodGet, path, accept, "", "", a.user)
}

func decode(t *testing.T, r response) testenv.ResultJSON {
	t.Helper()
	return testenv.DecodeResult(t, r.status, r.body)
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// groupRow is one fixture row of the group_consumption table.
type groupRow struct {
	res, kind, id, start                                 string
	wh                                                   int64
	meters, intervals, expected, estimated, questionable uint32
	computedAt                                           string
}

func insertGroups(t *testing.T, conn driver.Conn, rows []groupRow) {
	t.Helper()
	ctx := context.Background()
	b, err := conn.PrepareBatch(ctx, "INSERT INTO group_consumption (resolution, group_kind, group_id, start, wh, meters, intervals, expected_intervals, estimated, questionable, computed_at)")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.computedAt == "" {
			r.computedAt = "2026-11-01T00:00:00Z"
		}
		if err := b.Append(r.res, r.kind, r.id, ts(r.start), r.wh, r.meters, r.intervals, r.expected, r.estimated, r.questionable, ts(r.computedAt)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

func TestQualityPagination(t *testing.T) {
	a := newAnalytics(t)
	testenv.InsertRegistry(t, a.conn)
	testenv.InsertConsumption(t, a.conn, testenv.QualityRows)
	rng := "from=2026-03-28T00:00:00Z&to=2026-03-28T02:30:00Z" // to rounds up to 03:00: 12 slots per meter

	fields := []string{"meter_id", "intervals", "expected_intervals", "estimated", "edited", "questionable", "flagged_hours", "flags"}
	wantF1 := [][]string{
		{"M1", "8", "12", "1", "0", "0", "1", "spike"},
		{"M2", "3", "12", "0", "1", "1", "1", "gap+spike"},
		{"M3", "0", "12", "0", "0", "0", "0", ""},
	}
	wantTotalsF1 := map[string]string{"meters": "3", "reporting_meters": "2", "intervals": "11", "expected_intervals": "36",
		"estimated": "1", "edited": "1", "questionable": "1", "flagged_hours": "2"}
	wantTotalsFleet := map[string]string{"meters": "5", "reporting_meters": "3", "intervals": "19", "expected_intervals": "60",
		"estimated": "1", "edited": "1", "questionable": "1", "flagged_hours": "2"}
	wantFleet := append(append([][]string{}, wantF1...),
		[]string{"M4", "8", "12", "0", "0", "0", "0", ""},
		[]string{"P", "0", "12", "0", "0", "0", "0", ""})

	tests := []struct {
		name, group string
		limit       int
		wantPages   int
		want        [][]string
		wantTotals  map[string]string
	}{
		{"feeder limit=1", "group_kind=feeder&group_id=F1", 1, 3, wantF1, wantTotalsF1},
		{"feeder limit=2", "group_kind=feeder&group_id=F1", 2, 2, wantF1, wantTotalsF1},
		{"feeder limit=3", "group_kind=feeder&group_id=F1", 3, 1, wantF1, wantTotalsF1},
		{"feeder limit=100", "group_kind=feeder&group_id=F1", 100, 1, wantF1, wantTotalsF1},
		{"fleet limit=2", "", 2, 3, wantFleet, wantTotalsFleet},
		{"fleet explicit limit=4", "group_kind=fleet&group_id=all", 4, 2, wantFleet, wantTotalsFleet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][]string
			cursor, pages := "", 0
			for {
				path := "/v1/quality?" + rng + "&limit=" + itoa(tt.limit)
				if tt.group != "" {
					path += "&" + tt.group
				}
				if cursor != "" {
					path += "&cursor=" + url.QueryEscape(cursor)
				}
				r := a.get(t, path, "")
				res := decode(t, r)
				if r.status != http.StatusOK {
					t.Fatalf("GET %s: %d %s", path, r.status, r.body)
				}
				if r.header.Get(table.HeaderNextCursor) != res.NextCursor {
					t.Fatalf("header cursor %q, body cursor %q", r.header.Get(table.HeaderNextCursor), res.NextCursor)
				}
				if len(res.Rows) > tt.limit {
					t.Fatalf("page of %d rows, limit %d", len(res.Rows), tt.limit)
				}
				for k, v := range tt.wantTotals {
					if testenv.JSONText(res.Totals[k]) != v {
						t.Errorf("totals %s = %v, want %s", k, res.Totals[k], v)
					}
				}
				got = append(got, testenv.Project(res.Rows, fields...)...)
				pages++
				if cursor = res.NextCursor; cursor == "" {
					break
				}
				if pages > 10 {
					t.Fatal("pagination does not end")
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("rows over all pages:\n%v\nwant\n%v", got, tt.want)
			}
			if pages != tt.wantPages {
				t.Errorf("%d pages, want %d", pages, tt.wantPages)
			}
		})
	}

	t.Run("totals route", func(t *testing.T) {
		r := a.get(t, "/v1/quality/totals?group_kind=feeder&group_id=F1&"+rng, "text/csv")
		recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
		if r.status != http.StatusOK || err != nil {
			t.Fatalf("%d %s %v", r.status, r.body, err)
		}
		want := [][]string{
			{"meters", "reporting_meters", "intervals", "expected_intervals", "completeness", "estimated", "edited", "questionable", "flagged_hours"},
			{"3", "2", "11", "36", "0.3055555555555556", "1", "1", "1", "2"},
		}
		if !reflect.DeepEqual(recs, want) {
			t.Fatalf("got %v, want %v", recs, want)
		}
	})

	errs := []struct{ name, path, field string }{
		{"cursor of another group", "/v1/quality?group_kind=feeder&group_id=F2&" + rng + "&cursor=" + firstCursor(t, a, "/v1/quality?group_kind=feeder&group_id=F1&limit=1&"+rng), "cursor"},
		{"garbage cursor", "/v1/quality?" + rng + "&cursor=%21%21", "cursor"},
		{"limit too large", "/v1/quality?" + rng + "&limit=1001", "limit"},
		{"bad kind", "/v1/quality?group_kind=street&group_id=x&" + rng, "group_kind"},
		{"missing id", "/v1/quality?group_kind=feeder&" + rng, "group_id"},
		{"missing from", "/v1/quality?to=2026-03-28T00:00:00Z", "from"},
		{"to before from", "/v1/quality?from=2026-03-28T05:00:00Z&to=2026-03-28T01:00:00Z", "to"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			r := a.get(t, tt.path, "")
			res := decode(t, r)
			if r.status != http.StatusBadRequest || res.Error == nil || res.Error.Field != tt.field {
				t.Fatalf("%d %s; want 400 naming %s", r.status, r.body, tt.field)
			}
		})
	}
	if r := a.get(t, "/v1/quality?group_kind=feeder&group_id=NOPE&"+rng, ""); r.status != http.StatusNotFound {
		t.Errorf("unknown feeder: %d %s", r.status, r.body)
	}
}

func firstCursor(t *testing.T, a *analyticsAPI, path string) string {
	t.Helper()
	c := decode(t, a.get(t, path, "")).NextCursor
	if c == "" {
		t.Fatal("no cursor")
	}
	return url.QueryEscape(c)
}

func itoa(n int) string { return testenv.JSONText(n) }

func TestTopConsumers(t *testing.T) {
	a := newAnalytics(t)
	testenv.InsertRegistry(t, a.conn)
	testenv.InsertConsumption(t, a.conn, testenv.QualityRows)
	insertGroups(t, a.conn, []groupRow{
		{res: "1h", kind: "feeder", id: "F1", start: "2026-03-28T00:00:00Z", wh: 1, computedAt: "2026-10-01T00:00:00Z"},
		{res: "1h", kind: "feeder", id: "F1", start: "2026-03-28T00:00:00Z", wh: 300, meters: 2, intervals: 7, expected: 8},
		{res: "1h", kind: "feeder", id: "F1", start: "2026-03-28T01:00:00Z", wh: 50, meters: 1, intervals: 4, expected: 4},
		{res: "1h", kind: "feeder", id: "F2", start: "2026-03-28T00:00:00Z", wh: 120, meters: 1, intervals: 4, expected: 4},
		{res: "1h", kind: "feeder", id: "F2", start: "2026-03-28T01:00:00Z", wh: 10, meters: 1, intervals: 4, expected: 4},
		{res: "1h", kind: "feeder", id: "F3", start: "2026-03-28T05:00:00Z", wh: 99999, meters: 1, intervals: 4, expected: 4},
		{res: "1h", kind: "region", id: "north", start: "2026-03-28T00:00:00Z", wh: 420, meters: 3},
	})
	rng := "from=2026-03-28T00:00:00Z&to=2026-03-28T03:00:00Z"
	tests := []struct {
		name, query string
		want        [][]string
	}{
		{"meters n=2", "n=2", [][]string{{"1", "M2", "200", "3", "4"}, {"2", "M1", "150", "8", "8"}}},
		{"meters default n", "kind=meter", [][]string{{"1", "M2", "200", "3", "4"}, {"2", "M1", "150", "8", "8"}, {"3", "M4", "130", "8", "8"}}},
		{"feeders", "kind=feeder&n=5", [][]string{{"1", "F1", "350", "11", "12"}, {"2", "F2", "130", "8", "8"}}},
		{"regions", "kind=region", [][]string{{"1", "north", "420", "0", "0"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.get(t, "/v1/top-consumers?"+rng+"&"+tt.query, "")
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			got := testenv.Project(decode(t, r).Rows, "rank", "id", "wh", "intervals", "expected_intervals")
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	for _, q := range []string{"n=0", "n=10001", "kind=fleet", "kind=street"} {
		if r := a.get(t, "/v1/top-consumers?"+rng+"&"+q, ""); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
}

func TestGroupLoad(t *testing.T) {
	a := newAnalytics(t)
	testenv.InsertRegistry(t, a.conn)
	insertGroups(t, a.conn, []groupRow{
		{res: "1h", kind: "feeder", id: "F1", start: "2026-03-28T00:00:00Z", wh: 1, meters: 1, intervals: 1, expected: 4, computedAt: "2026-10-01T00:00:00Z"},
		{res: "1h", kind: "feeder", id: "F1", start: "2026-03-28T00:00:00Z", wh: 300, meters: 2, intervals: 7, expected: 8, questionable: 1},
		{res: "1h", kind: "feeder", id: "F1", start: "2026-03-28T01:00:00Z", wh: 50, meters: 1, intervals: 4, expected: 4, estimated: 2},
		{res: "1h", kind: "feeder", id: "F1", start: "2026-03-28T02:00:00Z", wh: 60, meters: 1, intervals: 4, expected: 4},
		{res: "1h", kind: "feeder", id: "F2", start: "2026-03-28T00:00:00Z", wh: 120, meters: 1, intervals: 4, expected: 4},
		{res: "15m", kind: "feeder", id: "F1", start: "2026-03-28T00:15:00Z", wh: 70, meters: 2, intervals: 2, expected: 2},
		{res: "1d", kind: "feeder", id: "F1", start: "2026-03-28T00:00:00Z", wh: 5000, meters: 3, intervals: 200, expected: 288},
		{res: "1h", kind: "fleet", id: "all", start: "2026-03-28T00:00:00Z", wh: 420, meters: 3, intervals: 11, expected: 12},
	})
	fields := []string{"start", "wh", "meters", "intervals", "expected_intervals", "estimated", "questionable", "completeness"}
	tests := []struct {
		name, path string
		want       [][]string
	}{
		{"feeder 1h", "/v1/groups/feeder/F1/load?from=2026-03-28T00:00:00Z&to=2026-03-28T01:30:00Z&step=1h", [][]string{
			{"2026-03-28T00:00:00Z", "300", "2", "7", "8", "0", "1", "0.875"},
			{"2026-03-28T01:00:00Z", "50", "1", "4", "4", "2", "0", "1"},
		}},
		{"default step is 1h", "/v1/groups/feeder/F2/load?from=2026-03-28T00:00:00Z&to=2026-03-29T00:00:00Z", [][]string{
			{"2026-03-28T00:00:00Z", "120", "1", "4", "4", "0", "0", "1"},
		}},
		{"feeder 15m", "/v1/groups/feeder/F1/load?from=2026-03-28T00:00:00Z&to=2026-03-28T01:00:00Z&step=15m", [][]string{
			{"2026-03-28T00:15:00Z", "70", "2", "2", "2", "0", "0", "1"},
		}},
		{"feeder 1d", "/v1/groups/feeder/F1/load?from=2026-03-28T10:00:00Z&to=2026-03-28T11:00:00Z&step=1d", [][]string{
			{"2026-03-28T00:00:00Z", "5000", "3", "200", "288", "0", "0", "0.6944444444444444"},
		}},
		{"fleet", "/v1/fleet/load?from=2026-03-28T00:00:00Z&to=2026-03-28T03:00:00Z", [][]string{
			{"2026-03-28T00:00:00Z", "420", "3", "11", "12", "0", "0", "0.9166666666666666"},
		}},
		{"fleet by kind", "/v1/groups/fleet/all/load?from=2026-03-28T00:00:00Z&to=2026-03-28T03:00:00Z", [][]string{
			{"2026-03-28T00:00:00Z", "420", "3", "11", "12", "0", "0", "0.9166666666666666"},
		}},
		{"known feeder without rows", "/v1/groups/feeder/F2/load?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z", [][]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.get(t, tt.path, "")
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if got := testenv.Project(decode(t, r).Rows, fields...); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("csv", func(t *testing.T) {
		r := a.get(t, "/v1/groups/feeder/F1/load?from=2026-03-28T00:00:00Z&to=2026-03-28T01:00:00Z", "text/csv")
		want := "start,wh,meters,intervals,expected_intervals,estimated,questionable,completeness\n2026-03-28T00:00:00Z,300,2,7,8,0,1,0.875\n"
		if r.status != http.StatusOK || string(r.body) != want || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
			t.Fatalf("%d %q %s", r.status, r.body, r.header.Get("Content-Type"))
		}
	})
	t.Run("arrow", func(t *testing.T) {
		r := a.get(t, "/v1/groups/feeder/F1/load?from=2026-03-28T00:00:00Z&to=2026-03-28T03:00:00Z", table.MediaArrow)
		if r.status != http.StatusOK || r.header.Get("Content-Type") != table.MediaArrow {
			t.Fatalf("%d %s", r.status, r.header.Get("Content-Type"))
		}
		rd, err := ipc.NewReader(bytes.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Release()
		var whs []int64
		for rd.Next() {
			rec := rd.RecordBatch()
			whs = append(whs, rec.Column(1).(*array.Int64).Int64Values()...)
		}
		if !reflect.DeepEqual(whs, []int64{300, 50, 60}) {
			t.Fatalf("wh column %v", whs)
		}
	})

	errs := []struct {
		path   string
		status int
		field  string
	}{
		{"/v1/groups/feeder/NOPE/load?from=2026-03-28T00:00:00Z&to=2026-03-28T03:00:00Z", http.StatusNotFound, ""},
		{"/v1/groups/street/F1/load?from=2026-03-28T00:00:00Z&to=2026-03-28T03:00:00Z", http.StatusBadRequest, "kind"},
		{"/v1/groups/fleet/F1/load?from=2026-03-28T00:00:00Z&to=2026-03-28T03:00:00Z", http.StatusBadRequest, "id"},
		{"/v1/groups/feeder/F1/load?from=2026-03-28T00:00:00Z&to=2026-03-28T03:00:00Z&step=1mo", http.StatusBadRequest, "step"},
		{"/v1/groups/feeder/F1/load?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&step=15m", http.StatusBadRequest, "to"},
		{"/v1/fleet/load?from=yesterday&to=2026-03-28T03:00:00Z", http.StatusBadRequest, "from"},
	}
	for _, tt := range errs {
		r := a.get(t, tt.path, "")
		if r.status != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.path, r.status, r.body, tt.status)
			continue
		}
		if res := decode(t, r); tt.field != "" && (res.Error == nil || res.Error.Field != tt.field) {
			t.Errorf("%s: %s, want field %s", tt.path, r.body, tt.field)
		}
	}
	if r := a.get(t, "/v1/fleet/load?from=2026-03-28T00:00:00Z&to=2026-03-28T03:00:00Z", "text/html"); r.status != http.StatusNotAcceptable {
		t.Errorf("Accept text/html: %d %s", r.status, r.body)
	}
	if r := a.do(t, http.MethodGet, "/v1/fleet/load?from=2026-03-28T00:00:00Z&to=2026-03-28T03:00:00Z", "", "", "", a.token(api.RoleOperator)); r.status != http.StatusForbidden {
		t.Errorf("operator token: %d %s", r.status, r.body)
	}
}

// hourly returns 1h rows of wh each for every hour of [from, to).
func hourly(meter, from, to string, wh int64) []testenv.ConsumptionRow {
	var rows []testenv.ConsumptionRow
	for h := ts(from); h.Before(ts(to)); h = h.Add(time.Hour) {
		rows = append(rows, testenv.ConsumptionRow{Res: "1h", Meter: meter, Start: h.Format(time.RFC3339), Wh: wh, Intervals: 4, Expected: 4})
	}
	return rows
}

// TestProfileDST checks average daily profiles across the October (25-hour day) and March
// (23-hour day) changes of Europe/Berlin.
func TestProfileDST(t *testing.T) {
	a := newAnalytics(t)
	testenv.InsertRegistry(t, a.conn)
	// Meter P: local 24 and 25 October 2026 (CEST until 01:00 UTC on the 25th), 10 Wh an hour.
	testenv.InsertConsumption(t, a.conn, hourly("P", "2026-10-23T22:00:00Z", "2026-10-25T23:00:00Z", 10))
	// Feeder F1: local 28 and 29 March 2026 (CEST from 01:00 UTC on the 29th), 10 Wh an hour.
	var groups []groupRow
	for h := ts("2026-03-27T23:00:00Z"); h.Before(ts("2026-03-29T22:00:00Z")); h = h.Add(time.Hour) {
		groups = append(groups, groupRow{res: "1h", kind: "feeder", id: "F1", start: h.Format(time.RFC3339), wh: 10, meters: 1, intervals: 4, expected: 4})
	}
	insertGroups(t, a.conn, groups)

	// profile builds the expected slots of 24 hours: 20 Wh over 2 days, except the listed ones.
	profile := func(except map[string][3]string) [][]string {
		var out [][]string
		for h := range 24 {
			slot := time.Date(2000, 1, 1, h, 0, 0, 0, time.UTC).Format("15:04")
			row := []string{slot, "10", "20", "2"}
			if e, ok := except[slot]; ok {
				row = []string{slot, e[0], e[1], e[2]}
			}
			out = append(out, row)
		}
		return out
	}
	tests := []struct {
		name, path string
		want       [][]string
	}{
		{"25-hour day in the meter's zone", "/v1/meters/P/profile?from=2026-10-23T22:00:00Z&to=2026-10-25T23:00:00Z&step=1h",
			profile(map[string][3]string{"02:00": {"15", "30", "2"}})},
		{"same range in UTC", "/v1/meters/P/profile?from=2026-10-23T22:00:00Z&to=2026-10-25T23:00:00Z&step=1h&tz=UTC",
			profile(map[string][3]string{"22:00": {"10", "30", "3"}})},
		{"23-hour day for a group", "/v1/groups/feeder/F1/profile?from=2026-03-27T23:00:00Z&to=2026-03-29T22:00:00Z&step=1h&tz=Europe/Berlin",
			profile(map[string][3]string{"02:00": {"10", "10", "1"}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.get(t, tt.path, "")
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if got := testenv.Project(decode(t, r).Rows, "slot", "avg_wh", "wh", "days"); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v\nwant %v", got, tt.want)
			}
		})
	}
	errs := []struct {
		path   string
		status int
	}{
		{"/v1/meters/P/profile?from=2026-10-23T22:00:00Z&to=2026-10-25T23:00:00Z&tz=Mars/Olympus", http.StatusBadRequest},
		{"/v1/meters/P/profile?from=2026-10-23T22:00:00Z&to=2026-10-25T23:00:00Z&step=1d", http.StatusBadRequest},
		{"/v1/meters/NOPE/profile?from=2026-10-23T22:00:00Z&to=2026-10-25T23:00:00Z", http.StatusNotFound},
		{"/v1/meters/bad%20id/profile?from=2026-10-23T22:00:00Z&to=2026-10-25T23:00:00Z", http.StatusBadRequest},
	}
	for _, tt := range errs {
		if r := a.get(t, tt.path, ""); r.status != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.path, r.status, r.body, tt.status)
		}
	}
}
