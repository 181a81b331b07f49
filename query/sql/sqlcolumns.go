package sql

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/meterhouse/meterhouse/table"
)

// The bytes a result cell takes in a reader's typed slice, as the SQL endpoint counts them
// against sql.max_result_bytes: the slice element, plus the text of strings. A nullable
// column adds one byte per row for its null mark.
const (
	wordBytes   = 8  // int64, uint64, float64
	boolBytes   = 1  // bool
	timeBytes   = 24 // time.Time
	stringBytes = 16 // a string header; its text is counted by length
	sliceBytes  = 24 // a []string header
)

// reader reads one column of an analyst SQL result into a table column, one scanned row
// at a time, without boxing the values it keeps: rows.Scan writes into dest, and next
// appends that value to the column.
type reader interface {
	// dest is the Scan destination of the column.
	dest() any
	// next appends the value last scanned into dest and returns the bytes it added.
	next() int
	// column returns the column of the values read so far.
	column() table.Column
}

// scalarReader reads a column whose driver scan type is S (or *S when nullable) into a
// table.Col[T] through conv.
type scalarReader[S, T any] struct {
	nullable bool
	width    int         // bytes of one element
	text     func(T) int // extra bytes of one value beyond width, or nil
	conv     func(S) T
	reset    bool // clear the destination after each row (slices the driver might reuse)

	v   S
	p   *S
	col *table.Col[T]
}

func newScalar[S, T any](col *table.Col[T], nullable bool, width int, conv func(S) T) *scalarReader[S, T] {
	return &scalarReader[S, T]{col: col, nullable: nullable, width: width, conv: conv}
}

func (r *scalarReader[S, T]) scanType() reflect.Type {
	if r.nullable {
		return reflect.TypeFor[*S]()
	}
	return reflect.TypeFor[S]()
}

func (r *scalarReader[S, T]) dest() any {
	if r.nullable {
		return &r.p
	}
	return &r.v
}

func (r *scalarReader[S, T]) next() int {
	n := r.width
	if r.nullable {
		n++
		if r.p == nil {
			r.col.AppendNull()
			return n
		}
		r.v = *r.p
	}
	v := r.conv(r.v)
	if r.reset {
		var zero S
		r.v = zero
	}
	r.col.Append(v)
	if r.text != nil {
		n += r.text(v)
	}
	return n
}

func (r *scalarReader[S, T]) column() table.Column { return r.col }

func same[T any](v T) T { return v }

// textReader reads any other column (arrays other than of strings, tuples, decimals,
// UUIDs, enums, maps, …) as text: the one reader that goes through reflection per cell.
// It keeps only the resulting string.
type textReader struct {
	d        reflect.Value // pointer to a value of the driver's scan type
	nullable bool
	col      *table.Col[string]
}

func (r *textReader) dest() any { return r.d.Interface() }

func (r *textReader) next() int {
	v := r.d.Elem().Interface()
	isNull := false
	if r.nullable {
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer {
			if rv.IsNil() {
				isNull = true
			} else {
				v = rv.Elem().Interface()
			}
		} else if v == nil {
			isNull = true
		}
	}
	if isNull {
		r.col.AppendNull()
		return stringBytes + 1
	}
	s := stringify(v)
	r.col.Append(s)
	n := stringBytes + len(s)
	if r.nullable {
		n++
	}
	return n
}

func (r *textReader) column() table.Column { return r.col }

// unwrapType strips Nullable(…) and LowCardinality(…) from a ClickHouse type, reporting
// whether it was nullable.
func unwrapType(dbType string) (string, bool) {
	t, nullable := dbType, false
	for {
		switch {
		case strings.HasPrefix(t, "Nullable(") && strings.HasSuffix(t, ")"):
			t, nullable = t[len("Nullable("):len(t)-1], true
			continue
		case strings.HasPrefix(t, "LowCardinality(") && strings.HasSuffix(t, ")"):
			t = t[len("LowCardinality(") : len(t)-1]
			continue
		}
		return t, nullable
	}
}

