package query

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
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

// reader reads one column of an analyst SQL result into a typed slice, one scanned row
// at a time, without boxing the values it keeps: rows.Scan writes into dest, and next
// appends that value to the column.
type reader interface {
	// dest is the Scan destination of the column.
	dest() any
	// next appends the value last scanned into dest and returns the bytes it added.
	next() int
	// column returns the values read so far as a Table column.
	column(name string) Column
}

// scalarReader reads a column whose driver scan type is S (or *S when nullable) into a
// []T through conv.
type scalarReader[S, T any] struct {
	typ      ColumnType
	nullable bool
	width    int         // bytes of one element
	text     func(T) int // extra bytes of one value beyond width, or nil
	conv     func(S) T
	reset    bool // clear the destination after each row (slices the driver might reuse)

	v     S
	p     *S
	vals  []T
	nulls []bool // nil until the first null
}

func newScalar[S, T any](typ ColumnType, nullable bool, width int, conv func(S) T) *scalarReader[S, T] {
	return &scalarReader[S, T]{typ: typ, nullable: nullable, width: width, conv: conv, vals: []T{}}
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
			if r.nulls == nil {
				r.nulls = make([]bool, len(r.vals), cap(r.vals))
			}
			var zero T
			r.vals = append(r.vals, zero)
			r.nulls = append(r.nulls, true)
			return n
		}
		r.v = *r.p
	}
	v := r.conv(r.v)
	if r.reset {
		var zero S
		r.v = zero
	}
	r.vals = append(r.vals, v)
	if r.nulls != nil {
		r.nulls = append(r.nulls, false)
	}
	if r.text != nil {
		n += r.text(v)
	}
	return n
}

func (r *scalarReader[S, T]) column(name string) Column {
	return Column{Name: name, Type: r.typ, Values: r.vals, Nulls: r.nulls}
}

func same[T any](v T) T { return v }

// textReader reads any other column (arrays other than of strings, tuples, decimals,
// UUIDs, enums, maps, …) as text: the one reader that goes through reflection per cell.
// It keeps only the resulting string.
type textReader struct {
	d        reflect.Value // pointer to a value of the driver's scan type
	nullable bool
	vals     []string
	nulls    []bool
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
		if r.nulls == nil {
			r.nulls = make([]bool, len(r.vals), cap(r.vals))
		}
		r.vals = append(r.vals, "")
		r.nulls = append(r.nulls, true)
		return stringBytes + 1
	}
	s := stringify(v)
	r.vals = append(r.vals, s)
	if r.nulls != nil {
		r.nulls = append(r.nulls, false)
	}
	n := stringBytes + len(s)
	if r.nullable {
		n++
	}
	return n
}

func (r *textReader) column(name string) Column {
	return Column{Name: name, Type: TypeString, Values: r.vals, Nulls: r.nulls}
}

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

// columnTypeOf maps a ClickHouse column type to the Table column type the SQL endpoint
// gives it: integers, floats, Bool, dates, times, strings and arrays of strings keep their
// kind; every other type becomes text.
func columnTypeOf(dbType string) ColumnType {
	t, _ := unwrapType(dbType)
	base, _, _ := strings.Cut(t, "(")
	switch base {
	case "Int8", "Int16", "Int32", "Int64":
		return TypeInt64
	case "UInt8", "UInt16", "UInt32", "UInt64":
		return TypeUInt64
	case "Float32", "Float64":
		return TypeFloat64
	case "Bool":
		return TypeBool
	case "Date", "Date32":
		return TypeDate
	case "DateTime":
		return TypeTime
	}
	if t == "Array(String)" || t == "Array(LowCardinality(String))" {
		return TypeStringList
	}
	return TypeString
}

// readerFor returns the reader of a result column of ClickHouse type dbType, which the
// driver scans as scan. Types with a Table column type get a typed reader; a scan type
// other than the one expected, and every other ClickHouse type, get the text reader.
func readerFor(dbType string, scan reflect.Type) reader {
	t, nullable := unwrapType(dbType)
	base, _, _ := strings.Cut(t, "(")
	typ := columnTypeOf(dbType)
	var r interface {
		reader
		scanType() reflect.Type
	}
	switch base {
	case "Int8":
		r = newScalar(typ, nullable, wordBytes, func(v int8) int64 { return int64(v) })
	case "Int16":
		r = newScalar(typ, nullable, wordBytes, func(v int16) int64 { return int64(v) })
	case "Int32":
		r = newScalar(typ, nullable, wordBytes, func(v int32) int64 { return int64(v) })
	case "Int64":
		r = newScalar(typ, nullable, wordBytes, same[int64])
	case "UInt8":
		r = newScalar(typ, nullable, wordBytes, func(v uint8) uint64 { return uint64(v) })
	case "UInt16":
		r = newScalar(typ, nullable, wordBytes, func(v uint16) uint64 { return uint64(v) })
	case "UInt32":
		r = newScalar(typ, nullable, wordBytes, func(v uint32) uint64 { return uint64(v) })
	case "UInt64":
		r = newScalar(typ, nullable, wordBytes, same[uint64])
	case "Float32":
		r = newScalar(typ, nullable, wordBytes, func(v float32) float64 { return float64(v) })
	case "Float64":
		r = newScalar(typ, nullable, wordBytes, same[float64])
	case "Bool":
		r = newScalar(typ, nullable, boolBytes, same[bool])
	case "Date", "Date32", "DateTime":
		r = newScalar(typ, nullable, timeBytes, same[time.Time])
	case "String", "FixedString":
		s := newScalar(typ, nullable, stringBytes, same[string])
		s.text = func(v string) int { return len(v) }
		r = s
	}
	if typ == TypeStringList {
		l := newScalar(typ, false, sliceBytes, same[[]string])
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
	return &textReader{d: reflect.New(scan), nullable: nullable, vals: []string{}}
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
