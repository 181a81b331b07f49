package run

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/registry"
)

// TestRunTariffChanges bills March 2026 at 100 Wh a quarter hour (9.6 kWh a day) with the
// FLAT tariff changing version on 11 March (energy 0.20 → 0.30) and agreement AG2 moving
// to tariff LOW on 16 March; agreement AG3's meter misses 31 March, so it is held, the
// hold is stored and listed, and released once the day is validated and a run bills it.
func TestRunTariffChanges(t *testing.T) {
	ctx := context.Background()
	low := monthly("M2", "LOW")
	low.ValidFrom = day("2026-03-16")
	f := newFixture(t, utcMeters("M1", "M2", "M3"),
		[]registry.AgreementVersion{monthly("M1", "FLAT"), monthly("M2", "FLAT"), monthly("M3", "FLAT"), low},
		flatTariff,
		strings.Replace(strings.Replace(flatTariff, `"2026-01-01"`, `"2026-03-11"`, 1), "rate: 0.20", "rate: 0.30", 1),
		"id: LOW\neffective_from: \"2026-01-01\"\ntime_zone: UTC\ncurrency: EUR\nfixed_charges: [{name: service, amount: 3.00, per: period}]\nenergy: {rate: 0.10}\n")
	conn := f.conn
	computed := time.Date(2026, 4, 1, 3, 0, 0, 0, time.UTC)
	insertQuarterHours(t, conn, "M1", day("2026-03-01"), day("2026-04-01"), 100, computed)
	insertQuarterHours(t, conn, "M2", day("2026-03-01"), day("2026-04-01"), 100, computed)
	insertQuarterHours(t, conn, "M3", day("2026-03-01"), day("2026-03-31"), 100, computed)
	r := f.runner(t, DefaultConfig())
	p, _ := CyclePeriod("2026-03", 1)
	res, err := r.Run(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Bills != 2 || len(res.Held) != 1 || res.Held[0].AgreementID != "AG3" {
		t.Fatalf("%d bills, held %v: want 2 and AG3", res.Bills, res.Held)
	}
	totals := map[string]string{}
	for _, in := range res.Issued {
		totals[in.AgreementID] = in.Total.String()
		t.Logf("%s %s %s: %v", in.AgreementID, in.TariffID, in.Total, in.Lines)
	}
	// AG1: 10 days at 0.20 (96 kWh = 19.20, service 5 × 10/31 = 1.61) and 21 days at 0.30
	// (201.6 kWh = 60.48, service 5 × 21/31 = 3.39).
	// AG2: FLAT for 15 days, 10 at 0.20 (19.20 + 1.61) and 5 at 0.30 (48 kWh = 14.40, 5 ×
	// 5/31 = 0.81), then LOW for 16 days (153.6 kWh × 0.10 = 15.36, 3 × 16/31 = 1.55).
	if totals["AG1"] != decimal.RequireFromString("84.68").String() || totals["AG2"] != decimal.RequireFromString("52.93").String() {
		t.Errorf("totals %v: want AG1 84.68 and AG2 52.93", totals)
	}
	for _, in := range res.Issued {
		if in.AgreementID == "AG2" && (in.TariffID != "FLAT+LOW" || !strings.Contains(in.Lines[len(in.Lines)-1].Name, "(tariff LOW)")) {
			t.Errorf("AG2's invoice names tariffs %q and lines %v", in.TariffID, in.Lines)
		}
	}

	srv, token := testenv.API(t, conn)
	if err := r.Register(srv); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Echo())
	defer hs.Close()
	holds := func(role api.Role) (int, []string) {
		resp := testenv.Do(t, testenv.Request{Method: http.MethodGet, URL: hs.URL + "/v1/billing/holds?from=2026-03-01", Token: token(role)})
		var body struct {
			Rows []struct {
				AgreementID string `json:"agreement_id"`
				Reason      string
			}
		}
		if resp.Status == http.StatusOK {
			if err := json.Unmarshal(resp.Body, &body); err != nil {
				t.Fatal(err)
			}
		}
		var out []string
		for _, r := range body.Rows {
			out = append(out, r.AgreementID+": "+r.Reason)
		}
		return resp.Status, out
	}
	if status, got := holds(api.RoleBilling); status != http.StatusOK || len(got) != 1 || !strings.Contains(got[0], "AG3: meter M3: 96 quarter hours") {
		t.Errorf("holds: %d %v", status, got)
	}
	if status, _ := holds(api.RoleAnalyst); status != http.StatusForbidden {
		t.Errorf("holds for an analyst: %d, want 403", status)
	}
	insertQuarterHours(t, conn, "M3", day("2026-03-31"), day("2026-04-01"), 100, computed)
	if res, err = r.Run(ctx, p); err != nil || res.Bills != 1 || len(res.Held) != 0 || res.Unchanged != 2 {
		t.Fatalf("after 31 March of M3: %+v, %v", res, err)
	}
	if status, got := holds(api.RoleBilling); status != http.StatusOK || len(got) != 0 {
		t.Errorf("holds after AG3 was billed: %d %v", status, got)
	}
}

