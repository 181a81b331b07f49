package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
)

const metersCSV = `meter_id,valid_from,feeder,region,time_zone,status
M1,2026-01-01,F1,R1,UTC,active
M1,2026-02-01,F2,R1,Asia/Shanghai,active
M2,2026-01-01,F3,R2,Europe/Berlin,active
M3,2026-01-01,F3,R2,Europe/Berlin,active
`

// agreementsCSV: A1 moves in on M1 on 2026-01-01 and its meter is exchanged for M2 on
// 2026-03-17; A2 is on M3 from 2026-01-01 to its move-out on 2026-03-10.
const agreementsCSV = `agreement_id,account_id,service_point_id,meter_id,tariff,customer_class,start_date,end_date,valid_from,cycle_day,customer_name,address,life_support
A1,ACC-1,SP-1,M1,T-RES,residential,2026-01-01,,,17,"Li, Wei",1 Main St,true
A1,ACC-1,SP-1,M2,T-RES,residential,2026-01-01,,2026-03-17,17,"Li, Wei",1 Main St,true
A2,ACC-2,SP-2,M3,T-BUS,commercial,2026-01-01,2026-03-10,,1,Acme,2 Side St,false
`

// newStore returns a store over a fresh database whose clock says today is 2026-03-20,
// binding two ids per query so that every read goes in several chunks.
func newStore(t *testing.T) (*Store, schema.Config, driver.Conn) {
	t.Helper()
	cfg, conn := testenv.ClickHouse(t)
	s, err := NewStore(conn, cfg.PrivateDatabase())
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC) }
	s.chunk = 2
	return s, cfg, conn
}

// current reads the flattened meters table as the VEE job and the forecast's registry
// read it.
func current(t *testing.T, conn driver.Conn) map[string]string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT meter_id, customer_class, feeder, region, tariff, time_zone, life_support, status FROM meters FINAL ORDER BY meter_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, class, feeder, region, tariff, tz, status string
		var ls uint8
		if err := rows.Scan(&id, &class, &feeder, &region, &tariff, &tz, &ls, &status); err != nil {
			t.Fatal(err)
		}
		out[id] = strings.Join([]string{class, feeder, region, tariff, tz, status, string('0' + ls)}, " ")
	}
	return out
}

func load(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	mvs, err := ParseMetersCSV(strings.NewReader(metersCSV))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutMeters(ctx, "test", mvs); err != nil {
		t.Fatal(err)
	}
	avs, err := ParseAgreementsCSV(strings.NewReader(agreementsCSV))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutAgreements(ctx, "test", avs); err != nil {
		t.Fatal(err)
	}
}

