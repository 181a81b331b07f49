package wire

import (
	"bytes"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ArrowSchema returns the schema of the Arrow streams AppendArrow writes: meter_id utf8,
// ts timestamp[s, UTC], register_wh int64 and quality uint8.
func ArrowSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: FieldMeterID, Type: arrow.BinaryTypes.String},
		{Name: FieldTS, Type: &arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"}},
		{Name: FieldRegisterWh, Type: arrow.PrimitiveTypes.Int64},
		{Name: FieldQuality, Type: arrow.PrimitiveTypes.Uint8},
	}, nil)
}

// AppendArrow appends to dst an Arrow IPC stream (schema ArrowSchema) holding the readings
// of cols as one record batch, and returns the extended slice: the value of one Arrow
// message. Timestamps are written to the second.
func AppendArrow(dst []byte, cols *Columns) ([]byte, error) {
	mem := memory.DefaultAllocator
	sc := ArrowSchema()
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	ids := b.Field(0).(*array.StringBuilder)
	ts := b.Field(1).(*array.TimestampBuilder)
	wh := b.Field(2).(*array.Int64Builder)
	q := b.Field(3).(*array.Uint8Builder)
	n := cols.Len()
	ids.Reserve(n)
	ts.Reserve(n)
	for i := range n {
		ids.Append(cols.MeterID[i])
		ts.Append(arrow.Timestamp(cols.TS[i].Unix()))
	}
	wh.AppendValues(cols.RegisterWh, nil)
	q.AppendValues(cols.Quality, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()

	buf := bytes.NewBuffer(dst)
	w := ipc.NewWriter(buf, ipc.WithSchema(sc), ipc.WithAllocator(mem))
	if err := w.Write(rec); err != nil {
		return dst, fmt.Errorf("encode Arrow batch: %w", err)
	}
	if err := w.Close(); err != nil {
		return dst, fmt.Errorf("encode Arrow batch: %w", err)
	}
	return buf.Bytes(), nil
}
