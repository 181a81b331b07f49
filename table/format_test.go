package table

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/labstack/echo/v4"
)

func TestNegotiate(t *testing.T) {
	tests := []struct {
		accept string
		want   Format
		fail   bool
	}{
		{"", FormatJSON, false},
		{"*/*", FormatJSON, false},
		{"application/json", FormatJSON, false},
		{"text/csv", FormatCSV, false},
		{"text/csv; charset=utf-8", FormatCSV, false},
		{"application/vnd.apache.arrow.stream", FormatArrow, false},
		{"text/html, application/vnd.apache.arrow.stream;q=0.9, */*;q=0.1", FormatArrow, false},
		{"application/json;q=0.5, text/csv", FormatCSV, false},
		{"text/csv, application/json", FormatCSV, false},
		{"text/*", FormatCSV, false},
		{"text/html", "", true},
		{"application/xml, image/png", "", true},
		{"text/csv;q=0", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			got, err := Negotiate(tt.accept)
			if tt.fail {
				if !errors.Is(err, ErrNotAcceptable) {
					t.Fatalf("Negotiate = %v, %v; want ErrNotAcceptable", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Negotiate = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func sampleTable() *Table {
	t0 := time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)
	return New(
		Strings("meter_id", []string{"MTR-1", `quo"te,comma`, ""}),
		Times("start", []time.Time{t0, t0.Add(time.Hour), t0.Add(2 * time.Hour)}),
		Dates("day", []time.Time{t0, t0, t0.AddDate(0, 0, 1)}),
		Int64s("wh", []int64{-5, 0, math.MaxInt64}),
		UInt64s("intervals", []uint64{4, 3, math.MaxUint64}),
		Float64s("share", []float64{0.25, math.NaN(), 1}).WithNulls([]bool{false, false, true}),
		Bools("complete", []bool{true, false, true}),
		StringLists("flags", [][]string{{"spike", "zero"}, nil, {}}),
	)
}

func TestTableValidate(t *testing.T) {
	if err := sampleTable().Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tbl  *Table
		want string
	}{
		{"nil column", New(Int64s("a", []int64{1}), nil), `column 1 is nil`},
		{"ragged", New(Int64s("a", []int64{1}), Int64s("b", nil)), `column "b" has 0 rows`},
		{"null marks", New(Int64s("a", []int64{1}).WithNulls([]bool{})), `column "a": 0 null marks for 1 rows`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.tbl.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestWriteJSON(t *testing.T) {
	var buf bytes.Buffer
	err := WriteJSON(&buf, Result{Table: sampleTable(), NextCursor: "abc", Meta: map[string]any{"unit": "Wh", "meter_id": "MTR-1"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"meter_id":"MTR-1","unit":"Wh","columns":[{"name":"meter_id","type":"string"},{"name":"start","type":"time"},{"name":"day","type":"date"},{"name":"wh","type":"int64"},{"name":"intervals","type":"uint64"},{"name":"share","type":"float64"},{"name":"complete","type":"bool"},{"name":"flags","type":"list<string>"}],"rows":[` +
		`{"meter_id":"MTR-1","start":"2026-03-29T00:00:00Z","day":"2026-03-29","wh":-5,"intervals":4,"share":0.25,"complete":true,"flags":["spike","zero"]},` +
		`{"meter_id":"quo\"te,comma","start":"2026-03-29T01:00:00Z","day":"2026-03-29","wh":0,"intervals":3,"share":null,"complete":false,"flags":[]},` +
		`{"meter_id":"","start":"2026-03-29T02:00:00Z","day":"2026-03-30","wh":9223372036854775807,"intervals":18446744073709551615,"share":null,"complete":true,"flags":[]}],"next_cursor":"abc"}` + "\n"
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
	if !json.Valid(buf.Bytes()) {
		t.Fatal("output is not valid JSON")
	}
	if err := WriteJSON(&bytes.Buffer{}, Result{Table: sampleTable(), Meta: map[string]any{"rows": 1}}); err == nil {
		t.Fatal("meta field rows accepted")
	}
}

func TestWriteCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteCSV(&buf, sampleTable()); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"meter_id", "start", "day", "wh", "intervals", "share", "complete", "flags"},
		{"MTR-1", "2026-03-29T00:00:00Z", "2026-03-29", "-5", "4", "0.25", "true", `["spike","zero"]`},
		{`quo"te,comma`, "2026-03-29T01:00:00Z", "2026-03-29", "0", "3", "NaN", "false", "[]"},
		{"", "2026-03-29T02:00:00Z", "2026-03-30", "9223372036854775807", "18446744073709551615", "", "true", "[]"},
	}
	if !reflect.DeepEqual(recs, want) {
		t.Fatalf("got %q\nwant %q", recs, want)
	}
}

// readArrow reads an Arrow IPC stream back into column name → Go values, one slice per
// column, with nil for nulls.
func readArrow(t *testing.T, b []byte) (*arrow.Schema, map[string][]any, int) {
	t.Helper()
	rd, err := ipc.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Release()
	out := map[string][]any{}
	batches := 0
	for rd.Next() {
		batches++
		rec := rd.RecordBatch()
		for i, f := range rec.Schema().Fields() {
			col := rec.Column(i)
			for r := range col.Len() {
				var v any
				if !col.IsNull(r) {
					switch a := col.(type) {
					case *array.String:
						v = a.Value(r)
					case *array.Int64:
						v = a.Value(r)
					case *array.Uint64:
						v = a.Value(r)
					case *array.Float64:
						v = a.Value(r)
					case *array.Boolean:
						v = a.Value(r)
					case *array.Timestamp:
						v = time.Unix(int64(a.Value(r)), 0).UTC()
					case *array.Date32:
						v = a.Value(r).ToTime()
					case *array.List:
						lo, hi := a.ValueOffsets(r)
						strs := a.ListValues().(*array.String)
						l := []string{}
						for j := lo; j < hi; j++ {
							l = append(l, strs.Value(int(j)))
						}
						v = l
					default:
						t.Fatalf("unexpected arrow array %T", col)
					}
				}
				out[f.Name] = append(out[f.Name], v)
			}
		}
	}
	if err := rd.Err(); err != nil {
		t.Fatal(err)
	}
	return rd.Schema(), out, batches
}

func TestWriteArrowReadsBack(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteArrow(&buf, sampleTable()); err != nil {
		t.Fatal(err)
	}
	schema, got, batches := readArrow(t, buf.Bytes())
	if batches != 1 {
		t.Fatalf("%d batches, want 1", batches)
	}
	wantTypes := map[string]string{
		"meter_id": "utf8", "start": "timestamp[s, tz=UTC]", "day": "date32", "wh": "int64",
		"intervals": "uint64", "share": "float64", "complete": "bool", "flags": "list<item: utf8, nullable>",
	}
	for _, f := range schema.Fields() {
		if f.Type.String() != wantTypes[f.Name] {
			t.Errorf("field %s has type %s, want %s", f.Name, f.Type, wantTypes[f.Name])
		}
	}
	t0 := time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)
	want := map[string][]any{
		"meter_id":  {"MTR-1", `quo"te,comma`, ""},
		"start":     {t0, t0.Add(time.Hour), t0.Add(2 * time.Hour)},
		"day":       {t0, t0, t0.AddDate(0, 0, 1)},
		"wh":        {int64(-5), int64(0), int64(math.MaxInt64)},
		"intervals": {uint64(4), uint64(3), uint64(math.MaxUint64)},
		"complete":  {true, false, true},
		"flags":     {[]string{"spike", "zero"}, []string{}, []string{}},
	}
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			t.Errorf("column %s: got %v, want %v", k, got[k], w)
		}
	}
	if s := got["share"]; len(s) != 3 || s[0] != 0.25 || !math.IsNaN(s[1].(float64)) || s[2] != nil {
		t.Errorf("column share: got %v, want [0.25 NaN nil]", s)
	}
}

func TestWriteArrowBatchesAndEmpty(t *testing.T) {
	tests := []struct {
		name        string
		rows        int
		wantBatches int
	}{
		{"rows=0", 0, 0},
		{"rows=1", 1, 1},
		{"rows=65536", arrowBatchRows, 1},
		{"rows=150000", 150000, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := make([]int64, tt.rows)
			for i := range v {
				v[i] = int64(i)
			}
			var buf bytes.Buffer
			if err := WriteArrow(&buf, New(Int64s("n", v))); err != nil {
				t.Fatal(err)
			}
			schema, got, batches := readArrow(t, buf.Bytes())
			if batches != tt.wantBatches || len(got["n"]) != tt.rows || schema.NumFields() != 1 {
				t.Fatalf("%d batches, %d rows; want %d, %d", batches, len(got["n"]), tt.wantBatches, tt.rows)
			}
			for i, x := range got["n"] {
				if x != int64(i) {
					t.Fatalf("row %d = %v", i, x)
				}
			}
		})
	}
}

func TestRespond(t *testing.T) {
	tests := []struct {
		accept, wantType string
		wantStatus       int
	}{
		{"", "application/json; charset=utf-8", http.StatusOK},
		{"text/csv", "text/csv; charset=utf-8; header=present", http.StatusOK},
		{"application/vnd.apache.arrow.stream", "application/vnd.apache.arrow.stream", http.StatusOK},
		{"text/html", "", http.StatusNotAcceptable},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			e := echo.New()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Accept", tt.accept)
			rec := httptest.NewRecorder()
			err := Respond(e.NewContext(req, rec), Result{Table: sampleTable(), NextCursor: "c1"})
			var he *echo.HTTPError
			if tt.wantStatus != http.StatusOK {
				if !errors.As(err, &he) || he.Code != tt.wantStatus {
					t.Fatalf("Respond = %v, want HTTP %d", err, tt.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.Header().Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type %q, want %q", got, tt.wantType)
			}
			if got := rec.Header().Get(HeaderNextCursor); got != "c1" {
				t.Errorf("%s = %q", HeaderNextCursor, got)
			}
		})
	}
}

// benchTable returns a table of n rows of a few typical columns: a meter id, an interval
// start, Wh, a completeness ratio and a nullable reason (null in every third row).
func benchTable(n int) *Table {
	ids, starts, whs, fs, notes, nulls := make([]string, n), make([]time.Time, n), make([]int64, n), make([]float64, n), make([]string, n), make([]bool, n)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		ids[i], starts[i], whs[i], fs[i] = "MTR-"+strconv.Itoa(100000+i%500), t0.Add(time.Duration(i)*15*time.Minute), int64(i)*7, float64(i%97)/97
		if i%3 == 0 {
			nulls[i] = true
		} else {
			notes[i] = "estimated: gap"
		}
	}
	return New(Strings("meter_id", ids), Times("start", starts), Int64s("wh", whs), Float64s("completeness", fs),
		Strings("note", notes).WithNulls(nulls))
}

// BenchmarkWrite writes a table of 100 000 rows in each format and reports the
// allocations: a fixed number per table (buffers, Arrow builders), none per row.
func BenchmarkWrite(b *testing.B) {
	const n = 100000
	tbl := benchTable(n)
	for _, f := range []Format{FormatJSON, FormatCSV, FormatArrow} {
		b.Run("format="+string(f)+"/rows="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := Write(io.Discard, f, Result{Table: tbl}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestWriteAllocatesPerTableNotPerRow writes 20 000 rows in JSON and CSV and checks the
// allocations stay within a bound that does not grow with the rows (the writers used to
// allocate about three objects per row: 60 000 here).
func TestWriteAllocatesPerTableNotPerRow(t *testing.T) {
	tbl := benchTable(20000)
	for _, f := range []Format{FormatJSON, FormatCSV} {
		allocs := testing.AllocsPerRun(3, func() {
			if err := Write(io.Discard, f, Result{Table: tbl}); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 100 {
			t.Errorf("%s: %.0f allocations for %d rows, want at most 100", f, allocs, tbl.Rows())
		}
	}
}

// TestAccepted checks that the one negotiation of a request answers an unusable Accept
// with 406 and a message naming the supported types (without the sentinel's prefix), and
// that RespondAs then writes the chosen format without negotiating again.
func TestAccepted(t *testing.T) {
	e := echo.New()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Accept", "image/png")
	_, err := Accepted(e.NewContext(req, httptest.NewRecorder()))
	var he *echo.HTTPError
	if !errors.As(err, &he) || he.Code != http.StatusNotAcceptable || !errors.Is(err, ErrNotAcceptable) {
		t.Fatalf("Accepted = %v, want a 406 wrapping ErrNotAcceptable", err)
	}
	if msg := he.Message.(string); !strings.HasPrefix(msg, `Accept "image/png" names no supported type; use application/json`) {
		t.Errorf("message %q", msg)
	}
	req.Header.Set("Accept", "text/csv")
	rec := httptest.NewRecorder()
	c := e.NewContext(req, rec)
	f, err := Accepted(c)
	if err != nil || f != FormatCSV {
		t.Fatalf("Accepted = %v, %v", f, err)
	}
	if err := RespondAs(c, f, Result{Table: New(Int64s("n", []int64{1, -2}))}); err != nil {
		t.Fatal(err)
	}
	if rec.Body.String() != "n\n1\n-2\n" || rec.Header().Get("Vary") != "Accept" {
		t.Errorf("body %q, Vary %q", rec.Body.String(), rec.Header().Get("Vary"))
	}
	if err := RespondAs(c, FormatJSON, Result{}); err == nil {
		t.Error("a result without a table was written")
	}
}
