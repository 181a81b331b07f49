package query

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/labstack/echo/v4"
)

// ColumnType is the type of the values of one Table column.
type ColumnType uint8

// The column types a Table holds. Each names the Go slice type Column.Values must have.
const (
	// TypeString holds []string.
	TypeString ColumnType = iota + 1
	// TypeInt64 holds []int64.
	TypeInt64
	// TypeUInt64 holds []uint64.
	TypeUInt64
	// TypeFloat64 holds []float64.
	TypeFloat64
	// TypeBool holds []bool.
	TypeBool
	// TypeTime holds []time.Time: instants to the second, written in UTC.
	TypeTime
	// TypeDate holds []time.Time: calendar dates, of which only year, month and day count.
	TypeDate
	// TypeStringList holds [][]string.
	TypeStringList
)

var typeNames = map[ColumnType]string{
	TypeString: "string", TypeInt64: "int64", TypeUInt64: "uint64", TypeFloat64: "float64",
	TypeBool: "bool", TypeTime: "time", TypeDate: "date", TypeStringList: "list<string>",
}

// String returns the type's name as JSON output lists it, like "int64" or "time".
func (t ColumnType) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Column is one named, typed column of a Table.
type Column struct {
	// Name is the column's name in every output format.
	Name string
	// Type says which slice type Values holds.
	Type ColumnType
	// Values holds the column's values: []string, []int64, []uint64, []float64, []bool,
	// []time.Time or [][]string, as Type says.
	Values any
	// Nulls marks the rows whose value is null; nil when no value is null. When set, its
	// length is the column's length, and Values holds a zero value at null rows.
	Nulls []bool
}

// Len returns the number of values in the column, or -1 when Values does not match Type.
func (c Column) Len() int {
	switch c.Type {
	case TypeString:
		if v, ok := c.Values.([]string); ok {
			return len(v)
		}
	case TypeInt64:
		if v, ok := c.Values.([]int64); ok {
			return len(v)
		}
	case TypeUInt64:
		if v, ok := c.Values.([]uint64); ok {
			return len(v)
		}
	case TypeFloat64:
		if v, ok := c.Values.([]float64); ok {
			return len(v)
		}
	case TypeBool:
		if v, ok := c.Values.([]bool); ok {
			return len(v)
		}
	case TypeTime, TypeDate:
		if v, ok := c.Values.([]time.Time); ok {
			return len(v)
		}
	case TypeStringList:
		if v, ok := c.Values.([][]string); ok {
			return len(v)
		}
	}
	return -1
}

func (c Column) null(i int) bool { return c.Nulls != nil && c.Nulls[i] }

// StringColumn returns a TypeString column.
func StringColumn(name string, v []string) Column {
	return Column{Name: name, Type: TypeString, Values: v}
}

// Int64Column returns a TypeInt64 column.
func Int64Column(name string, v []int64) Column {
	return Column{Name: name, Type: TypeInt64, Values: v}
}

// UInt64Column returns a TypeUInt64 column.
func UInt64Column(name string, v []uint64) Column {
	return Column{Name: name, Type: TypeUInt64, Values: v}
}

// Float64Column returns a TypeFloat64 column.
func Float64Column(name string, v []float64) Column {
	return Column{Name: name, Type: TypeFloat64, Values: v}
}

// BoolColumn returns a TypeBool column.
func BoolColumn(name string, v []bool) Column {
	return Column{Name: name, Type: TypeBool, Values: v}
}

// TimeColumn returns a TypeTime column.
func TimeColumn(name string, v []time.Time) Column {
	return Column{Name: name, Type: TypeTime, Values: v}
}

// DateColumn returns a TypeDate column.
func DateColumn(name string, v []time.Time) Column {
	return Column{Name: name, Type: TypeDate, Values: v}
}

// StringListColumn returns a TypeStringList column.
func StringListColumn(name string, v [][]string) Column {
	return Column{Name: name, Type: TypeStringList, Values: v}
}

// Table is a tabular result: named, typed columns of equal length. Every read endpoint
// builds one and writes it as JSON, CSV or an Arrow IPC stream with Respond.
type Table struct {
	// Columns are the table's columns in output order.
	Columns []Column
}

// NewTable returns a table of the given columns.
func NewTable(cols ...Column) *Table { return &Table{Columns: cols} }

