// Package table is the typed, columnar result every component answers with, and its
// JSON, CSV and Arrow writers: a Table is named, typed columns of equal length, each a
// Col[T] that knows how to append its i-th value as JSON, as a CSV cell or to an Arrow
// builder, so that writing a table allocates per batch, never per row. Negotiate picks a
// Format from an Accept header; http.go holds the only Echo-facing part (Accepted and
// Respond), so that callers without HTTP, like a job writing files, use Write alone.
package table

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Type is the type of the values of one column, as the JSON output names it.
type Type uint8

// The column types. Each is held by one Col[T] and made by the constructor named after it.
const (
	// TypeString is a Col[string] (Strings).
	TypeString Type = iota + 1
	// TypeInt64 is a Col[int64] (Int64s).
	TypeInt64
	// TypeUInt64 is a Col[uint64] (UInt64s).
	TypeUInt64
	// TypeFloat64 is a Col[float64] (Float64s).
	TypeFloat64
	// TypeBool is a Col[bool] (Bools).
	TypeBool
	// TypeTime is a Col[time.Time] of instants to the second, written in UTC (Times).
	TypeTime
	// TypeDate is a Col[time.Time] of calendar dates, of which only year, month and day
	// count (Dates).
	TypeDate
	// TypeStringList is a Col[[]string] (StringLists).
	TypeStringList
)

var typeNames = map[Type]string{
	TypeString: "string", TypeInt64: "int64", TypeUInt64: "uint64", TypeFloat64: "float64",
	TypeBool: "bool", TypeTime: "time", TypeDate: "date", TypeStringList: "list<string>",
}

// String returns the type's name as JSON output lists it, like "int64" or "time".
func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// ArrowType returns the Arrow type a column of t is written as: utf8, int64, uint64,
// float64, bool, timestamp[s, tz=UTC], date32 or list<utf8>.
func (t Type) ArrowType() arrow.DataType {
	switch t {
	case TypeInt64:
		return arrow.PrimitiveTypes.Int64
	case TypeUInt64:
		return arrow.PrimitiveTypes.Uint64
	case TypeFloat64:
		return arrow.PrimitiveTypes.Float64
	case TypeBool:
		return arrow.FixedWidthTypes.Boolean
	case TypeTime:
		return arrow.FixedWidthTypes.Timestamp_s
	case TypeDate:
		return arrow.FixedWidthTypes.Date32
	case TypeStringList:
		return arrow.ListOf(arrow.BinaryTypes.String)
	}
	return arrow.BinaryTypes.String
}

// Column is one named, typed column of a Table. Col[T] is the implementation; the
// writers use only these methods, so that they need no type switch.
type Column interface {
	// Name returns the column's name in every output format.
	Name() string
	// Type returns the type of the column's values.
	Type() Type
	// Len returns the number of values.
	Len() int
	// IsNull reports whether the i-th value is null.
	IsNull(i int) bool
	// AppendJSON appends the i-th value as a JSON value to dst: null for a null.
	AppendJSON(dst []byte, i int) []byte
	// AppendCSV appends the text of the i-th value's CSV cell, before CSV quoting, to dst:
	// nothing for a null.
	AppendCSV(dst []byte, i int) []byte
	// AppendArrow appends values [lo, hi) to b, a builder of Type().ArrowType().
	AppendArrow(b array.Builder, lo, hi int)
	// Reset empties the column, keeping its name, type and the memory of its values.
	Reset()
}

// codec is what a Col[T] knows of its type: how one value is written. Implementations
// are empty structs, so that columns compare equal with reflect.DeepEqual.
type codec[T any] interface {
	appendJSON(dst []byte, v T) []byte
	appendCSV(dst []byte, v T) []byte
	appendArrow(b array.Builder, v []T, valid []bool)
}

// Col is a column of values of Go type T. Make one with the constructor of its Type
// (Strings, Int64s, …); the zero Col is not usable.
type Col[T any] struct {
	name  string
	typ   Type
	codec codec[T]
	// Values holds the column's values, a zero value at null rows.
	Values []T
	// Nulls marks the rows whose value is null; nil when no value is null. When set, its
	// length is the column's length.
	Nulls []bool
}

func newCol[T any](name string, typ Type, c codec[T], v []T) *Col[T] {
	return &Col[T]{name: name, typ: typ, codec: c, Values: v}
}

// Strings returns a TypeString column of v.
func Strings(name string, v []string) *Col[string] {
	return newCol(name, TypeString, stringCodec{}, v)
}

// Int64s returns a TypeInt64 column of v.
func Int64s(name string, v []int64) *Col[int64] { return newCol(name, TypeInt64, int64Codec{}, v) }

// UInt64s returns a TypeUInt64 column of v.
func UInt64s(name string, v []uint64) *Col[uint64] {
	return newCol(name, TypeUInt64, uint64Codec{}, v)
}

// Float64s returns a TypeFloat64 column of v.
func Float64s(name string, v []float64) *Col[float64] {
	return newCol(name, TypeFloat64, float64Codec{}, v)
}

// Bools returns a TypeBool column of v.
func Bools(name string, v []bool) *Col[bool] { return newCol(name, TypeBool, boolCodec{}, v) }