// columnTypeOf maps a ClickHouse column type to the table column type the SQL endpoint
// gives it: integers, floats, Bool, dates, times, strings and arrays of strings keep their
// kind; every other type becomes text.
func columnTypeOf(dbType string) table.Type {
	t, _ := unwrapType(dbType)
	base, _, _ := strings.Cut(t, "(")
	switch base {
	case "Int8", "Int16", "Int32", "Int64":
		return table.TypeInt64
	case "UInt8", "UInt16", "UInt32", "UInt64":
		return table.TypeUInt64
	case "Float32", "Float64":
		return table.TypeFloat64
	case "Bool":
		return table.TypeBool
	case "Date", "Date32":
		return table.TypeDate
	case "DateTime":
		return table.TypeTime
	}
	if t == "Array(String)" || t == "Array(LowCardinality(String))" {
		return table.TypeStringList
	}
	return table.TypeString
}

// readerFor returns the reader of the result column name of ClickHouse type dbType, which
// the driver scans as scan. Types with a table column type get a typed reader; a scan
// type other than the one expected, and every other ClickHouse type, get the text reader.
func readerFor(name, dbType string, scan reflect.Type) reader {
	t, nullable := unwrapType(dbType)
	base, _, _ := strings.Cut(t, "(")
	typ := columnTypeOf(dbType)
	var r interface {
		reader
		scanType() reflect.Type
	}
	ints := func() *table.Col[int64] { return table.Int64s(name, []int64{}) }
	uints := func() *table.Col[uint64] { return table.UInt64s(name, []uint64{}) }
	floats := func() *table.Col[float64] { return table.Float64s(name, []float64{}) }
	switch base {
	case "Int8":
		r = newScalar(ints(), nullable, wordBytes, func(v int8) int64 { return int64(v) })
	case "Int16":
		r = newScalar(ints(), nullable, wordBytes, func(v int16) int64 { return int64(v) })
	case "Int32":
		r = newScalar(ints(), nullable, wordBytes, func(v int32) int64 { return int64(v) })
	case "Int64":
		r = newScalar(ints(), nullable, wordBytes, same[int64])
	case "UInt8":
		r = newScalar(uints(), nullable, wordBytes, func(v uint8) uint64 { return uint64(v) })
	case "UInt16":
		r = newScalar(uints(), nullable, wordBytes, func(v uint16) uint64 { return uint64(v) })
	case "UInt32":
		r = newScalar(uints(), nullable, wordBytes, func(v uint32) uint64 { return uint64(v) })
	case "UInt64":
		r = newScalar(uints(), nullable, wordBytes, same[uint64])
	case "Float32":
		r = newScalar(floats(), nullable, wordBytes, func(v float32) float64 { return float64(v) })
	case "Float64":
		r = newScalar(floats(), nullable, wordBytes, same[float64])
	case "Bool":
		r = newScalar(table.Bools(name, []bool{}), nullable, boolBytes, same[bool])
	case "Date", "Date32":
		r = newScalar(table.Dates(name, []time.Time{}), nullable, timeBytes, same[time.Time])
	case "DateTime":
		r = newScalar(table.Times(name, []time.Time{}), nullable, timeBytes, same[time.Time])
	case "String", "FixedString":
		s := newScalar(table.Strings(name, []string{}), nullable, stringBytes, same[string])
		s.text = func(v string) int { return len(v) }
		r = s
	}
	if typ == table.TypeStringList {
		l := newScalar(table.StringLists(name, [][]string{}), false, sliceBytes, same[[]string])
		l.reset = true // each row's slice is kept; the driver gets a nil one for the next
		l.text = func(v []string) int {
			n := 0
			for _, s := range v {
				n += stringBytes + len(s)
			}
			return n
		}
		r = l
	}
	if r != nil && r.scanType() == scan {
		return r
	}
	return &textReader{d: reflect.New(scan), nullable: nullable, col: table.Strings(name, []string{})}
}

// stringify renders a value of a type without a Table column type (arrays, tuples,
// decimals, UUIDs, enums, …) as text: JSON for containers, its String method or fmt
// otherwise.
func stringify(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case fmt.Stringer:
		return x.String()
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map, reflect.Struct:
		if b, ok := v.([]uint8); ok {
			// Array(UInt8): numbers, not the base64 JSON gives []byte
			nums := make([]uint16, len(b))
			for i, x := range b {
				nums[i] = uint16(x)
			}
			v = nums
		}
		if b, err := json.Marshal(v); err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(v)
}
