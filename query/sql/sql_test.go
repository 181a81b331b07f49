package sql

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/table"
)

func TestColumnTypeOf(t *testing.T) {
	tests := []struct {
		db   string
		want table.Type
	}{
		{"String", table.TypeString}, {"FixedString(3)", table.TypeString}, {"LowCardinality(String)", table.TypeString},
		{"Nullable(Int32)", table.TypeInt64}, {"Int64", table.TypeInt64}, {"UInt8", table.TypeUInt64}, {"UInt64", table.TypeUInt64},
		{"Float32", table.TypeFloat64}, {"Date", table.TypeDate}, {"DateTime", table.TypeTime}, {"DateTime('UTC')", table.TypeTime},
		{"Array(String)", table.TypeStringList}, {"Array(UInt8)", table.TypeString}, {"Decimal(9, 2)", table.TypeString},
		{"Tuple(UInt8, String)", table.TypeString}, {"UUID", table.TypeString}, {"Nullable(LowCardinality(String))", table.TypeString},
	}
	for _, tt := range tests {
		if got := columnTypeOf(tt.db); got != tt.want {
			t.Errorf("columnTypeOf(%s) = %s, want %s", tt.db, got, tt.want)
		}
	}
}

// scanInto plays the driver's part: it writes each value into the reader's destination
// as rows.Scan does (a nil value is a null of a Nullable column), then lets the reader
// take the row. It returns the bytes the reader counted.
func scanInto(t *testing.T, r reader, values ...any) int {
	t.Helper()
	n := 0
	for _, v := range values {
		d := reflect.ValueOf(r.dest()).Elem()
		if v == nil {
			d.SetZero()
		} else {
			d.Set(reflect.ValueOf(v))
		}
		n += r.next()
	}
	return n
}

// TestReaders checks that each ClickHouse type is read into the typed column of its table
// column type, with nulls marked only when there are some, and the bytes each row adds.
func TestReaders(t *testing.T) {
	i32 := func(v int32) *int32 { return &v }
	str := func(v string) *string { return &v }
	at := time.Date(2026, 3, 28, 1, 0, 0, 0, time.UTC)
	tests := []struct {
		db     string
		scan   reflect.Type
		values []any
		want   table.Column
		bytes  int
	}{
		{"Int32", reflect.TypeFor[int32](), []any{int32(-5), int32(7)},
			table.Int64s("c", []int64{-5, 7}), 16},
		{"Nullable(Int32)", reflect.TypeFor[*int32](), []any{i32(1), nil, i32(3)},
			table.Int64s("c", []int64{1, 0, 3}).WithNulls([]bool{false, true, false}), 27},
		{"Nullable(Int32)", reflect.TypeFor[*int32](), []any{i32(1), i32(2)},
			table.Int64s("c", []int64{1, 2}), 18},
		{"UInt8", reflect.TypeFor[uint8](), []any{uint8(255)}, table.UInt64s("c", []uint64{255}), 8},
		{"Float32", reflect.TypeFor[float32](), []any{float32(0.5)}, table.Float64s("c", []float64{0.5}), 8},
		{"Bool", reflect.TypeFor[bool](), []any{true, false}, table.Bools("c", []bool{true, false}), 2},
		{"DateTime('UTC')", reflect.TypeFor[time.Time](), []any{at}, table.Times("c", []time.Time{at}), 24},
		{"Date", reflect.TypeFor[time.Time](), []any{at}, table.Dates("c", []time.Time{at}), 24},
		{"String", reflect.TypeFor[string](), []any{"abc", ""}, table.Strings("c", []string{"abc", ""}), 35},
		{"LowCardinality(Nullable(String))", reflect.TypeFor[*string](), []any{nil, str("x")},
			table.Strings("c", []string{"", "x"}).WithNulls([]bool{true, false}), 35},
		{"Array(String)", reflect.TypeFor[[]string](), []any{[]string{"a", "bc"}, []string{}},
			table.StringLists("c", [][]string{{"a", "bc"}, {}}), 24 + 35 + 24},
		{"Array(UInt8)", reflect.TypeFor[[]uint8](), []any{[]uint8{1, 2}}, table.Strings("c", []string{"[1,2]"}), 21},
		{"Nullable(Decimal(9, 2))", reflect.TypeFor[*float64](), []any{nil}, // a stand-in scan type: text via reflection
			table.Strings("c", []string{""}).WithNulls([]bool{true}), 17},
		// A scan type other than expected is read as text rather than misread.
		{"Int32", reflect.TypeFor[int64](), []any{int64(4)}, table.Strings("c", []string{"4"}), 17},
	}
	for _, tt := range tests {
		t.Run(tt.db, func(t *testing.T) {
			r := readerFor("c", tt.db, tt.scan)
			n := scanInto(t, r, tt.values...)
			got := r.column()
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("column %#v, want %#v", got, tt.want)
			}
			if n != tt.bytes {
				t.Errorf("counted %d bytes, want %d", n, tt.bytes)
			}
		})
	}
}

