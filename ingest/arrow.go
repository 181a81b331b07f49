package ingest

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/meterhouse/meterhouse/ingest/wire"
)

// RowReject is one refused row of a batch message.
type RowReject struct {
	Reject
	// MeterID is the row's meter id as sent, or empty when it has none.
	MeterID string
	// Value is the row rendered as a JSON object with the fields of the batch (null where
	// the row has a null), which is what the dead-letter topic receives for it.
	Value []byte
}

// ArrowDecoder decodes messages holding an Arrow IPC stream of readings straight into
// Columns, column by column. The stream's record batches need the columns meter_id (utf8,
// large_utf8, utf8_view, or a dictionary of one of them), ts (a timestamp of any unit,
// whose value is taken as UTC whether or not the type names a zone), register_wh (int64;
// int32, uint32 and uint64 are accepted too) and may have quality (uint8); other columns
// are ignored. Each row gets the checks of the JSON format.
//
// The decoder reads the record batches in place, without copying the message, and keeps
// an id table between calls, so once warm it allocates a fixed amount per message and
// nothing per reading. It is not safe for concurrent use: each consumer goroutine owns
// one.
type ArrowDecoder struct {
	ids     interner
	window  Window
	src     bytesMessageReader
	rejects []RowReject
	n       int64 // the message's rows seen so far
	// maxRows, when positive, refuses a stream of more rows as a whole, before any row of
	// the record batch that goes over it is decoded (HTTP ingest's http_ingest.max_readings).
	maxRows int64
}

// NewArrowDecoder returns a decoder that accepts timestamps within w.
func NewArrowDecoder(w Window) *ArrowDecoder {
	return &ArrowDecoder{window: w, ids: interner{limit: 1 << 22}}
}

// Decode appends the valid rows of the Arrow IPC stream in value to cols and returns the
// refused rows, each with its index in the stream (counted across its record batches).
// When the message as a whole cannot be used (a malformed stream, a missing column, a
// column of the wrong type) it returns ok false with the reason and leaves cols as it
// was. ref is the reference time of the timestamp window (the message's timestamp); when it
// is zero no window is applied. The returned slice is reused by the next call; value is not
// retained. Message keys are not checked against the rows, since one message carries many
// meters.
func (d *ArrowDecoder) Decode(value []byte, ref time.Time, cols *Columns) (rows []RowReject, r Reject, ok bool) {
	start := cols.Len()
	clear(d.rejects)
	d.rejects = d.rejects[:0]
	d.n = 0
	defer func() {
		// A record batch whose buffers contradict its metadata can make array accessors
		// panic; that is a malformed message like any other.
		if p := recover(); p != nil {
			r, ok = Reject{Code: CodeMalformed, Row: -1, Reason: fmt.Sprintf("malformed Arrow IPC stream: %v", p)}, false
		}
		if !ok {
			cols.Truncate(start)
			rows = nil
		}
	}()
	d.src.reset(value)
	rd, err := ipc.NewReaderFromMessageReader(&d.src)
	if err != nil {
		return nil, Reject{Code: CodeMalformed, Row: -1, Reason: "malformed Arrow IPC stream: " + err.Error()}, false
	}
	defer rd.Release()
	for rd.Next() {
		if r, ok := d.batch(rd.RecordBatch(), ref, cols); !ok {
			return nil, r, false
		}
	}
	if err := rd.Err(); err != nil {
		return nil, Reject{Code: CodeMalformed, Row: -1, Reason: "malformed Arrow IPC stream: " + err.Error()}, false
	}
	return d.rejects, Reject{}, true
}

// arrowColumns are the columns of one record batch, by role.
type arrowColumns struct {
	id      stringColumn
	ts      *array.Timestamp
	tsUnit  int64 // ticks per second
	tsName  string
	wh      arrow.Array
	quality *array.Uint8 // nil when the batch has none
}

// stringColumn is what the string array types have in common.
type stringColumn interface {
	IsNull(i int) bool
	Value(i int) string
}

// dictStrings reads a dictionary-encoded string column.
type dictStrings struct {
	idx  *array.Dictionary
	dict stringColumn
}

func (c dictStrings) IsNull(i int) bool {
	return c.idx.IsNull(i) || c.dict.IsNull(c.idx.GetValueIndex(i))
}
func (c dictStrings) Value(i int) string { return c.dict.Value(c.idx.GetValueIndex(i)) }