// TestRegistryImportUpdateAsOf imports meters and agreements, changes a tariff, and checks
// the as-of reads, the agreements in force over a period and the flattened meters table:
// the agreement's tariff and class, the meter's own time zone, no life-support flag.
func TestRegistryImportUpdateAsOf(t *testing.T) {
	s, _, conn := newStore(t)
	ctx := context.Background()
	load(t, s)
	want := map[string]string{
		"M1": " F2 R1  Asia/Shanghai active 0", // exchanged away on 2026-03-17: no agreement today
		"M2": "residential F3 R2 T-RES Europe/Berlin active 0",
		"M3": " F3 R2  Europe/Berlin active 0", // A2 moved out on 2026-03-10
	}
	for id, row := range current(t, conn) {
		if row != want[id] {
			t.Errorf("meters %s: %q, want %q", id, row, want[id])
		}
	}
	// A tariff change of A1 from today.
	v, err := AgreementInput{AgreementID: "A1", AccountID: "ACC-1", ServicePointID: "SP-1", MeterID: "M2", Tariff: "T-TOU",
		CustomerClass: "residential", CycleDay: 17, StartDate: "2026-01-01", ValidFrom: "2026-03-20", CustomerName: "Li, Wei", LifeSupport: true}.Version()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutAgreements(ctx, "test", []AgreementVersion{v}); err != nil {
		t.Fatal(err)
	}
	if got := current(t, conn)["M2"]; got != "residential F3 R2 T-TOU Europe/Berlin active 0" {
		t.Errorf("meters M2 after the tariff change: %q", got)
	}
	for at, want := range map[string]string{"2025-12-31": "M1 T-RES false", "2026-02-10": "M1 T-RES true",
		"2026-03-17": "M2 T-RES true", "2026-03-25": "M2 T-TOU true"} {
		v, ok, err := s.AgreementAt(ctx, "A1", d(at))
		if err != nil {
			t.Fatal(err)
		}
		if got := v.MeterID + " " + v.Tariff + " " + map[bool]string{true: "true", false: "false"}[ok]; got != want {
			t.Errorf("A1 at %s: %s, want %s", at, got, want)
		}
		if !v.Customer.LifeSupport || v.Customer.Name != "Li, Wei" {
			t.Errorf("A1 at %s: customer %+v", at, v.Customer)
		}
	}
	terms, err := s.AgreementsInForce(ctx, d("2026-03-01"), d("2026-04-01"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, term := range terms {
		got = append(got, term.AgreementID+": "+spansText(term.Spans))
	}
	wantTerms := "A1: 2026-03-01..2026-03-17 M1 T-RES; 2026-03-17..2026-03-20 M2 T-RES; 2026-03-20..2026-04-01 M2 T-TOU|" +
		"A2: 2026-03-01..2026-03-11 M3 T-BUS"
	if strings.Join(got, "|") != wantTerms {
		t.Errorf("in force in March:\n%s\nwant\n%s", strings.Join(got, "|"), wantTerms)
	}
	if terms, err := s.AgreementsInForce(ctx, d("2026-03-11"), d("2026-03-12")); err != nil || len(terms) != 1 {
		t.Errorf("in force on 2026-03-11: %d agreements (%v), want A1 only", len(terms), err)
	}
	mv, err := s.MeterVersions(ctx, "M1")
	if err != nil || len(mv) != 2 || mv[1].TimeZone != "Asia/Shanghai" || mv[0].Author != "test" {
		t.Errorf("M1 versions: %+v, %v", mv, err)
	}
	if _, err := s.MeterVersions(ctx, "M9"); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("versions of an unknown meter: %v", err)
	}
}

// TestRegistryConflicts checks the refusals against the stored history: a second
// agreement on a meter in use (and a meter exchange onto one), an unknown meter, a second
// retirement, a version after it, the retirement of a meter in use, and an agreement on a
// retired meter.
func TestRegistryConflicts(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	load(t, s)
	agreement := func(id, meter, start, end string) AgreementVersion {
		v, err := AgreementInput{AgreementID: id, AccountID: "ACC-9", ServicePointID: "SP-9", MeterID: meter, Tariff: "T",
			CustomerClass: "residential", CycleDay: 1, StartDate: start, EndDate: end}.Version()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for name, tc := range map[string]struct {
		v    AgreementVersion
		kind error
	}{
		"overlap on the exchanged-in meter": {agreement("A3", "M2", "2026-04-01", ""), fault.ErrConflict},
		"overlap before the exchange":       {agreement("A3", "M1", "2026-02-01", "2026-02-10"), fault.ErrConflict},
		"move-in on the move-out day":       {agreement("A3", "M3", "2026-03-10", ""), fault.ErrConflict},
		"unknown meter":                     {agreement("A3", "M9", "2026-03-11", ""), fault.ErrInvalid},
	} {
		if _, err := s.PutAgreements(ctx, "test", []AgreementVersion{tc.v}); !errors.Is(err, tc.kind) {
			t.Errorf("%s: %v, want %v", name, err, tc.kind)
		}
	}
	if _, err := s.PutAgreements(ctx, "test", []AgreementVersion{agreement("A3", "M3", "2026-03-11", "")}); err != nil {
		t.Errorf("move-in the day after the move-out: %v", err)
	}
	if _, err := s.PutAgreements(ctx, "test", []AgreementVersion{agreement("A4", "M1", "2026-03-17", "")}); err != nil {
		t.Errorf("the exchanged-out meter at a new agreement: %v", err)
	}
	inUse := MeterVersion{MeterID: "M2", ValidFrom: d("2026-06-01"), Feeder: "F3", Region: "R2", TimeZone: "Europe/Berlin", Status: StatusRetired}
	if _, err := s.PutMeters(ctx, "test", []MeterVersion{inUse}); !errors.Is(err, fault.ErrConflict) {
		t.Errorf("retiring a meter an open agreement uses: %v", err)
	}
	retire := MeterVersion{MeterID: "M4", ValidFrom: d("2026-01-01"), Feeder: "F", Region: "R", TimeZone: "UTC", Status: StatusActive}
	if _, err := s.PutMeters(ctx, "test", []MeterVersion{retire}); err != nil {
		t.Fatal(err)
	}
	retire.ValidFrom, retire.Status = d("2026-03-01"), StatusRetired
	if _, err := s.PutMeters(ctx, "test", []MeterVersion{retire}); err != nil {
		t.Fatal(err)
	}
	retire.ValidFrom = d("2026-04-01")
	if _, err := s.PutMeters(ctx, "test", []MeterVersion{retire}); !errors.Is(err, fault.ErrConflict) {
		t.Errorf("a second retirement: %v", err)
	}
	if _, err := s.PutAgreements(ctx, "test", []AgreementVersion{agreement("A5", "M4", "2026-02-01", "")}); !errors.Is(err, fault.ErrConflict) {
		t.Errorf("an open agreement on a retired meter: %v", err)
	}
	if _, err := s.PutAgreements(ctx, "test", []AgreementVersion{agreement("A5", "M4", "2026-02-01", "2026-02-28")}); err != nil {
		t.Errorf("an agreement ending before the retirement: %v", err)
	}
}

// TestAnalystCannotReadCustomers checks that the personal data and life-support flags are
// in the private database, which an analyst user is denied, and that the platform
// database holds neither.
func TestAnalystCannotReadCustomers(t *testing.T) {
	s, cfg, _ := newStore(t)
	load(t, s)
	analyst, err := schema.Connect(context.Background(), testenv.AnalystClickHouse(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer analyst.Close()
	ctx := context.Background()
	var n uint64
	if err := analyst.QueryRow(ctx, "SELECT count() FROM service_agreements").Scan(&n); err != nil || n != 3 {
		t.Errorf("analyst reads service_agreements: %d, %v", n, err)
	}
	err = analyst.QueryRow(ctx, "SELECT count() FROM "+cfg.PrivateDatabase()+".agreement_customers").Scan(&n)
	if err == nil || !strings.Contains(err.Error(), "Access denied") {
		t.Errorf("analyst reads agreement_customers: %v, want Access denied", err)
	}
	if err := analyst.QueryRow(ctx, "SELECT count() FROM meters WHERE life_support = 1").Scan(&n); err != nil || n != 0 {
		t.Errorf("meters with life_support in the platform database: %d, %v", n, err)
	}
	var cols uint64
	if err := analyst.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = currentDatabase() AND (name IN ('customer_name', 'address') OR table = 'agreement_customers')").Scan(&cols); err != nil || cols != 0 {
		t.Errorf("personal columns in the platform database: %d, %v", cols, err)
	}
}

// TestRegistryRoutes checks the routes on a real token store: who may write and read, CSV
// and JSON bodies, an error naming line and column, 409 on an overlap, and that the
// personal data reach billing only.
func TestRegistryRoutes(t *testing.T) {
	s, _, conn := newStore(t)
	srv, token := testenv.API(t, conn)
	if err := s.Register(srv); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Echo())
	defer hs.Close()
	admin, analyst, billing, ingest := token(api.RoleAdmin), token(api.RoleAnalyst), token(api.RoleBilling), token(api.RoleIngest)
	do := func(method, path, tok, ct, body string) testenv.Response {
		var r *strings.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req := testenv.Request{Method: method, URL: hs.URL + path, Token: tok, ContentType: ct}
		if r != nil {
			req.Body = r
		}
		return testenv.Do(t, req)
	}
	check := func(name string, r testenv.Response, status int, contains ...string) {
		t.Helper()
		if r.Status != status {
			t.Errorf("%s: %d %s, want %d", name, r.Status, r.Body, status)
			return
		}
		for _, c := range contains {
			if !strings.Contains(string(r.Body), c) {
				t.Errorf("%s: %s lacks %s", name, r.Body, c)
			}
		}
	}
	for _, tok := range []string{analyst, billing, ingest} {
		check("meter import by a non-admin", do(http.MethodPut, "/v1/admin/meters", tok, "text/csv", metersCSV), http.StatusForbidden)
	}
	check("meter import", do(http.MethodPut, "/v1/admin/meters", admin, "text/csv", metersCSV), http.StatusOK, `"stored":4`)
	check("bad meter CSV", do(http.MethodPut, "/v1/admin/meters", admin, "text/csv", "meter_id,valid_from,feeder,region,time_zone\nM5,2026-01-01,F,R,Moon/Base\n"),
		http.StatusBadRequest, `"field":"time_zone"`, "line 2")
	check("meter PUT", do(http.MethodPut, "/v1/admin/meters/M5", admin, "application/json", `{"valid_from":"2026-01-01","feeder":"F","region":"R","time_zone":"UTC"}`),
		http.StatusOK, `"valid_from":"2026-01-01"`, `"status":"active"`)
	check("meter PUT with another id", do(http.MethodPut, "/v1/admin/meters/M5", admin, "application/json", `{"meter_id":"M6","valid_from":"2026-01-01","feeder":"F","region":"R","time_zone":"UTC"}`),
		http.StatusBadRequest, `"field":"meter_id"`)
	check("retire", do(http.MethodPut, "/v1/admin/meters/M5", admin, "application/json", `{"valid_from":"2026-02-01","feeder":"F","region":"R","time_zone":"UTC","status":"retired"}`), http.StatusOK)
	check("retire again", do(http.MethodPut, "/v1/admin/meters/M5", admin, "application/json", `{"valid_from":"2026-03-01","feeder":"F","region":"R","time_zone":"UTC","status":"retired"}`), http.StatusConflict)
	check("meter versions by ingest", do(http.MethodGet, "/v1/meters/M1/versions", ingest, "", ""), http.StatusForbidden)
	check("meter versions by an analyst", do(http.MethodGet, "/v1/meters/M1/versions", analyst, "", ""), http.StatusOK, "Asia/Shanghai")

	for _, tok := range []string{analyst, ingest} {
		check("agreement import by "+tok[:4], do(http.MethodPut, "/v1/admin/agreements", tok, "text/csv", agreementsCSV), http.StatusForbidden)
	}
	check("agreement import", do(http.MethodPut, "/v1/admin/agreements", billing, "text/csv", agreementsCSV), http.StatusOK, `"stored":3`)
	overlap := `{"account_id":"ACC-3","service_point_id":"SP-3","meter_id":"M2","tariff":"T","customer_class":"residential","cycle_day":1,"start_date":"2026-05-01"}`
	check("overlapping agreement", do(http.MethodPut, "/v1/admin/agreements/A3", admin, "application/json", overlap), http.StatusConflict)
	check("bad cycle day", do(http.MethodPut, "/v1/admin/agreements/A3", billing, "application/json", strings.Replace(overlap, `"cycle_day":1`, `"cycle_day":30`, 1)),
		http.StatusBadRequest, `"field":"cycle_day"`)
	moveIn := strings.NewReplacer(`"meter_id":"M2"`, `"meter_id":"M3"`, `"2026-05-01"`, `"2026-03-11"`).Replace(overlap)
	check("agreement PUT", do(http.MethodPut, "/v1/admin/agreements/A3", billing, "application/json", moveIn), http.StatusOK,
		`"agreement_id":"A3"`, `"start_date":"2026-03-11"`, `"valid_from":"2026-03-11"`)
	noticed := strings.Replace(moveIn, `"cycle_day":1`, `"cycle_day":1,"valid_from":"2026-03-15","notice_date":"2026-03-15"`, 1)
	check("agreement PUT with a notice", do(http.MethodPut, "/v1/admin/agreements/A3", billing, "application/json", noticed), http.StatusOK,
		`"notice_date":"2026-03-15"`)
	check("agreement with a notice as of", do(http.MethodGet, "/v1/agreements/A3?at=2026-03-16", billing, "", ""), http.StatusOK, `"notice_date":"2026-03-15"`)
	check("agreement before its notice", do(http.MethodGet, "/v1/agreements/A3?at=2026-03-12", billing, "", ""), http.StatusOK, `"notice_date":""`)
	check("agreement by an analyst", do(http.MethodGet, "/v1/agreements/A1?at=2026-03-01", analyst, "", ""), http.StatusForbidden)
	check("agreement versions by an analyst", do(http.MethodGet, "/v1/agreements/A1/versions", analyst, "", ""), http.StatusForbidden)
	check("agreement as of", do(http.MethodGet, "/v1/agreements/A1?at=2026-03-01", billing, "", ""), http.StatusOK,
		`"in_force":true`, `"meter_id":"M1"`, `"life_support":true`, `"customer_name":"Li, Wei"`, `"end_date":""`)
	check("agreement after the exchange", do(http.MethodGet, "/v1/agreements/A1?at=2026-03-17", billing, "", ""), http.StatusOK, `"meter_id":"M2"`)
	check("agreement bad date", do(http.MethodGet, "/v1/agreements/A1?at=2026-13-01", billing, "", ""), http.StatusBadRequest, `"field":"at"`)
	check("agreement versions", do(http.MethodGet, "/v1/agreements/A1/versions", billing, "", ""), http.StatusOK, `"valid_from":"2026-03-17"`)
	check("unknown agreement", do(http.MethodGet, "/v1/agreements/A9", billing, "", ""), http.StatusNotFound)
}

// TestMeterAgreementAt checks the read of remote control's safety rules: the agreement
// supplying through a meter on a date, with its life-support flag and the notice date of
// the version in force (stored in the private database), none on a day the meter supplies
// nobody, and an error, not a customer without the flag, when a version's personal data
// are missing.
func TestMeterAgreementAt(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	load(t, s)
	v, err := AgreementInput{AgreementID: "A1", AccountID: "ACC-1", ServicePointID: "SP-1", MeterID: "M2", Tariff: "T-RES",
		CustomerClass: "residential", CycleDay: 17, StartDate: "2026-01-01", ValidFrom: "2026-03-20", CustomerName: "Li, Wei",
		LifeSupport: true, NoticeDate: "2026-03-20"}.Version()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutAgreements(ctx, "test", []AgreementVersion{v}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		meter, at, want string
	}{
		{"M1", "2026-02-01", "A1 life_support=true notice="},
		{"M1", "2026-03-18", "none"}, // exchanged away on 2026-03-17
		{"M2", "2026-03-18", "A1 life_support=true notice="},
		{"M2", "2026-03-25", "A1 life_support=true notice=2026-03-20"},
		{"M3", "2026-03-10", "A2 life_support=false notice="},
		{"M3", "2026-03-11", "none"}, // moved out on 2026-03-10
		{"M9", "2026-03-11", "none"},
	} {
		v, ok, err := s.MeterAgreementAt(ctx, tc.meter, d(tc.at))
		if err != nil {
			t.Fatalf("%s on %s: %v", tc.meter, tc.at, err)
		}
		got := "none"
		if ok {
			got = fmt.Sprintf("%s life_support=%t notice=%s", v.AgreementID, v.Customer.LifeSupport, optionalDay(v.NoticeDate))
		}
		if got != tc.want {
			t.Errorf("%s on %s: %s, want %s", tc.meter, tc.at, got, tc.want)
		}
	}
	// Many meters at once, each on its own date, as in one query: the same answers, with
	// a chunk of two meters per query.
	s.chunk = 2
	on := map[string]time.Time{"M1": d("2026-02-01"), "M2": d("2026-03-25"), "M3": d("2026-03-11"), "M9": d("2026-03-11")}
	all, err := s.MeterAgreementsAt(ctx, on)
	if err != nil {
		t.Fatal(err)
	}
	for m, at := range on {
		one, ok, err := s.MeterAgreementAt(ctx, m, at)
		if err != nil {
			t.Fatal(err)
		}
		if got, found := all[m]; found != ok || !reflect.DeepEqual(got, one) {
			t.Errorf("%s on %s: %+v (%v) at once, %+v (%v) alone", m, day(at), got, found, one, ok)
		}
	}
	if len(all) != 2 {
		t.Errorf("%d meters supplied, want 2 (M1 and M2): %v", len(all), all)
	}
	vs, err := s.MeterVersionsOf(ctx, []string{"M1", "M2", "M9"})
	if err != nil {
		t.Fatal(err)
	}
	if one, _ := s.MeterVersions(ctx, "M2"); !reflect.DeepEqual(vs["M2"], one) || len(vs["M9"]) != 0 || len(vs) != 2 {
		t.Errorf("MeterVersionsOf: %v", vs)
	}
	// A version whose personal data are missing: its second insert failed.
	err = s.batch(ctx, insertAgreements, 1, func(int) []any {
		return []any{"A2", "ACC-2", "SP-2", "M3", "T-BUS", "commercial", uint8(1), "", d("2026-01-01"), d("2026-03-10"), d("2026-03-01"),
			uint64(1), time.Now().UTC().Truncate(time.Second), "test"}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.MeterAgreementAt(ctx, "M3", d("2026-03-05")); err == nil || !strings.Contains(err.Error(), "no personal data") {
		t.Errorf("a version without personal data: %v, want an error", err)
	}
	if _, _, err := s.MeterAgreementAt(ctx, "M 3", d("2026-03-05")); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("a bad meter id: %v", err)
	}
}
