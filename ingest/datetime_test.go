package ingest

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/schema"
)

// The bounds of a reading's ts are schema.MinDateTime + 1s (a reading is filed under the
// hour of ts - 1s, which must not wrap) and schema.LatestTime (18.16 reads no later time back).

// Windows under which the DateTime bounds are tested: one wide enough to hold both, and
// none (a message without a usable timestamp). The range is checked either way, and
// before the window, so the narrow test window gives bad_timestamp too.
var rangeWindows = []struct {
	name string
	w    Window
	ref  time.Time
	wide bool // whether the window holds MinDateTime and LatestTime
}{
	{"wide window", Window{MaxAge: 100 * 365 * 24 * time.Hour, MaxFuture: 100 * 365 * 24 * time.Hour}, testNow, true},
	{"no window", testWindow(), time.Time{}, true},
	{"narrow window", testWindow(), testNow, false},
}

func TestDateTimeBounds(t *testing.T) {
	if got := schema.MinDateTime.Format(time.RFC3339); got != "1970-01-01T00:00:00Z" {
		t.Errorf("MinDateTime = %s", got)
	}
	if got := schema.MaxDateTime.Format(time.RFC3339); got != "2106-02-07T06:28:15Z" {
		t.Errorf("MaxDateTime = %s", got)
	}
}

func TestJSONTimestampRange(t *testing.T) {
	tests := []struct {
		ts string
		ok bool // storable
	}{
		{"1970-01-01T00:00:01Z", true}, // the epoch itself is refused: its hour, ts - 1s, would wrap
		{"1970-01-01T01:00:01+01:00", true},
		{"1970-01-01T00:00:00Z", false},
		{"1970-01-01T01:00:00+01:00", false},
		{"2105-12-31T23:59:59Z", true},
		{"2106-01-01T00:59:59+01:00", true},
		{"1969-12-31T23:59:59Z", false},
		{"1970-01-01T00:59:59+01:00", false},
		{"2106-01-01T00:00:00Z", false},
		{"2106-02-07T06:28:15Z", false}, // the column holds it, but 18.16 cannot read it back
		{"2105-12-31T18:00:00-06:00", false},
		{"2163-01-01T00:00:00Z", false}, // stored as a time in 2026 by a wrapping DateTime
		{"1900-01-01T00:00:00Z", false},
		{"2200-01-01T00:00:00Z", false},
		{"0000-01-01T00:00:00Z", false},
		{"9999-12-31T23:59:59Z", false},
	}
	for _, rw := range rangeWindows {
		for _, tt := range tests {
			t.Run(rw.name+"/"+tt.ts, func(t *testing.T) {
				d := NewJSONDecoder(rw.w)
				var cols Columns
				r, ok := d.Decode(nil, []byte(`{"meter_id":"M1","ts":"`+tt.ts+`","register_wh":1}`), rw.ref, &cols)
				checkRange(t, tt.ok, rw.wide, ok, r)
			})
		}
	}
}

// checkRange checks one decision about a timestamp: a storable one is accepted when the
// window holds it (and refused as timestamp_window otherwise); an unstorable one is
// refused as bad_timestamp, naming the range, whatever the window.
func checkRange(t *testing.T, storable, wide, ok bool, r Reject) {
	t.Helper()
	switch {
	case storable && wide && !ok:
		t.Fatalf("refused: %+v", r)
	case storable && !wide && (ok || r.Code != CodeOutOfWindow):
		t.Fatalf("got %v %+v, want %s", ok, r, CodeOutOfWindow)
	case !storable && (ok || r.Code != CodeBadTimestamp || r.Field != "ts" ||
		!strings.Contains(r.Reason, "1970-01-01T00:00:01Z to 2105-12-31T23:59:59Z")):
		t.Fatalf("got %v %+v, want %s naming the range", ok, r, CodeBadTimestamp)
	}
}

// arrowTimestamps writes an IPC stream of one row per value of ts, in unit.
func arrowTimestamps(t *testing.T, unit arrow.TimeUnit, ts []int64) []byte {
	t.Helper()
	sc := arrow.NewSchema([]arrow.Field{
		{Name: wire.FieldMeterID, Type: arrow.BinaryTypes.String},
		{Name: wire.FieldTS, Type: &arrow.TimestampType{Unit: unit}},
		{Name: wire.FieldRegisterWh, Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for _, v := range ts {
		b.Field(0).(*array.StringBuilder).Append("M1")
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(v))
		b.Field(2).(*array.Int64Builder).Append(1)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(sc))
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestArrowTimestampRange decodes, in every unit, the DateTime bounds, a second beyond
// each, and values whose conversion to seconds or nanoseconds would overflow.
func TestArrowTimestampRange(t *testing.T) {
	minS, maxS := schema.MinDateTime.Unix()+1, schema.LatestTime.Unix()
	for _, unit := range []arrow.TimeUnit{arrow.Second, arrow.Millisecond, arrow.Microsecond, arrow.Nanosecond} {
		per := int64(time.Second / unit.Multiplier())
		tests := []struct {
			name string
			v    int64
			ok   bool
		}{
			{"min", minS * per, true},
			{"max", maxS * per, true},
			{"min - 1s", (minS - 1) * per, false},
			{"max + 1s", (maxS + 1) * per, false},
			{"max + 1 tick", maxS*per + 1, false}, // sub-second when per > 1, beyond max when per == 1
			{"min - 1 tick", minS*per - 1, false},
			{"epoch - 1 tick", -1, false},
			{"MaxInt64", math.MaxInt64, false},
			{"MinInt64", math.MinInt64, false},
			{"MaxInt64 - 1", math.MaxInt64 - 1, false},
			{"2163", time.Date(2163, 1, 1, 0, 0, 0, 0, time.UTC).Unix() * per, false},
		}
		for _, rw := range rangeWindows {
			for _, tt := range tests {
				t.Run(unit.String()+"/"+rw.name+"/"+tt.name, func(t *testing.T) {
					var cols Columns
					rows, r, ok := NewArrowDecoder(rw.w).Decode(arrowTimestamps(t, unit, []int64{tt.v}), rw.ref, &cols)
					if !ok {
						t.Fatalf("stream refused: %+v", r)
					}
					if len(rows) == 1 {
						r, ok = rows[0].Reject, false
					} else {
						r, ok = Reject{}, true
					}
					if tt.name == "max + 1 tick" && per > 1 {
						if ok || r.Code != CodeBadTimestamp || !strings.Contains(r.Reason, "sub-second") {
							t.Fatalf("got %v %+v, want a sub-second refusal", ok, r)
						}
						return
					}
					checkRange(t, tt.ok, rw.wide, ok, r)
					if ok && !cols.TS[0].Equal(time.Unix(tt.v/per, 0)) {
						t.Fatalf("stored %s", cols.TS[0])
					}
				})
			}
		}
	}
}
