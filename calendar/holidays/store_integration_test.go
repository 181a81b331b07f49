package holidays

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestStoreReloadReplacesDay loads a calendar, reloads one date with another kind, and
// checks that Days sees the second load only, with the substituted working day intact.
func TestStoreReloadReplacesDay(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	s, err := NewStore(conn)
	if err != nil {
		t.Fatal(err)
	}
	es, err := ParseCSV(strings.NewReader(cnCSV), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, es, "file"); err != nil {
		t.Fatal(err)
	}
	again, err := ParseCSV(strings.NewReader("region,date,kind,name\nCN,2026-02-17,working,cancelled\nDE,2026-02-17,holiday,other region\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, again, "file"); err != nil {
		t.Fatal(err)
	}
	d, err := s.Days(ctx, "CN", date("2026-02-01"), date("2026-03-01"))
	if err != nil {
		t.Fatal(err)
	}
	for day, want := range map[string]DayKind{
		"2026-02-14": SubstitutedWorking, "2026-02-16": Holiday, "2026-02-17": Working,
		"2026-02-27": Special, "2026-02-22": Weekend,
	} {
		if got := d.Kind(date(day)); got != want {
			t.Errorf("Kind(%s) = %s, want %s", day, got, want)
		}
	}
	all, err := s.Entries(ctx, "CN", date("2026-01-01"), date("2027-01-01"))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 {
		t.Errorf("%d entries after the reload, want 5 (one per date): %v", len(all), all)
	}
}

// TestCalendarRoutes checks the routes on a real token store: only admin may PUT, the
// read roles may GET, and a PUT's CSV and JSON bodies are stored and read back.
func TestCalendarRoutes(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	srv, token := testenv.API(t, conn)
	s, err := NewStore(conn)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Register(srv); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Echo())
	defer hs.Close()
	admin, analyst, billing, ingest := token(api.RoleAdmin), token(api.RoleAnalyst), token(api.RoleBilling), token(api.RoleIngest)
	put := func(tok, ct, body string) testenv.Response {
		return testenv.Do(t, testenv.Request{Method: http.MethodPut, URL: hs.URL + "/v1/admin/calendars/CN", Token: tok, ContentType: ct, Body: strings.NewReader(body)})
	}
	for _, tok := range []string{analyst, billing, ingest} {
		if r := put(tok, "text/csv", cnCSV); r.Status != http.StatusForbidden {
			t.Errorf("PUT by a non-admin: %d %s", r.Status, r.Body)
		}
	}
	if r := put(admin, "text/csv", cnCSV); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"stored":5`) {
		t.Fatalf("PUT CSV: %d %s", r.Status, r.Body)
	}
	if r := put(admin, "application/json", `[{"date":"2026-02-27","kind":"holiday","name":"moved"}]`); r.Status != http.StatusOK {
		t.Fatalf("PUT JSON: %d %s", r.Status, r.Body)
	}
	if r := put(admin, "text/csv", "region,date,kind\nCN,2026-02-30,holiday\n"); r.Status != http.StatusBadRequest ||
		!strings.Contains(string(r.Body), `"field":"date"`) || !strings.Contains(string(r.Body), "line 2") {
		t.Errorf("PUT bad CSV: %d %s", r.Status, r.Body)
	}
	if r := put(admin, "text/plain", cnCSV); r.Status != http.StatusBadRequest {
		t.Errorf("PUT text/plain: %d %s", r.Status, r.Body)
	}
	get := func(tok string) testenv.Response {
		return testenv.Do(t, testenv.Request{Method: http.MethodGet, URL: hs.URL + "/v1/calendars/CN?from=2026-02-13&to=2026-02-18", Token: tok})
	}
	if r := get(ingest); r.Status != http.StatusForbidden {
		t.Errorf("GET by ingest: %d %s", r.Status, r.Body)
	}
	r := get(billing)
	if r.Status != http.StatusOK {
		t.Fatalf("GET: %d %s", r.Status, r.Body)
	}
	res := testenv.DecodeResult(t, r.Status, r.Body)
	got := testenv.Project(res.Rows, "date", "kind")
	want := [][]string{{"2026-02-13", "working"}, {"2026-02-14", "substituted_working"}, {"2026-02-15", "weekend"},
		{"2026-02-16", "holiday"}, {"2026-02-17", "holiday"}}
	if testenv.JSONText(got) != testenv.JSONText(want) {
		t.Errorf("GET rows %v, want %v", got, want)
	}
	r = testenv.Do(t, testenv.Request{Method: http.MethodGet, URL: hs.URL + "/v1/calendars/CN?from=2026-02-27&to=2026-02-28", Token: analyst})
	if !strings.Contains(string(r.Body), `"holiday"`) || !strings.Contains(string(r.Body), "moved") {
		t.Errorf("the JSON PUT did not replace 2026-02-27: %s", r.Body)
	}
}