// TestCycleCalendar bills an agreement that follows cycle calendar ROUTE-7 (periods
// loaded through the route, [4 March, 3 April)) and not one of cycle day 1; a calendar
// with a gap is refused naming the period; the scheduled run's due periods include the
// calendar's period on the days after it ends.
func TestCycleCalendar(t *testing.T) {
	ctx := context.Background()
	route := monthly("M1", "FLAT")
	route.CycleDay, route.CycleCalendar = 0, "ROUTE-7"
	f := newFixture(t, utcMeters("M1", "M2"), []registry.AgreementVersion{route, monthly("M2", "FLAT")}, flatTariff)
	conn := f.conn
	computed := time.Date(2026, 4, 5, 3, 0, 0, 0, time.UTC)
	for _, m := range []string{"M1", "M2"} {
		insertQuarterHours(t, conn, m, day("2026-03-01"), day("2026-04-04"), 100, computed)
	}
	r := f.runner(t, DefaultConfig())
	srv, token := testenv.API(t, conn)
	if err := r.Register(srv); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Echo())
	defer hs.Close()
	put := func(body string) testenv.Response {
		return testenv.Do(t, testenv.Request{Method: http.MethodPut, URL: hs.URL + "/v1/billing/cycles/ROUTE-7", Token: token(api.RoleBilling),
			ContentType: "application/json", Body: strings.NewReader(body)})
	}
	if resp := put(`[{"from": "2026-02-02", "to": "2026-03-04"}, {"from": "2026-03-05", "to": "2026-04-03"}]`); resp.Status != http.StatusBadRequest ||
		!strings.Contains(string(resp.Body), "periods[1]") {
		t.Errorf("a calendar with a gap: %d %s", resp.Status, resp.Body)
	}
	if resp := put(`[{"from": "2026-02-02", "to": "2026-03-04"}, {"from": "2026-03-04", "to": "2026-04-03"}]`); resp.Status != http.StatusOK ||
		!strings.Contains(string(resp.Body), "2026-04-03") {
		t.Fatalf("load the calendar: %d %s", resp.Status, resp.Body)
	}
	p, err := r.CalendarPeriod(ctx, "ROUTE-7", "2026-03")
	if err != nil || !p.From.Equal(day("2026-03-04")) || !p.To.Equal(day("2026-04-03")) {
		t.Fatalf("calendar period of March: %+v, %v", p, err)
	}
	res, err := r.Run(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	// 30 days × 9.6 kWh × 0.20 = 57.60, plus 5.00.
	if res.Bills != 1 || res.Issued[0].AgreementID != "AG1" || res.Issued[0].Total.String() != "62.6" {
		t.Fatalf("calendar run: %d bills %+v, want AG1's 62.60 only", res.Bills, res.Issued)
	}
	due, err := r.dueCalendarPeriods(ctx, day("2026-04-05"), 5)
	if err != nil || len(due) != 1 || due[0] != p {
		t.Errorf("due on 5 April: %+v, %v; want %+v", due, err, p)
	}
	if due, err := r.dueCalendarPeriods(ctx, day("2026-04-09"), 5); err != nil || len(due) != 0 {
		t.Errorf("due on 9 April: %+v, %v; want none (the period ended six days before)", due, err)
	}
}