func (d *ArrowDecoder) columns(rec arrow.RecordBatch) (arrowColumns, Reject, bool) {
	var ac arrowColumns
	sc := rec.Schema()
	col := func(name string, required bool) (arrow.Array, Reject, bool) {
		idx := sc.FieldIndices(name)
		switch {
		case len(idx) == 0 && required:
			return nil, Reject{Code: CodeMissingField, Field: name, Row: -1, Reason: "the record batch has no such column"}, false
		case len(idx) > 1:
			return nil, Reject{Code: CodeMalformed, Field: name, Row: -1, Reason: fmt.Sprintf("the record batch has %d columns of that name", len(idx))}, false
		case len(idx) == 0:
			return nil, Reject{}, true
		}
		return rec.Column(idx[0]), Reject{}, true
	}
	wrong := func(name, want string, got arrow.DataType) Reject {
		return Reject{Code: CodeWrongType, Field: name, Row: -1, Reason: fmt.Sprintf("want %s, got %s", want, got)}
	}

	a, r, ok := col(wire.FieldMeterID, true)
	if !ok {
		return ac, r, false
	}
	if ac.id = asStrings(a); ac.id == nil {
		return ac, wrong(wire.FieldMeterID, "utf8", a.DataType()), false
	}

	if a, r, ok = col(wire.FieldTS, true); !ok {
		return ac, r, false
	}
	ts, isTS := a.(*array.Timestamp)
	if !isTS {
		return ac, wrong(wire.FieldTS, "a timestamp", a.DataType()), false
	}
	ac.ts = ts
	unit := a.DataType().(*arrow.TimestampType).Unit
	ac.tsUnit, ac.tsName = int64(time.Second/unit.Multiplier()), unit.String()

	if a, r, ok = col(wire.FieldRegisterWh, true); !ok {
		return ac, r, false
	}
	switch a.(type) {
	case *array.Int64, *array.Int32, *array.Uint32, *array.Uint64:
		ac.wh = a
	default:
		return ac, wrong(wire.FieldRegisterWh, "int64", a.DataType()), false
	}

	if a, r, ok = col(wire.FieldQuality, false); !ok {
		return ac, r, false
	}
	if a != nil {
		q, isU8 := a.(*array.Uint8)
		if !isU8 {
			return ac, wrong(wire.FieldQuality, "uint8", a.DataType()), false
		}
		ac.quality = q
	}
	return ac, Reject{}, true
}

// asStrings returns a of a string type, or a dictionary of one, as a stringColumn, or nil.
func asStrings(a arrow.Array) stringColumn {
	switch s := a.(type) {
	case *array.String:
		return s
	case *array.LargeString:
		return s
	case *array.StringView:
		return s
	case *array.Dictionary:
		if dict := asStrings(s.Dictionary()); dict != nil {
			if _, nested := dict.(dictStrings); !nested {
				return dictStrings{idx: s, dict: dict}
			}
		}
	}
	return nil
}

// batch decodes one record batch.
func (d *ArrowDecoder) batch(rec arrow.RecordBatch, ref time.Time, cols *Columns) (Reject, bool) {
	ac, r, ok := d.columns(rec)
	if !ok {
		return r, false
	}
	n := int(rec.NumRows())
	if d.maxRows > 0 && d.n+int64(n) > d.maxRows {
		return Reject{Code: CodeMalformed, Row: -1, Reason: fmt.Sprintf(
			"more than %d rows; at most %d per request (http_ingest.max_readings)", d.maxRows, d.maxRows)}, false
	}
	for i := range n {
		if r, ok := d.row(&ac, i, ref, cols); !ok {
			r.Row = int(d.n) + i
			d.rejects = append(d.rejects, RowReject{Reject: r, MeterID: ac.idString(i), Value: ac.appendRowJSON(nil, i)})
		}
	}
	d.n += int64(n)
	return Reject{}, true
}

