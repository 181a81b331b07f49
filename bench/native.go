package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/meterhouse/meterhouse/schema"
)

// nativeColumns is the column list of the ceiling's INSERT, in the order nativeWriter
// writes them. It matches the columns ingest inserts.
const nativeColumns = "meter_id, ts, register_wh, quality"

// nativeWriter writes readings in ClickHouse's Native format, the format clickhouse-client
// inserts fastest: blocks of blockRows rows, each block the row and column counts followed
// by every column's name, type and values. Readings are buffered column by column until a
// block is full. A nativeWriter is not safe for concurrent use; Close writes the last block
// and flushes, it does not close the underlying writer.
type nativeWriter struct {
	w         *bufio.Writer
	blockRows int
	ids       []string
	ts        []uint32
	wh        []int64
	scratch   [binary.MaxVarintLen64]byte
	rows      int64
}

// newNativeWriter returns a writer of blocks of blockRows rows to w.
func newNativeWriter(w io.Writer, blockRows int) *nativeWriter {
	return &nativeWriter{w: bufio.NewWriterSize(w, 1<<20), blockRows: blockRows}
}

// Write buffers one reading and writes a block when blockRows are buffered. Timestamps
// must lie in DateTime's range (1970 to 2106).
func (n *nativeWriter) Write(r schema.Reading) error {
	n.ids = append(n.ids, r.MeterID)
	n.ts = append(n.ts, uint32(r.TS.Unix()))
	n.wh = append(n.wh, r.RegisterWh)
	if len(n.ids) >= n.blockRows {
		return n.block()
	}
	return nil
}

// Rows returns how many readings were written, including buffered ones.
func (n *nativeWriter) Rows() int64 { return n.rows + int64(len(n.ids)) }

// Close writes the buffered readings as a last block and flushes.
func (n *nativeWriter) Close() error {
	if len(n.ids) > 0 {
		if err := n.block(); err != nil {
			return err
		}
	}
	if err := n.w.Flush(); err != nil {
		return fmt.Errorf("native file: %w", err)
	}
	return nil
}

func (n *nativeWriter) block() error {
	rows := len(n.ids)
	n.uvarint(4)
	n.uvarint(uint64(rows))

	n.header("meter_id", "String")
	for _, id := range n.ids {
		n.str(id)
	}
	n.header("ts", "DateTime")
	var b [8]byte
	for _, t := range n.ts {
		binary.LittleEndian.PutUint32(b[:4], t)
		n.w.Write(b[:4]) //nolint:errcheck // bufio keeps the first error for Flush
	}
	n.header("register_wh", "Int64")
	for _, v := range n.wh {
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		n.w.Write(b[:]) //nolint:errcheck // bufio keeps the first error for Flush
	}
	n.header("quality", "UInt8")
	for range rows {
		n.w.WriteByte(0) //nolint:errcheck // bufio keeps the first error for Flush
	}

	clear(n.ids)
	n.ids, n.ts, n.wh = n.ids[:0], n.ts[:0], n.wh[:0]
	n.rows += int64(rows)
	if err := n.w.Flush(); err != nil {
		return fmt.Errorf("native file: %w", err)
	}
	return nil
}

func (n *nativeWriter) header(name, typ string) {
	n.str(name)
	n.str(typ)
}

func (n *nativeWriter) str(s string) {
	n.uvarint(uint64(len(s)))
	n.w.WriteString(s) //nolint:errcheck // bufio keeps the first error for Flush
}

func (n *nativeWriter) uvarint(v uint64) {
	k := binary.PutUvarint(n.scratch[:], v)
	n.w.Write(n.scratch[:k]) //nolint:errcheck // bufio keeps the first error for Flush
}
