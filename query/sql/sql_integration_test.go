package sql_test

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/query/sql"
	"github.com/meterhouse/meterhouse/table"
)

// TestSQLEndpoint runs the analyst SQL endpoint against the real server: results in the
// three formats, refusals, and each limit stopping a query with a clear 422.
func TestSQLEndpoint(t *testing.T) {
	cfg := sql.DefaultConfig()
	cfg.MaxRowsToRead = 300000
	cfg.MaxResultRows = 50
	cfg.MaxExecutionTime = time.Second
	cfg.MaxMemoryUsage = 50_000_000
	a := newEndpoint(t, cfg)
	testenv.InsertRegistry(t, a.conn)
	testenv.InsertConsumption(t, a.conn, testenv.QualityRows)

	post := func(t *testing.T, sql, accept string) response {
		t.Helper()
		return a.do(t, http.MethodPost, "/v1/sql", accept, "text/plain", sql, a.user)
	}
	const good = "SELECT meter_id, feeder, toDateTime('2026-03-28 01:00:00', 'UTC') AS at, CAST(length(meter_id) AS Nullable(UInt8)) AS n, [feeder, region] AS tags FROM meters FINAL WHERE meter_id IN ('M1', 'M3') ORDER BY meter_id;"

	t.Run("json", func(t *testing.T) {
		r := post(t, good, "")
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		res := decode(t, r)
		var types []string
		for _, c := range res.Columns {
			types = append(types, c.Name+":"+c.Type)
		}
		if want := []string{"meter_id:string", "feeder:string", "at:time", "n:uint64", "tags:list<string>"}; !reflect.DeepEqual(types, want) {
			t.Errorf("columns %v, want %v", types, want)
		}
		got := testenv.Project(res.Rows, "meter_id", "feeder", "at", "n", "tags")
		want := [][]string{{"M1", "F1", "2026-03-28T01:00:00Z", "2", "F1+north"}, {"M3", "F1", "2026-03-28T01:00:00Z", "2", "F1+north"}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("rows %v, want %v", got, want)
		}
	})
	t.Run("json body", func(t *testing.T) {
		r := a.do(t, http.MethodPost, "/v1/sql", "text/csv", "application/json", `{"query":"SELECT sum(wh) AS total FROM consumption FINAL WHERE resolution = '1h' AND meter_id = 'M1'"}`, a.user)
		if r.status != http.StatusOK || string(r.body) != "total\n7150\n" {
			t.Fatalf("%d %q", r.status, r.body)
		}
	})
	t.Run("csv", func(t *testing.T) {
		r := post(t, good, "text/csv")
		recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
		if r.status != http.StatusOK || err != nil {
			t.Fatalf("%d %s %v", r.status, r.body, err)
		}
		want := [][]string{{"meter_id", "feeder", "at", "n", "tags"},
			{"M1", "F1", "2026-03-28T01:00:00Z", "2", `["F1","north"]`}, {"M3", "F1", "2026-03-28T01:00:00Z", "2", `["F1","north"]`}}
		if !reflect.DeepEqual(recs, want) {
			t.Fatalf("got %v, want %v", recs, want)
		}
	})
	t.Run("arrow", func(t *testing.T) {
		r := post(t, "SELECT number, toInt64(number) * -1 AS neg, if(number = 1, NULL, toString(number)) AS s FROM system.numbers LIMIT 3", table.MediaArrow)
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		rd, err := ipc.NewReader(bytes.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Release()
		if !rd.Next() {
			t.Fatal("no record batch")
		}
		rec := rd.RecordBatch()
		if got := rec.Column(0).(*array.Uint64).Uint64Values(); !reflect.DeepEqual(got, []uint64{0, 1, 2}) {
			t.Errorf("number = %v", got)
		}
		if got := rec.Column(1).(*array.Int64).Int64Values(); !reflect.DeepEqual(got, []int64{0, -1, -2}) {
			t.Errorf("neg = %v", got)
		}
		s := rec.Column(2).(*array.String)
		if s.Value(0) != "0" || !s.IsNull(1) || s.Value(2) != "2" {
			t.Errorf("s = %v", s)
		}
	})
	t.Run("settings are accepted in any order", func(t *testing.T) {
		// The driver sends per-query settings from a map, in random order; readonly=1 must
		// not refuse the limits sent after it.
		for range 8 {
			if r := post(t, "SELECT 1", ""); r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
		}
	})

	refusals := []struct {
		name, sql string
		status    int
		message   string
	}{
		{"rows to read", "SELECT count() FROM (SELECT number FROM system.numbers LIMIT 1000000)", http.StatusUnprocessableEntity, "reads more than 300000 rows (sql.max_rows_to_read)"},
		{"result rows", "SELECT number FROM system.numbers LIMIT 100", http.StatusUnprocessableEntity, "more than 50 rows"},
		{"memory", "SELECT length(groupArray(range(10000))) FROM (SELECT number FROM system.numbers LIMIT 5000)", http.StatusUnprocessableEntity, "sql.max_memory_usage"},
		// CPU-bound (many seconds without the limit) in little memory: analyst SQL may not
		// call sleep.
		{"time", `SELECT count() FROM (SELECT cityHash64(arrayStringConcat(arrayMap(x -> replaceRegexpAll(toString(h + x), '([0-9])', '\\1\\1'), range(6)))) AS h FROM (SELECT cityHash64(arrayStringConcat(arrayMap(x -> replaceRegexpAll(toString(h + x), '([0-9])', '\\1\\1'), range(6)))) AS h FROM (SELECT number AS h FROM system.numbers LIMIT 200000))) WHERE h != 0`, http.StatusUnprocessableEntity, "sql.max_execution_time"},
		{"table function", "SELECT * FROM numbers(10)", http.StatusBadRequest, "table function numbers() is not allowed"},
		{"system.users", "SELECT * FROM system.users", http.StatusBadRequest, "system.users is not allowed"},
		{"file", "SELECT * FROM file('/etc/passwd', 'CSV', 'a String')", http.StatusBadRequest, "table function file() is not allowed"},
		{"url", "SELECT * FROM url('http://127.0.0.1:9/x', CSV, 'a String')", http.StatusBadRequest, "table function url() is not allowed"},
		{"write", "INSERT INTO meters (meter_id) VALUES ('x')", http.StatusBadRequest, "INSERT is not allowed"},
		{"two statements", "SELECT 1; SELECT 2", http.StatusBadRequest, "multiple statements"},
		{"other database", "SELECT * FROM default.t", http.StatusBadRequest, "database default is not allowed"},
		{"unknown column", "SELECT nope FROM meters", http.StatusBadRequest, "ClickHouse error 47"},
		{"syntax", "SELECT FROM WHERE", http.StatusBadRequest, "ClickHouse error 62"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, tt.sql, "")
			res := decode(t, r)
			if r.status != tt.status || res.Error == nil || !strings.Contains(res.Error.Message, tt.message) {
				t.Fatalf("%d %s; want %d saying %q", r.status, r.body, tt.status, tt.message)
			}
			if tt.status == http.StatusUnprocessableEntity && res.Error.Code != "limit_exceeded" {
				t.Fatalf("limit refusal has code %q, want limit_exceeded", res.Error.Code)
			}
			if strings.Contains(res.Error.Message, "Stack trace") || strings.Contains(res.Error.Message, "DB::Exception") {
				t.Errorf("message leaks server internals: %s", res.Error.Message)
			}
		})
	}
	if r := a.do(t, http.MethodPost, "/v1/sql", "", "text/plain", "SELECT 1", a.token(api.RoleBilling)); r.status != http.StatusForbidden {
		t.Errorf("billing token: %d %s", r.status, r.body)
	}
	if r := post(t, "SELECT 1", "image/png"); r.status != http.StatusNotAcceptable {
		t.Errorf("Accept image/png: %d %s", r.status, r.body)
	}
}