// row checks row i and appends it to cols, or says why it is refused.
func (d *ArrowDecoder) row(ac *arrowColumns, i int, ref time.Time, cols *Columns) (Reject, bool) {
	switch {
	case ac.id.IsNull(i):
		return Reject{Code: CodeMissingField, Field: wire.FieldMeterID, Reason: "is null"}, false
	case ac.ts.IsNull(i):
		return Reject{Code: CodeMissingField, Field: wire.FieldTS, Reason: "is null"}, false
	case ac.wh.IsNull(i):
		return Reject{Code: CodeMissingField, Field: wire.FieldRegisterWh, Reason: "is null"}, false
	}
	id := viewBytes(ac.id.Value(i))
	// Seconds by division, never ticks by multiplication: no unit of a huge value can
	// overflow, and the range is checked before a time.Time is made of it.
	raw := int64(ac.ts.Value(i))
	if sec := raw / ac.tsUnit; sec < minReadingUnix || sec > maxReadingUnix {
		return Reject{Code: CodeBadTimestamp, Field: wire.FieldTS, Reason: outOfRange(ac.tsString(i))}, false
	}
	if raw%ac.tsUnit != 0 {
		return Reject{Code: CodeBadTimestamp, Field: wire.FieldTS,
			Reason: fmt.Sprintf("%s: sub-second timestamps are not accepted", ac.tsString(i))}, false
	}
	ts := time.Unix(raw/ac.tsUnit, 0).UTC()
	var wh int64
	switch a := ac.wh.(type) {
	case *array.Int64:
		wh = a.Value(i)
	case *array.Int32:
		wh = int64(a.Value(i))
	case *array.Uint32:
		wh = int64(a.Value(i))
	case *array.Uint64:
		v := a.Value(i)
		if v > math.MaxInt64 {
			return Reject{Code: CodeWrongType, Field: wire.FieldRegisterWh,
				Reason: fmt.Sprintf("want a whole number of Wh within 64 bits, got %d", v)}, false
		}
		wh = int64(v)
	}
	var q uint8
	if ac.quality != nil && !ac.quality.IsNull(i) {
		q = ac.quality.Value(i)
	}
	if r, ok := checkReading(id, ts, wh, ref, d.window); !ok {
		return r, false
	}
	cols.Append(d.ids.intern(id), ts, wh, q)
	return Reject{}, true
}

// viewBytes returns the bytes of s without copying them. The result must not be modified
// nor kept beyond the life of s; the checks and the interner only read it.
func viewBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func (ac *arrowColumns) idString(i int) string {
	if ac.id.IsNull(i) {
		return ""
	}
	return ac.id.Value(i)
}

// The range of reading timestamps in Unix seconds (see minReadingTS), and the range of
// years 1 to 9999 that RFC 3339 can write.
var (
	minReadingUnix = minReadingTS.Unix()
	maxReadingUnix = maxReadingTS.Unix()
)

const (
	minRFC3339Unix = -62135596800 // 0001-01-01T00:00:00Z
	maxRFC3339Unix = 253402300799 // 9999-12-31T23:59:59Z
)

// tsString renders the timestamp of row i in RFC 3339 with the fraction it has, or, for a
// value beyond the years RFC 3339 can write, as the raw count of its unit.
func (ac *arrowColumns) tsString(i int) string {
	raw := int64(ac.ts.Value(i))
	sec, frac := raw/ac.tsUnit, raw%ac.tsUnit
	if frac < 0 {
		sec, frac = sec-1, frac+ac.tsUnit
	}
	if sec < minRFC3339Unix || sec > maxRFC3339Unix {
		return strconv.FormatInt(raw, 10) + ac.tsName + " since 1970-01-01T00:00:00Z"
	}
	return time.Unix(sec, frac*(int64(time.Second)/ac.tsUnit)).UTC().Format(time.RFC3339Nano)
}

// appendRowJSON appends row i as a JSON object, with the values as sent, for the
// dead-letter topic and error reports.
func (ac *arrowColumns) appendRowJSON(dst []byte, i int) []byte {
	dst = append(dst, `{"`+wire.FieldMeterID+`":`...)
	if ac.id.IsNull(i) {
		dst = append(dst, "null"...)
	} else {
		dst = appendJSONString(dst, ac.id.Value(i))
	}
	dst = append(dst, `,"`+wire.FieldTS+`":`...)
	if ac.ts.IsNull(i) {
		dst = append(dst, "null"...)
	} else {
		dst = appendJSONString(dst, ac.tsString(i))
	}
	dst = append(dst, `,"`+wire.FieldRegisterWh+`":`...)
	if ac.wh.IsNull(i) {
		dst = append(dst, "null"...)
	} else {
		switch a := ac.wh.(type) {
		case *array.Int64:
			dst = strconv.AppendInt(dst, a.Value(i), 10)
		case *array.Int32:
			dst = strconv.AppendInt(dst, int64(a.Value(i)), 10)
		case *array.Uint32:
			dst = strconv.AppendUint(dst, uint64(a.Value(i)), 10)
		case *array.Uint64:
			dst = strconv.AppendUint(dst, a.Value(i), 10)
		}
	}
	if ac.quality != nil {
		dst = append(dst, `,"`+wire.FieldQuality+`":`...)
		if ac.quality.IsNull(i) {
			dst = append(dst, "null"...)
		} else {
			dst = strconv.AppendUint(dst, uint64(ac.quality.Value(i)), 10)
		}
	}
	return append(dst, '}')
}

