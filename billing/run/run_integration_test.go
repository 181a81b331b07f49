package run

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/billing/invoice"
	"github.com/meterhouse/meterhouse/billing/tariff"
	"github.com/meterhouse/meterhouse/calendar/holidays"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/registry"
)

const flatTariff = `id: FLAT
name: flat residential
effective_from: "2026-01-01"
time_zone: UTC
currency: EUR
fixed_charges:
  - name: service
    amount: 5.00
    per: period
energy: {rate: 0.20}
`

// insertQuarterHours writes validated 15-minute consumption of a meter: wh per quarter
// hour over [from, to), computed at computedAt (a later computedAt replaces).
func insertQuarterHours(t *testing.T, conn driver.Conn, meter string, from, to time.Time, wh int, computedAt time.Time) {
	t.Helper()
	n := int(to.Sub(from) / (15 * time.Minute))
	q := `INSERT INTO consumption (resolution, meter_id, start, wh, quality, intervals, expected_intervals, estimated, edited, questionable, flags, reasons, computed_at)
SELECT '15m', ?, toDateTime(?) + number * 900, ?, 0, 1, 1, 0, 0, 0, [], [], toDateTime(?) FROM numbers(?)`
	if err := conn.Exec(context.Background(), q, meter, from.Format(time.DateTime), wh, computedAt.Format(time.DateTime), n); err != nil {
		t.Fatal(err)
	}
}

func day(s string) time.Time { t, _ := time.Parse(time.DateOnly, s); return t }

// fixture is a billing run's world in a fresh database: the registry with its meters and
// agreements, the tariff store with its documents loaded, and the calendar store.
type fixture struct {
	conn    driver.Conn
	reg     *registry.Store
	tariffs *tariff.Store
	cals    *holidays.Store
}

