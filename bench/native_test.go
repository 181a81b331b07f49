package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
)

// testdata/three_readings.native was written by ClickHouse 18.16 itself:
//
//	clickhouse-client --max_block_size=2 --query "SELECT concat('MTR-', toString(number)) AS meter_id,
//	  toDateTime(1763942400 + number*900) AS ts, toInt64(1000+number*7) AS register_wh,
//	  toUInt8(0) AS quality FROM system.numbers LIMIT 3 FORMAT Native"
//
// so matching it byte for byte shows the writer speaks the server's format.
func TestNativeWriterMatchesClickHouse(t *testing.T) {
	want, err := os.ReadFile("testdata/three_readings.native")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	nw := newNativeWriter(&buf, 2)
	for i := range 3 {
		r := schema.Reading{
			MeterID:    "MTR-" + string(rune('0'+i)),
			TS:         time.Unix(1763942400+int64(i)*900, 0),
			RegisterWh: 1000 + int64(i)*7,
		}
		if err := nw.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if nw.Rows() != 3 {
		t.Errorf("Rows() = %d, want 3", nw.Rows())
	}
	if err := nw.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("Native bytes differ from ClickHouse's:\n got %x\nwant %x", buf.Bytes(), want)
	}
}

func TestNativeWriterEmpty(t *testing.T) {
	var buf bytes.Buffer
	nw := newNativeWriter(&buf, 10)
	if err := nw.Close(); err != nil || buf.Len() != 0 {
		t.Errorf("empty writer wrote %d bytes, %v", buf.Len(), err)
	}
}

type failingWriter struct{}

var errDiskFull = errors.New("disk full")

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestNativeWriterReportsWriteErrors(t *testing.T) {
	nw := newNativeWriter(failingWriter{}, 1)
	err := nw.Write(schema.Reading{MeterID: "MTR-1", TS: time.Unix(0, 0)})
	if !errors.Is(err, errDiskFull) {
		t.Errorf("Write = %v, want errDiskFull", err)
	}
}

// TestWriteNativeFiles splits a fleet's readings between files by meter: every reading is
// written once, and each meter's readings all go to the same file.
func TestWriteNativeFiles(t *testing.T) {
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	cfg := sim.Config{Meters: 50, From: from, To: from.Add(2 * time.Hour), Interval: 15 * time.Minute, IDPrefix: "MTR-", TimeZone: "UTC"}
	f, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const n = 420 // not a whole number of intervals
	paths, err := writeNativeFiles(t.TempDir(), "t-*.native", f, n, 64, 3, sim.NewProgress(nil, "", n))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 3 {
		t.Fatalf("%d files, want 3", len(paths))
	}
	var total int64
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		total += nativeRows(t, b)
		ref, _ := sim.New(cfg)
		var r schema.Reading
		var want []byte
		var buf bytes.Buffer
		nw := newNativeWriter(&buf, 64)
		for range n {
			ref.Next(&r)
			if filePart(r.MeterID, 3) == i {
				if err := nw.Write(r); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := nw.Close(); err != nil {
			t.Fatal(err)
		}
		want = buf.Bytes()
		if !bytes.Equal(b, want) {
			t.Errorf("file %d differs from its meters' readings", i)
		}
	}
	if total != n {
		t.Errorf("%d readings in the files, want %d", total, n)
	}
}

// nativeRows sums the row counts of the blocks of a Native file written by nativeWriter.
func nativeRows(t *testing.T, b []byte) int64 {
	t.Helper()
	var rows int64
	for len(b) > 0 {
		cols, k := binary.Uvarint(b)
		b = b[k:]
		n, k := binary.Uvarint(b)
		b = b[k:]
		if cols != 4 {
			t.Fatalf("block of %d columns", cols)
		}
		for _, width := range []int{-1, 4, 8, 1} { // String, DateTime, Int64, UInt8
			for range 2 { // name, type
				l, k := binary.Uvarint(b)
				b = b[k+int(l):]
			}
			for range n {
				if width < 0 {
					l, k := binary.Uvarint(b)
					b = b[k+int(l):]
				} else {
					b = b[width:]
				}
			}
		}
		rows += int64(n)
	}
	return rows
}