func appendJSONString(dst []byte, s string) []byte {
	b, err := json.Marshal(s)
	if err != nil { // a Go string always marshals; invalid UTF-8 becomes U+FFFD
		return append(dst, `""`...)
	}
	return append(dst, b...)
}

// bytesMessageReader is an ipc.MessageReader over an IPC stream held in memory. Unlike
// the reader of ipc.NewReader it does not copy message bodies: the arrays it yields point
// into the stream's bytes.
type bytesMessageReader struct {
	b   []byte
	off int
}

var errShortStream = errors.New("stream ends inside a message")

func (m *bytesMessageReader) reset(b []byte) { m.b, m.off = b, 0 }

// Message returns the next message, or io.EOF at the end-of-stream marker or the end of
// the bytes.
func (m *bytesMessageReader) Message() (msg *ipc.Message, err error) {
	defer func() {
		if p := recover(); p != nil { // flatbuffers panic on garbage metadata
			msg, err = nil, fmt.Errorf("invalid message metadata: %v", p)
		}
	}()
	if m.off == len(m.b) {
		return nil, io.EOF
	}
	word := func() (uint32, bool) {
		if len(m.b)-m.off < 4 {
			return 0, false
		}
		v := binary.LittleEndian.Uint32(m.b[m.off:])
		m.off += 4
		return v, true
	}
	n, ok := word()
	if !ok {
		return nil, errShortStream
	}
	if n == 0xFFFFFFFF { // continuation marker, then the metadata length
		if n, ok = word(); !ok {
			return nil, errShortStream
		}
	}
	if n == 0 { // end of stream
		return nil, io.EOF
	}
	if n < 4 || int64(n) > int64(len(m.b)-m.off) {
		return nil, fmt.Errorf("invalid message metadata length %d", int32(n))
	}
	if err := checkArrowMeta(m.b[m.off : m.off+int(n)]); err != nil {
		return nil, err
	}
	meta := memory.NewBufferBytes(m.b[m.off : m.off+int(n)])
	m.off += int(n)
	head := ipc.NewMessage(meta, memory.NewBufferBytes(nil))
	bodyLen := head.BodyLen()
	if bodyLen < 0 || bodyLen > int64(len(m.b)-m.off) {
		return nil, fmt.Errorf("invalid message body length %d", bodyLen)
	}
	body := memory.NewBufferBytes(m.b[m.off : m.off+int(bodyLen)])
	m.off += int(bodyLen)
	return ipc.NewMessage(meta, body), nil
}

// Slots (vtable offsets) of the IPC metadata fields checkArrowMeta looks at, from Arrow's
// Message.fbs and Schema.fbs.
const (
	fbMessageHeaderType   = 6
	fbMessageHeader       = 8
	fbMessageCustomMeta   = 12
	fbHeaderSchema        = 1
	fbHeaderDictionary    = 2
	fbHeaderRecordBatch   = 3
	fbSchemaFields        = 6
	fbSchemaCustomMeta    = 8
	fbSchemaFeatures      = 10
	fbFieldTypeType       = 8
	fbFieldType           = 10
	fbFieldChildren       = 14
	fbFieldCustomMeta     = 16
	fbTypeUnion           = 14
	fbUnionTypeIDs        = 6
	fbBatchNodes          = 6
	fbBatchBuffers        = 8
	fbBatchCompression    = 10
	fbBatchVariadicCounts = 12
	fbDictionaryData      = 6
	fbMaxFieldDepth       = 32
)

// errCompressed refuses IPC body compression: the uncompressed size of each buffer is
// taken from the message itself, so a corrupt message could claim any amount of memory.
// Kafka's own compression does the same job safely.
var errCompressed = errors.New("compressed IPC buffers are not accepted; use the Kafka producer's compression instead")

