package weather

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestWeatherRoutes checks the routes on a real token store: only admin may PUT; the
// read roles get the latest forecast issued by the time asked, and observations apart.
func TestWeatherRoutes(t *testing.T) {
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
	admin, analyst, operator, editor := token(api.RoleAdmin), token(api.RoleAnalyst), token(api.RoleOperator), token(api.RoleEditor)
	put := func(tok, ct, body string) testenv.Response {
		return testenv.Do(t, testenv.Request{Method: http.MethodPut, URL: hs.URL + "/v1/admin/weather", Token: tok, ContentType: ct, Body: strings.NewReader(body)})
	}
	for _, tok := range []string{analyst, operator, editor} {
		if r := put(tok, "text/csv", twoForecasts); r.Status != http.StatusForbidden {
			t.Errorf("PUT by a non-admin: %d %s", r.Status, r.Body)
		}
	}
	if r := put(admin, "text/csv", twoForecasts); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"stored":9`) {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	if r := put(admin, "text/csv", header+"VIC,2026-01-07T00:00:00Z,,observed,bom,NaN\n"); r.Status != http.StatusBadRequest ||
		!strings.Contains(string(r.Body), `"field":"temperature_c"`) || !strings.Contains(string(r.Body), "line 2") {
		t.Errorf("PUT NaN: %d %s", r.Status, r.Body)
	}
	get := func(tok, query string) testenv.Response {
		return testenv.Do(t, testenv.Request{Method: http.MethodGet, URL: hs.URL + "/v1/weather/VIC?from=2026-01-07T00:00:00Z&to=2026-01-07T03:00:00Z&" + query, Token: tok})
	}
	if r := get(editor, "kind=observed"); r.Status != http.StatusForbidden {
		t.Errorf("GET by editor: %d %s", r.Status, r.Body)
	}
	r := get(operator, "kind=forecast&issued_by=2026-01-06T05:00:00Z")
	got := testenv.Project(testenv.DecodeResult(t, r.Status, r.Body).Rows, "temperature_c", "issued_at")
	want := [][]string{{"20", "2026-01-05T06:00:00Z"}, {"21", "2026-01-05T06:00:00Z"}, {"22", "2026-01-05T06:00:00Z"}}
	if testenv.JSONText(got) != testenv.JSONText(want) {
		t.Errorf("GET forecast: %d %s", r.Status, r.Body)
	}
	r = get(analyst, "kind=observed")
	got = testenv.Project(testenv.DecodeResult(t, r.Status, r.Body).Rows, "temperature_c")
	if testenv.JSONText(got) != testenv.JSONText([][]string{{"30"}, {"31"}, {"32"}}) {
		t.Errorf("GET observed: %d %s", r.Status, r.Body)
	}
	if r := get(analyst, "kind=forecast"); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"field":"issued_by"`) {
		t.Errorf("GET forecast without issued_by: %d %s", r.Status, r.Body)
	}
}