// Rows returns the number of rows, which is 0 for a table without columns.
func (t *Table) Rows() int {
	if len(t.Columns) == 0 {
		return 0
	}
	return t.Columns[0].Len()
}

// Validate reports a column whose values do not match its type or whose length differs
// from the first column's.
func (t *Table) Validate() error {
	for i, c := range t.Columns {
		n := c.Len()
		if n < 0 {
			return fmt.Errorf("column %q: values %T do not match type %s", c.Name, c.Values, c.Type)
		}
		if i > 0 && n != t.Rows() {
			return fmt.Errorf("column %q has %d rows, column %q has %d", c.Name, n, t.Columns[0].Name, t.Rows())
		}
		if c.Nulls != nil && len(c.Nulls) != n {
			return fmt.Errorf("column %q: %d null marks for %d rows", c.Name, len(c.Nulls), n)
		}
	}
	return nil
}

// Format is an output format of tabular results.
type Format string

// The output formats, chosen by the request's Accept header.
const (
	// FormatJSON is one JSON object with the columns and one object per row (the default).
	FormatJSON Format = "json"
	// FormatCSV is RFC 4180 CSV with a header row.
	FormatCSV Format = "csv"
	// FormatArrow is an Apache Arrow IPC stream.
	FormatArrow Format = "arrow"
)

// The media types of the output formats.
const (
	MediaJSON  = "application/json"
	MediaCSV   = "text/csv"
	MediaArrow = "application/vnd.apache.arrow.stream"
)

// ContentType returns the Content-Type header value of the format.
func (f Format) ContentType() string {
	switch f {
	case FormatCSV:
		return MediaCSV + "; charset=utf-8; header=present"
	case FormatArrow:
		return MediaArrow
	}
	return MediaJSON + "; charset=utf-8"
}

// ErrNotAcceptable means the Accept header names no format the API can write.
var ErrNotAcceptable = errors.New("not acceptable")

// Negotiate picks the output format for an Accept header: the supported media type with
// the highest quality value, ties going to the earlier one. An empty header or */* gives
// JSON. A header naming only unsupported types returns an error wrapping ErrNotAcceptable.
func Negotiate(accept string) (Format, error) {
	if strings.TrimSpace(accept) == "" {
		return FormatJSON, nil
	}
	best, bestQ := Format(""), 0.0
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(v, 64); err != nil || q < 0 || q > 1 {
				continue
			}
		}
		var f Format
		switch mt {
		case MediaJSON, "application/*", "*/*":
			f = FormatJSON
		case MediaCSV, "text/*":
			f = FormatCSV
		case MediaArrow:
			f = FormatArrow
		default:
			continue
		}
		if q > bestQ {
			best, bestQ = f, q
		}
	}
	if best == "" {
		return "", fmt.Errorf("%w: Accept %q names no supported type; use %s (default), %s or %s",
			ErrNotAcceptable, accept, MediaJSON, MediaCSV, MediaArrow)
	}
	return best, nil
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

// HeaderNextCursor is the response header carrying Result.NextCursor.
const HeaderNextCursor = "X-Next-Cursor"

// Respond writes res with status 200 in the format the request's Accept header chooses.
// A header naming no supported format gets 406.
func Respond(c echo.Context, res Result) error {
	f, err := Negotiate(c.Request().Header.Get(echo.HeaderAccept))
	if err != nil {
		return echo.NewHTTPError(http.StatusNotAcceptable, strings.TrimPrefix(err.Error(), ErrNotAcceptable.Error()+": ")).SetInternal(err)
	}
	if err := res.Table.Validate(); err != nil {
		return fmt.Errorf("respond: %w", err)
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, f.ContentType())
	h.Set("Vary", echo.HeaderAccept)
	if res.NextCursor != "" {
		h.Set(HeaderNextCursor, res.NextCursor)
	}
	c.Response().WriteHeader(http.StatusOK)
	// The status is sent: a write error now can only end the response early.
	return Write(c.Response(), f, res)
}

// Write writes res to w in format f.
func Write(w io.Writer, f Format, res Result) error {
	if err := res.Table.Validate(); err != nil {
		return err
	}
	switch f {
	case FormatCSV:
		return WriteCSV(w, res.Table)
	case FormatArrow:
		return WriteArrow(w, res.Table)
	}
	return WriteJSON(w, res)
}