// Times returns a TypeTime column of v.
func Times(name string, v []time.Time) *Col[time.Time] {
	return newCol(name, TypeTime, timeCodec{}, v)
}

// Dates returns a TypeDate column of v.
func Dates(name string, v []time.Time) *Col[time.Time] {
	return newCol(name, TypeDate, dateCodec{}, v)
}

// StringLists returns a TypeStringList column of v.
func StringLists(name string, v [][]string) *Col[[]string] {
	return newCol(name, TypeStringList, stringListCodec{}, v)
}

// WithNulls sets the column's null marks (see Nulls) and returns the column.
func (c *Col[T]) WithNulls(nulls []bool) *Col[T] {
	c.Nulls = nulls
	return c
}

// Name returns the column's name.
func (c *Col[T]) Name() string { return c.name }

// Type returns the column's type.
func (c *Col[T]) Type() Type { return c.typ }

// Len returns the number of values.
func (c *Col[T]) Len() int { return len(c.Values) }

// IsNull reports whether the i-th value is null.
func (c *Col[T]) IsNull(i int) bool { return c.Nulls != nil && c.Nulls[i] }

// Append appends v.
func (c *Col[T]) Append(v T) {
	c.Values = append(c.Values, v)
	if c.Nulls != nil {
		c.Nulls = append(c.Nulls, false)
	}
}

// AppendNull appends a null. The null marks are made on the first null.
func (c *Col[T]) AppendNull() {
	if c.Nulls == nil {
		c.Nulls = make([]bool, len(c.Values), cap(c.Values))
	}
	var zero T
	c.Values = append(c.Values, zero)
	c.Nulls = append(c.Nulls, true)
}

// Reset empties the column, keeping the memory of its values; it has no null marks after.
func (c *Col[T]) Reset() {
	clear(c.Values) // let the garbage collector have what strings and lists pointed to
	c.Values, c.Nulls = c.Values[:0], nil
}

// AppendJSON appends the i-th value as JSON: null for a null.
func (c *Col[T]) AppendJSON(dst []byte, i int) []byte {
	if c.IsNull(i) {
		return append(dst, "null"...)
	}
	return c.codec.appendJSON(dst, c.Values[i])
}

// AppendCSV appends the i-th value's CSV cell text before quoting: nothing for a null.
func (c *Col[T]) AppendCSV(dst []byte, i int) []byte {
	if c.IsNull(i) {
		return dst
	}
	return c.codec.appendCSV(dst, c.Values[i])
}

// AppendArrow appends values [lo, hi) to b, nulls included.
func (c *Col[T]) AppendArrow(b array.Builder, lo, hi int) {
	var valid []bool
	if c.Nulls != nil {
		valid = make([]bool, hi-lo)
		for i := range valid {
			valid[i] = !c.Nulls[lo+i]
		}
	}
	c.codec.appendArrow(b, c.Values[lo:hi], valid)
}

// Table is a tabular result: named, typed columns of equal length. Every read endpoint
// builds one and writes it as JSON, CSV or an Arrow IPC stream.
type Table struct {
	// Columns are the table's columns in output order.
	Columns []Column
}

// New returns a table of the given columns.
func New(cols ...Column) *Table { return &Table{Columns: cols} }

// Rows returns the number of rows, which is 0 for a table without columns.
func (t *Table) Rows() int {
	if len(t.Columns) == 0 || t.Columns[0] == nil {
		return 0
	}
	return t.Columns[0].Len()
}

// Reset empties every column, keeping the columns and their memory, so that the table can
// be filled again.
func (t *Table) Reset() {
	for _, c := range t.Columns {
		c.Reset()
	}
}

// nullMarks is the part of Col[T] Validate looks at beyond Column.
type nullMarks interface{ nullCount() (marks int, set bool) }

func (c *Col[T]) nullCount() (int, bool) { return len(c.Nulls), c.Nulls != nil }

// Validate reports a missing column, a column whose length differs from the first
// column's, or null marks of another length than their column's.
func (t *Table) Validate() error {
	for i, c := range t.Columns {
		if c == nil {
			return fmt.Errorf("column %d is nil", i)
		}
		n := c.Len()
		if i > 0 && n != t.Rows() {
			return fmt.Errorf("column %q has %d rows, column %q has %d", c.Name(), n, t.Columns[0].Name(), t.Rows())
		}
		if nm, ok := c.(nullMarks); ok {
			if marks, set := nm.nullCount(); set && marks != n {
				return fmt.Errorf("column %q: %d null marks for %d rows", c.Name(), marks, n)
			}
		}
	}
	return nil
}

// Result is what a tabular endpoint answers: a table, the cursor of the next page when
// there is one, and, for JSON only, extra top-level fields.
type Result struct {
	// Table holds the rows.
	Table *Table
	// NextCursor, when not empty, is the opaque cursor of the next page. It is sent in the
	// X-Next-Cursor header in every format and as "next_cursor" in JSON.
	NextCursor string
	// Meta holds extra top-level fields of the JSON object, like the meter id or totals.
	// They must not be named columns, rows or next_cursor. CSV and Arrow leave them out.
	Meta map[string]any
}

// errNoTable is returned for a Result without a table.
var errNoTable = errors.New("result has no table")