// checkArrowMeta checks, before Arrow decodes the flatbuffer metadata of one message, the
// counts that Arrow allocates memory by: each vector must fit in the metadata, nested
// fields must not go deeper than fbMaxFieldDepth, and a record batch's variadic buffer
// counts must not exceed its buffers. Without it a corrupt message could make the
// decoder allocate gigabytes and crash the process. Out-of-range reads panic, and the
// caller turns that into an error.
func checkArrowMeta(b []byte) error {
	if len(b) < 4 {
		return errors.New("message metadata too short")
	}
	c := fbChecker{b: b}
	msg := flatbuffers.Table{Bytes: b, Pos: flatbuffers.GetUOffsetT(b)}
	if _, _, err := c.vector(&msg, fbMessageCustomMeta, 4); err != nil {
		return err
	}
	h, ok := c.table(&msg, fbMessageHeader)
	if !ok {
		return nil
	}
	switch msg.GetByteSlot(fbMessageHeaderType, 0) {
	case fbHeaderSchema:
		return c.schema(&h)
	case fbHeaderRecordBatch:
		return c.recordBatch(&h)
	case fbHeaderDictionary:
		if data, ok := c.table(&h, fbDictionaryData); ok {
			return c.recordBatch(&data)
		}
	}
	return nil
}

type fbChecker struct{ b []byte }

// vector returns the start and length of the vector in slot of t, after checking that its
// elements of size bytes fit in the buffer. An absent vector has length 0.
func (c fbChecker) vector(t *flatbuffers.Table, slot flatbuffers.VOffsetT, size int) (flatbuffers.UOffsetT, int, error) {
	o := flatbuffers.UOffsetT(t.Offset(slot))
	if o == 0 {
		return 0, 0, nil
	}
	start, n := t.Vector(o), t.VectorLen(o)
	if int(start) > len(c.b) || n > (len(c.b)-int(start))/size {
		return 0, 0, fmt.Errorf("message metadata: vector of %d elements overruns the metadata", n)
	}
	return start, n, nil
}

// table returns the table that slot of t refers to, if any.
func (c fbChecker) table(t *flatbuffers.Table, slot flatbuffers.VOffsetT) (flatbuffers.Table, bool) {
	o := flatbuffers.UOffsetT(t.Offset(slot))
	if o == 0 {
		return flatbuffers.Table{}, false
	}
	return flatbuffers.Table{Bytes: c.b, Pos: t.Indirect(o + t.Pos)}, true
}

func (c fbChecker) schema(s *flatbuffers.Table) error {
	if _, _, err := c.vector(s, fbSchemaCustomMeta, 4); err != nil {
		return err
	}
	if _, _, err := c.vector(s, fbSchemaFeatures, 8); err != nil {
		return err
	}
	return c.fields(s, fbSchemaFields, 0)
}

// fields checks the vector of fields in slot of t, and their children.
func (c fbChecker) fields(t *flatbuffers.Table, slot flatbuffers.VOffsetT, depth int) error {
	if depth > fbMaxFieldDepth {
		return fmt.Errorf("message metadata: fields nested more than %d deep", fbMaxFieldDepth)
	}
	start, n, err := c.vector(t, slot, 4)
	if err != nil {
		return err
	}
	for i := range n {
		f := flatbuffers.Table{Bytes: c.b, Pos: t.Indirect(start + flatbuffers.UOffsetT(4*i))}
		if _, _, err := c.vector(&f, fbFieldCustomMeta, 4); err != nil {
			return err
		}
		if f.GetByteSlot(fbFieldTypeType, 0) == fbTypeUnion {
			if u, ok := c.table(&f, fbFieldType); ok {
				if _, _, err := c.vector(&u, fbUnionTypeIDs, 4); err != nil {
					return err
				}
			}
		}
		if err := c.fields(&f, fbFieldChildren, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (c fbChecker) recordBatch(rb *flatbuffers.Table) error {
	if o := rb.Offset(fbBatchCompression); o != 0 {
		return errCompressed
	}
	if _, _, err := c.vector(rb, fbBatchNodes, 16); err != nil {
		return err
	}
	_, buffers, err := c.vector(rb, fbBatchBuffers, 16)
	if err != nil {
		return err
	}
	start, n, err := c.vector(rb, fbBatchVariadicCounts, 8)
	if err != nil {
		return err
	}
	for i := range n {
		if v := rb.GetInt64(start + flatbuffers.UOffsetT(8*i)); v < 0 || v > int64(buffers) {
			return fmt.Errorf("message metadata: variadic buffer count %d, but the batch has %d buffers", v, buffers)
		}
	}
	return nil
}

// Retain does nothing: the reader holds no reference-counted memory.
func (m *bytesMessageReader) Retain() {}

// Release does nothing: the reader holds no reference-counted memory.
func (m *bytesMessageReader) Release() {}