// newFixture stores meters, agreements and the tariff documents (YAML) in a fresh
// database.
func newFixture(t *testing.T, meters []registry.MeterVersion, ags []registry.AgreementVersion, docs ...string) *fixture {
	t.Helper()
	ctx := context.Background()
	cfg, conn := testenv.ClickHouse(t)
	f := &fixture{conn: conn}
	var err error
	if f.reg, err = registry.NewStore(conn, cfg.PrivateDatabase()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.PutMeters(ctx, "test", meters); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.PutAgreements(ctx, "test", ags); err != nil {
		t.Fatal(err)
	}
	if f.tariffs, err = tariff.NewStore(conn); err != nil {
		t.Fatal(err)
	}
	for _, src := range docs {
		doc, err := tariff.Parse(strings.NewReader(src))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.tariffs.Load(ctx, doc); err != nil {
			t.Fatal(err)
		}
	}
	if f.cals, err = holidays.NewStore(conn); err != nil {
		t.Fatal(err)
	}
	return f
}

// runner returns a billing runner over the fixture.
func (f *fixture) runner(t *testing.T, cfg Config) *Runner {
	t.Helper()
	r, err := New(cfg, f.conn, f.reg, f.tariffs, f.cals, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// utcMeters returns active meters in UTC on feeder F1 of region R1 from 2026-01-01.
func utcMeters(ids ...string) []registry.MeterVersion {
	var out []registry.MeterVersion
	for _, m := range ids {
		out = append(out, registry.MeterVersion{MeterID: m, ValidFrom: day("2026-01-01"), Feeder: "F1", Region: "R1", TimeZone: "UTC", Status: registry.StatusActive})
	}
	return out
}

// monthly returns agreement AG<n> of meter M<n> on tariff from 2026-01-01, cycle day 1.
func monthly(meter, tariffID string) registry.AgreementVersion {
	n := meter[1:]
	return registry.AgreementVersion{AgreementID: "AG" + n, AccountID: "AC" + n, ServicePointID: "SP" + n, MeterID: meter, Tariff: tariffID,
		CustomerClass: "residential", CycleDay: 1, Start: day("2026-01-01"), ValidFrom: day("2026-01-01")}
}

// TestRun bills March 2026 for three agreements: one complete (a bill whose total is
// hand-computed), one whose meter misses a day (held with the reason), and one on a
// tariff with no version in force (held). A re-run issues nothing; an edit of one quarter
// hour issues one adjustment referencing the bill; a repeat of that run nothing more.
func TestRun(t *testing.T) {
	ctx := context.Background()
	var ags []registry.AgreementVersion
	for i, m := range []string{"M1", "M2", "M3"} {
		tariffID := "FLAT"
		if m == "M3" {
			tariffID = "NONE"
		}
		ag := monthly(m, tariffID)
		ag.Customer = registry.Customer{Name: "Customer " + string(rune('A'+i))}
		ags = append(ags, ag)
	}
	f := newFixture(t, utcMeters("M1", "M2", "M3"), ags, flatTariff)
	conn := f.conn
	computed := time.Date(2026, 4, 1, 3, 0, 0, 0, time.UTC)
	insertQuarterHours(t, conn, "M1", day("2026-03-01"), day("2026-04-01"), 100, computed)
	insertQuarterHours(t, conn, "M2", day("2026-03-01"), day("2026-03-31"), 100, computed) // March 31 missing
	r := f.runner(t, DefaultConfig())
	p, err := CyclePeriod("2026-03", 1)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Bills != 1 || len(res.Held) != 2 {
		t.Fatalf("first run: %d bills, held %v: want 1 bill and 2 held", res.Bills, res.Held)
	}
	if !strings.Contains(res.Held[0].Reason, "96 quarter hours") || !strings.Contains(res.Held[1].Reason, `tariff "NONE"`) {
		t.Errorf("hold reasons %q", res.Held)
	}
	// 31 days × 96 quarter hours × 100 Wh = 297.6 kWh × 0.20 = 59.52, plus 5.00.
	bill := res.Issued[0]
	if !bill.Total.Equal(decimal.RequireFromString("64.52")) || bill.Kind != invoice.KindBill || bill.AgreementID != "AG1" {
		t.Fatalf("bill %+v: want 64.52", bill)
	}

	if res, err = r.Run(ctx, p); err != nil || res.Bills+res.Adjustments != 0 || res.Unchanged != 1 {
		t.Fatalf("re-run: %+v, %v: want nothing issued", res, err)
	}
	// An edit: one quarter hour of M1 becomes 1 100 Wh (+1 kWh, +0.20).
	if err := conn.Exec(ctx, `INSERT INTO consumption (resolution, meter_id, start, wh, quality, intervals, expected_intervals, estimated, edited, questionable, flags, reasons, computed_at)
SELECT '15m', 'M1', toDateTime('2026-03-10 12:00:00'), 1100, 0, 1, 1, 0, 1, 0, [], [], toDateTime('2026-04-05 00:00:00')`); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		res, err = r.Run(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && (res.Adjustments != 1 || !res.Issued[0].Total.Equal(decimal.RequireFromString("0.20")) || res.Issued[0].Original != bill.ID) {
			t.Fatalf("after the edit: %+v: want one adjustment of 0.20 referencing %s", res, bill.ID)
		}
		if i == 1 && res.Adjustments+res.Bills != 0 {
			t.Fatalf("repeat after the edit issued %+v", res.Issued)
		}
	}
	all, err := r.Invoices().Agreement(ctx, "AG1")
	if err != nil || len(all) != 2 {
		t.Fatalf("AG1 has %d invoices (%v), want the bill and one adjustment", len(all), err)
	}
	if all[1].EstimatedIntervals != 1 {
		t.Errorf("adjustment says %d estimated or edited intervals, want 1", all[1].EstimatedIntervals)
	}

	// The invoice routes, for billing only.
	srv, token := testenv.API(t, conn)
	if err := r.Invoices().Register(srv); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Echo())
	defer hs.Close()
	get := func(path string, role api.Role, accept string) testenv.Response {
		return testenv.Do(t, testenv.Request{Method: http.MethodGet, URL: hs.URL + path, Token: token(role), Accept: accept})
	}
	var list struct {
		Rows []struct{ ID, Kind, Total string }
	}
	if resp := get("/v1/agreements/AG1/invoices", api.RoleBilling, ""); resp.Status != http.StatusOK || json.Unmarshal(resp.Body, &list) != nil ||
		len(list.Rows) != 2 || list.Rows[0].Total != "64.52" || list.Rows[1].Kind != "adjustment" {
		t.Errorf("GET invoices: %d %s", resp.Status, resp.Body)
	}
	if resp := get("/v1/agreements/AG1/invoices/"+bill.ID, api.RoleBilling, "text/csv"); resp.Status != http.StatusOK ||
		!strings.Contains(string(resp.Body), "energy") || !strings.Contains(string(resp.Body), "59.52") {
		t.Errorf("GET invoice as CSV: %d %s", resp.Status, resp.Body)
	}
	if resp := get("/v1/agreements/AG1/invoices/INV-none", api.RoleBilling, ""); resp.Status != http.StatusNotFound {
		t.Errorf("unknown invoice: %d, want 404", resp.Status)
	}
	if resp := get("/v1/agreements/AG1/invoices", api.RoleAnalyst, ""); resp.Status != http.StatusForbidden {
		t.Errorf("analyst: %d, want 403", resp.Status)
	}
}

// TestRunKilledHalfway stops a run after its first chunk of agreements, as a crash would,
// and runs the period again: every agreement ends up with exactly one bill, with the ids a
// run that was never stopped gives.
func TestRunKilledHalfway(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, utcMeters("M1", "M2", "M3"), []registry.AgreementVersion{monthly("M1", "FLAT"), monthly("M2", "FLAT"), monthly("M3", "FLAT")}, flatTariff)
	conn := f.conn
	for _, m := range []string{"M1", "M2", "M3"} {
		insertQuarterHours(t, conn, m, day("2026-03-01"), day("2026-04-01"), 100, time.Date(2026, 4, 1, 3, 0, 0, 0, time.UTC))
	}
	r := f.runner(t, DefaultConfig())
	p, _ := CyclePeriod("2026-03", 1)
	r.chunk = 1
	killed, kill := context.WithCancel(ctx)
	r.afterChunk = kill // the first chunk is written, then the run dies
	if _, err := r.Run(killed, p); err == nil {
		t.Fatal("the killed run returned no error")
	}
	r.afterChunk = nil
	res, err := r.Run(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Bills != 2 || res.Unchanged != 1 {
		t.Fatalf("the run after the kill: %d bills, %d unchanged, want 2 and the one already billed", res.Bills, res.Unchanged)
	}
	for _, ag := range []string{"AG1", "AG2", "AG3"} {
		ins, err := r.Invoices().Agreement(ctx, ag)
		if err != nil {
			t.Fatal(err)
		}
		if len(ins) != 1 || ins[0].ID != invoice.ID(ag, p.From, p.To, 0) || !ins[0].Total.Equal(decimal.RequireFromString("64.52")) {
			t.Errorf("%s: %+v, want one bill of 64.52 with its deterministic id", ag, ins)
		}
	}
}