// WriteJSON writes res as one JSON object: the Meta fields, then "columns" (name and type
// of each column), "rows" (one object per row, keyed by column name; times in RFC 3339
// UTC, dates as YYYY-MM-DD, nulls and non-finite floats as null) and "next_cursor" when
// there is a next page.
func WriteJSON(w io.Writer, res Result) error {
	t := res.Table
	bw := bufio.NewWriterSize(w, 64<<10)
	buf := make([]byte, 0, 256)
	buf = append(buf, '{')
	keys := make([]string, 0, len(res.Meta))
	for k := range res.Meta {
		if k == "columns" || k == "rows" || k == "next_cursor" {
			return fmt.Errorf("result meta field %q collides with a fixed field", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := json.Marshal(res.Meta[k])
		if err != nil {
			return fmt.Errorf("result meta field %q: %w", k, err)
		}
		buf = appendJSONString(buf, k)
		buf = append(buf, ':')
		buf = append(buf, v...)
		buf = append(buf, ',')
	}
	buf = append(buf, `"columns":[`...)
	names := make([][]byte, len(t.Columns))
	for i, c := range t.Columns {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"name":`...)
		buf = appendJSONString(buf, c.Name)
		buf = append(buf, `,"type":"`...)
		buf = append(buf, c.Type.String()...)
		buf = append(buf, `"}`...)
		names[i] = append(appendJSONString(nil, c.Name), ':')
	}
	buf = append(buf, `],"rows":[`...)
	for r := range t.Rows() {
		if r > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '{')
		for i, c := range t.Columns {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, names[i]...)
			buf = appendJSONValue(buf, c, r)
		}
		buf = append(buf, '}')
		if len(buf) > 32<<10 {
			if _, err := bw.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	buf = append(buf, ']')
	if res.NextCursor != "" {
		buf = append(buf, `,"next_cursor":`...)
		buf = appendJSONString(buf, res.NextCursor)
	}
	buf = append(buf, "}\n"...)
	if _, err := bw.Write(buf); err != nil {
		return err
	}
	return bw.Flush()
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}

func appendJSONValue(dst []byte, c Column, r int) []byte {
	if c.null(r) {
		return append(dst, "null"...)
	}
	switch c.Type {
	case TypeString:
		return appendJSONString(dst, c.Values.([]string)[r])
	case TypeInt64:
		return strconv.AppendInt(dst, c.Values.([]int64)[r], 10)
	case TypeUInt64:
		return strconv.AppendUint(dst, c.Values.([]uint64)[r], 10)
	case TypeFloat64:
		v := c.Values.([]float64)[r]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return append(dst, "null"...)
		}
		return strconv.AppendFloat(dst, v, 'g', -1, 64)
	case TypeBool:
		return strconv.AppendBool(dst, c.Values.([]bool)[r])
	case TypeTime:
		dst = append(dst, '"')
		dst = c.Values.([]time.Time)[r].UTC().AppendFormat(dst, time.RFC3339)
		return append(dst, '"')
	case TypeDate:
		dst = append(dst, '"')
		dst = c.Values.([]time.Time)[r].AppendFormat(dst, time.DateOnly)
		return append(dst, '"')
	case TypeStringList:
		dst = append(dst, '[')
		for i, s := range c.Values.([][]string)[r] {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, s)
		}
		return append(dst, ']')
	}
	return append(dst, "null"...)
}

