package main

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/schema"
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