// TestStringListRowsAreKept checks that each row of an Array(String) column keeps its own
// slice even when the driver would write the next row into the slice it was given.
func TestStringListRowsAreKept(t *testing.T) {
	r := readerFor("c", "Array(String)", reflect.TypeFor[[]string]())
	d := r.dest().(*[]string)
	for _, row := range [][]string{{"a", "b"}, {"c"}} {
		*d = append((*d)[:0], row...) // a driver reusing the destination's array
		r.next()
	}
	if got := r.column().(*table.Col[[]string]).Values; !reflect.DeepEqual(got, [][]string{{"a", "b"}, {"c"}}) {
		t.Errorf("rows %v", got)
	}
}

func TestSQLConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mod  func(*Config)
		key  string
	}{
		{"sub-second time", func(c *Config) { c.MaxExecutionTime = 1500 * time.Millisecond }, "sql.max_execution_time"},
		{"zero time", func(c *Config) { c.MaxExecutionTime = 0 }, "sql.max_execution_time"},
		{"memory", func(c *Config) { c.MaxMemoryUsage = 0 }, "sql.max_memory_usage"},
		{"rows to read", func(c *Config) { c.MaxRowsToRead = -1 }, "sql.max_rows_to_read"},
		{"result rows", func(c *Config) { c.MaxResultRows = 0 }, "sql.max_result_rows"},
		{"result bytes", func(c *Config) { c.MaxResultBytes = 0 }, "sql.max_result_bytes"},
		{"query bytes", func(c *Config) { c.MaxQueryBytes = 0 }, "sql.max_query_bytes"},
		{"no user", func(c *Config) { c.Username = "" }, "sql.username"},
		{"two passwords", func(c *Config) { c.Password, c.PasswordFile = "x", "/run/secrets/analyst" }, "sql.password_file"},
		{"no connections", func(c *Config) { c.MaxOpenConns = 0 }, "sql.max_open_conns"},
		{"no concurrency", func(c *Config) { c.MaxConcurrent = 0 }, "sql.max_concurrent"},
		{"concurrency over pool", func(c *Config) { c.MaxConcurrent = c.MaxOpenConns + 1 }, "sql.max_concurrent"},
		{"no per-principal", func(c *Config) { c.MaxConcurrentPerPrincipal = 0 }, "sql.max_concurrent_per_principal"},
		{"per-principal over global", func(c *Config) { c.MaxConcurrentPerPrincipal = c.MaxConcurrent + 1 }, "sql.max_concurrent_per_principal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tt.key+":") {
				t.Fatalf("Validate = %v, want an error naming %s", err, tt.key)
			}
		})
	}
}

// TestSQLPassword checks that the password comes from sql.password or from the file
// sql.password_file names, without its trailing newline, and that an unreadable file is
// an error naming the key.
func TestSQLPassword(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "analyst.pw")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Password = "inline"
	if pw, err := c.password(); err != nil || pw != "inline" {
		t.Errorf("password = %q, %v; want inline", pw, err)
	}
	c.Password, c.PasswordFile = "", file
	if pw, err := c.password(); err != nil || pw != "s3cret" {
		t.Errorf("password from file = %q, %v; want s3cret", pw, err)
	}
	c.PasswordFile = filepath.Join(dir, "missing")
	if _, err := c.password(); err == nil || !strings.HasPrefix(err.Error(), "sql.password_file:") {
		t.Errorf("missing file: %v, want an error naming sql.password_file", err)
	}
}
