package table

import (
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// arrowBatchRows bounds the rows of one Arrow record batch, so that a large table is
// streamed as several batches rather than built as one.
const arrowBatchRows = 64 << 10

// ArrowSchema returns the Arrow schema t is written with: each column as the Arrow type
// its Type gives (Type.ArrowType). Every field is nullable.
func ArrowSchema(t *Table) *arrow.Schema {
	fields := make([]arrow.Field, len(t.Columns))
	for i, c := range t.Columns {
		fields[i] = arrow.Field{Name: c.Name(), Type: c.Type().ArrowType(), Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
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
			c.AppendArrow(b.Field(i), lo, hi)
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