// WriteCSV writes t as CSV with a header row of column names. Times are RFC 3339 UTC,
// dates YYYY-MM-DD, nulls empty fields, and string lists JSON arrays. A string cell or
// column name that a spreadsheet would read as a formula (one starting with =, +, -, @,
// a tab or a carriage return) is written with a single quote in front, as OWASP's CSV
// injection guidance says; numeric columns, negative numbers included, are written as
// they are.
func WriteCSV(w io.Writer, t *Table) error {
	cw := csv.NewWriter(w)
	rec := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		rec[i] = csvText(c.Name)
	}
	if err := cw.Write(rec); err != nil {
		return err
	}
	var buf []byte
	for r := range t.Rows() {
		for i, c := range t.Columns {
			buf = buf[:0]
			switch {
			case c.null(r):
			case c.Type == TypeString:
				rec[i] = csvText(c.Values.([]string)[r])
				continue
			case c.Type == TypeFloat64:
				buf = strconv.AppendFloat(buf, c.Values.([]float64)[r], 'g', -1, 64)
			default:
				buf = appendJSONValue(buf, c, r)
				if c.Type == TypeTime || c.Type == TypeDate {
					buf = buf[1 : len(buf)-1] // no JSON quotes
				}
			}
			rec[i] = string(buf)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvText returns s, with a single quote in front when a spreadsheet would take it for
// a formula: when it starts with =, +, -, @, a tab or a carriage return.
func csvText(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// arrowBatchRows bounds the rows of one Arrow record batch, so that a large table is
// streamed as several batches rather than built as one.
const arrowBatchRows = 64 << 10

// ArrowSchema returns the Arrow schema t is written with: string columns as utf8,
// integers as int64/uint64, floats as float64, times as timestamp[s, tz=UTC], dates as
// date32 and string lists as list<utf8>. Every field is nullable.
func ArrowSchema(t *Table) *arrow.Schema {
	fields := make([]arrow.Field, len(t.Columns))
	for i, c := range t.Columns {
		fields[i] = arrow.Field{Name: c.Name, Type: arrowType(c.Type), Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

func arrowType(t ColumnType) arrow.DataType {
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

// WriteArrow writes t as an Arrow IPC stream: the schema ArrowSchema gives, then record
// batches of at most 65536 rows. A table without rows is a schema and no batch.
func WriteArrow(w io.Writer, t *Table) error {
	mem := memory.NewGoAllocator()
	schema := ArrowSchema(t)
	iw := ipc.NewWriter(w, ipc.WithSchema(schema), ipc.WithAllocator(mem))
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	n := t.Rows()
	for lo := 0; lo < n; lo += arrowBatchRows {
		hi := min(lo+arrowBatchRows, n)
		for i, c := range t.Columns {
			appendArrow(b.Field(i), c, lo, hi)
		}
		rec := b.NewRecordBatch()
		err := iw.Write(rec)
		rec.Release()
		if err != nil {
			return fmt.Errorf("write arrow batch: %w", err)
		}
	}
	if err := iw.Close(); err != nil {
		return fmt.Errorf("close arrow stream: %w", err)
	}
	return nil
}

// appendArrow appends rows [lo, hi) of c to the builder of its Arrow type.
func appendArrow(fb array.Builder, c Column, lo, hi int) {
	var valid []bool
	if c.Nulls != nil {
		valid = make([]bool, hi-lo)
		for i := range valid {
			valid[i] = !c.Nulls[lo+i]
		}
	}
	switch c.Type {
	case TypeString:
		fb.(*array.StringBuilder).AppendValues(c.Values.([]string)[lo:hi], valid)
	case TypeInt64:
		fb.(*array.Int64Builder).AppendValues(c.Values.([]int64)[lo:hi], valid)
	case TypeUInt64:
		fb.(*array.Uint64Builder).AppendValues(c.Values.([]uint64)[lo:hi], valid)
	case TypeFloat64:
		fb.(*array.Float64Builder).AppendValues(c.Values.([]float64)[lo:hi], valid)
	case TypeBool:
		fb.(*array.BooleanBuilder).AppendValues(c.Values.([]bool)[lo:hi], valid)
	case TypeTime:
		tb := fb.(*array.TimestampBuilder)
		for i, v := range c.Values.([]time.Time)[lo:hi] {
			if valid != nil && !valid[i] {
				tb.AppendNull()
				continue
			}
			tb.Append(arrow.Timestamp(v.Unix()))
		}
	case TypeDate:
		db := fb.(*array.Date32Builder)
		for i, v := range c.Values.([]time.Time)[lo:hi] {
			if valid != nil && !valid[i] {
				db.AppendNull()
				continue
			}
			db.Append(arrow.Date32FromTime(time.Date(v.Year(), v.Month(), v.Day(), 0, 0, 0, 0, time.UTC)))
		}
	case TypeStringList:
		lb := fb.(*array.ListBuilder)
		vb := lb.ValueBuilder().(*array.StringBuilder)
		for i, v := range c.Values.([][]string)[lo:hi] {
			if valid != nil && !valid[i] {
				lb.AppendNull()
				continue
			}
			lb.Append(true)
			vb.AppendValues(v, nil)
		}
	}
}
