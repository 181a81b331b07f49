package tariff

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/internal/testenv"
)

const flatV1 = `id: FLAT-1
name: first
effective_from: 2026-01-01
time_zone: Asia/Shanghai
currency: CNY
energy: {rate: 0.4883}
`

// TestStoreVersions loads versions of a tariff, reloads one, and checks which version is
// in force at dates and instants (in the tariff's own time zone), that a reload supersedes
// its version without removing the row, and List.
func TestStoreVersions(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	s, err := NewStore(conn)
	if err != nil {
		t.Fatal(err)
	}
	load := func(text string) {
		t.Helper()
		d, err := Parse(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	load(flatV1)
	load(strings.NewReplacer("first", "second", "2026-01-01", "2026-07-01", "0.4883", "0.5103").Replace(flatV1) + "effective_to: 2027-01-01\n")
	load(strings.Replace(flatV1, "first", "first, corrected", 1))
	cn := readExample(t, "cn-residential.yaml")
	if _, err := s.Load(ctx, cn); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		on, name string
	}{{"2026-01-01", "first, corrected"}, {"2026-06-30", "first, corrected"}, {"2026-07-01", "second"}, {"2026-12-31", "second"}} {
		date, _ := ParseDate(tc.on)
		d, err := s.GetOn(ctx, "FLAT-1", date)
		if err != nil || d.Name != tc.name {
			t.Errorf("GetOn(%s) = %v, %v; want %q", tc.on, d, err, tc.name)
		}
	}
	// 2026-06-30T16:00Z is already July 1st in Shanghai.
	d, err := s.Get(ctx, "FLAT-1", time.Date(2026, 6, 30, 16, 0, 0, 0, time.UTC))
	if err != nil || d.Name != "second" || d.Energy.Rate.String() != "0.5103" {
		t.Errorf("Get(2026-06-30T16:00Z) = %v, %v; want the second version", d, err)
	}
	for _, on := range []string{"2025-12-31", "2027-01-01"} {
		date, _ := ParseDate(on)
		if _, err := s.GetOn(ctx, "FLAT-1", date); !errors.Is(err, fault.ErrNotFound) {
			t.Errorf("GetOn(%s): %v, want not found", on, err)
		}
	}
	if _, err := s.GetOn(ctx, "NONE", NewDate(2026, 1, 1)); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("an unknown tariff: %v", err)
	}
	vs, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		to := "-"
		if v.EffectiveTo != nil {
			to = v.EffectiveTo.String()
		}
		got = append(got, v.ID+" "+v.EffectiveFrom.String()+" "+to+" "+v.Name)
	}
	want := []string{"CN-RES-TOU 2026-01-01 - Residential, annual tiers with time of use",
		"FLAT-1 2026-01-01 - first, corrected", "FLAT-1 2026-07-01 2027-01-01 second"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("List:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var rows uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM tariffs WHERE tariff_id = 'FLAT-1'").Scan(&rows); err != nil || rows != 3 {
		t.Errorf("%d rows of FLAT-1 (%v), want 3: loads are append-only", rows, err)
	}
	back, err := s.GetOn(ctx, "CN-RES-TOU", NewDate(2026, 8, 1))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := cn.JSON()
	b, _ := back.JSON()
	if string(a) != string(b) {
		t.Errorf("the stored document changed:\n%s\n%s", a, b)
	}
}

// TestTariffRoutes checks the routes on a real token store: billing may PUT (others but
// admin may not), a bad document is a 400 naming the path of the field, billing and
// analyst may GET the document in force and the list.
func TestTariffRoutes(t *testing.T) {
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
	admin, analyst, billing, operator := token(api.RoleAdmin), token(api.RoleAnalyst), token(api.RoleBilling), token(api.RoleOperator)
	put := func(tok, id, ct, body string) testenv.Response {
		return testenv.Do(t, testenv.Request{Method: http.MethodPut, URL: hs.URL + "/v1/admin/tariffs/" + id, Token: tok, ContentType: ct, Body: strings.NewReader(body)})
	}
	for _, tok := range []string{analyst, operator} {
		if r := put(tok, "FLAT-1", "application/yaml", flatV1); r.Status != http.StatusForbidden {
			t.Errorf("PUT by a non-billing role: %d %s", r.Status, r.Body)
		}
	}
	if r := put(billing, "FLAT-1", "application/yaml", flatV1); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"effective_from":"2026-01-01"`) {
		t.Fatalf("PUT YAML: %d %s", r.Status, r.Body)
	}
	us, err := os.ReadFile("testdata/us-commercial.json")
	if err != nil {
		t.Fatal(err)
	}
	if r := put(admin, "US-COM-DEMAND", "application/json", string(us)); r.Status != http.StatusOK {
		t.Fatalf("PUT JSON: %d %s", r.Status, r.Body)
	}
	bad := strings.Replace(string(us), `"ranges": ["13-19"]`, `"ranges": ["12-19"]`, 1)
	for _, tc := range []struct{ name, id, body, field string }{
		{"overlapping TOU periods", "US-COM-DEMAND", bad, "demand.tou.periods[1].hours[0]"},
		{"unknown field", "FLAT-1", flatV1 + "discount: 5\n", "discount"},
		{"id not the path's", "FLAT-2", flatV1, "id"},
		{"bad path id", "a%2Fb", flatV1, "id"},
		{"unknown currency", "FLAT-1", strings.Replace(flatV1, "CNY", "RMB", 1), "currency"},
	} {
		r := put(billing, tc.id, "application/json", tc.body)
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"field":"`+tc.field+`"`) {
			t.Errorf("%s: %d %s, want 400 on %s", tc.name, r.Status, r.Body, tc.field)
		}
	}
	get := func(tok, path string) testenv.Response {
		return testenv.Do(t, testenv.Request{Method: http.MethodGet, URL: hs.URL + path, Token: tok})
	}
	if r := get(operator, "/v1/tariffs/FLAT-1"); r.Status != http.StatusForbidden {
		t.Errorf("GET by operator: %d %s", r.Status, r.Body)
	}
	r := get(analyst, "/v1/tariffs/US-COM-DEMAND?at=2026-07-04")
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"amount":0.2,`) || !strings.Contains(string(r.Body), `"share":0.8`) {
		t.Errorf("GET at a date: %d %s", r.Status, r.Body)
	}
	if r := get(billing, "/v1/tariffs/US-COM-DEMAND?at=2026-02-28T12:00:00-06:00"); r.Status != http.StatusNotFound {
		t.Errorf("GET before the first version: %d %s", r.Status, r.Body)
	}
	if r := get(billing, "/v1/tariffs/US-COM-DEMAND?at=yesterday"); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"field":"at"`) {
		t.Errorf("GET with a bad at: %d %s", r.Status, r.Body)
	}
	if r := get(billing, "/v1/tariffs/FLAT-1"); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"rate":0.4883`) {
		t.Errorf("GET now: %d %s", r.Status, r.Body)
	}
	r = get(billing, "/v1/tariffs")
	res := testenv.DecodeResult(t, r.Status, r.Body)
	got := testenv.Project(res.Rows, "id", "effective_from", "effective_to")
	want := [][]string{{"FLAT-1", "2026-01-01", ""}, {"US-COM-DEMAND", "2026-03-01", "2027-03-01"}}
	if testenv.JSONText(got) != testenv.JSONText(want) {
		t.Errorf("GET /v1/tariffs rows %v, want %v", got, want)
	}
}
