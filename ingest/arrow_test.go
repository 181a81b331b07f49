package ingest

import (
	"bytes"
	"fmt"
	"runtime"
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

// col is one column of a test record batch, its values written as a JSON array.
type col struct {
	name string
	typ  arrow.DataType
	json string
}

var (
	tsSec   = &arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"}
	tsMilli = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
	tsMicro = &arrow.TimestampType{Unit: arrow.Microsecond}
	tsNano  = &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "Europe/Berlin"}
)

// Seconds of some instants inside testWindow around testNow.
var (
	t0 = time.Date(2026, 1, 5, 0, 15, 0, 0, time.UTC) // 1767572100
	t1 = t0.Add(15 * time.Minute)
	t2 = t1.Add(15 * time.Minute)
)

// arrowStream writes an IPC stream of one record batch per element of batches, whose
// schema is that of the first.
func arrowStream(t testing.TB, batches ...[]col) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w *ipc.Writer
	for _, cols := range batches {
		fields := make([]arrow.Field, len(cols))
		arrs := make([]arrow.Array, len(cols))
		for i, c := range cols {
			fields[i] = arrow.Field{Name: c.name, Type: c.typ, Nullable: true}
			a, _, err := array.FromJSON(memory.DefaultAllocator, c.typ, strings.NewReader(c.json))
			if err != nil {
				t.Fatalf("column %s: %v", c.name, err)
			}
			defer a.Release()
			arrs[i] = a
		}
		sc := arrow.NewSchema(fields, nil)
		if w == nil {
			w = ipc.NewWriter(&buf, ipc.WithSchema(sc))
		}
		rec := array.NewRecordBatch(sc, arrs, int64(arrs[0].Len()))
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func secs(ts ...time.Time) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = fmt.Sprint(t.Unix())
	}
	return "[" + strings.Join(s, ",") + "]"
}

func rowsOf(cols *Columns) []schema.Reading {
	out := make([]schema.Reading, cols.Len())
	for i := range out {
		out[i] = schema.Reading{MeterID: cols.MeterID[i], TS: cols.TS[i], RegisterWh: cols.RegisterWh[i]}
	}
	return out
}

func TestArrowDecoderValid(t *testing.T) {
	want := []schema.Reading{{MeterID: "M1", TS: t0, RegisterWh: 100}, {MeterID: "M2", TS: t1, RegisterWh: 0}, {MeterID: "a.b_c:d-9", TS: t2, RegisterWh: 1 << 40}}
	ids := `["M1","M2","a.b_c:d-9"]`
	tests := []struct {
		name    string
		cols    []col
		quality []uint8
	}{
		{"seconds int64 quality", []col{{"meter_id", arrow.BinaryTypes.String, ids}, {"ts", tsSec, secs(t0, t1, t2)},
			{"register_wh", arrow.PrimitiveTypes.Int64, `[100,0,1099511627776]`}, {"quality", arrow.PrimitiveTypes.Uint8, `[1,null,255]`}}, []uint8{1, 0, 255}},
		{"milliseconds, column order, extra column", []col{{"extra", arrow.PrimitiveTypes.Float64, `[1.5,null,3]`},
			{"register_wh", arrow.PrimitiveTypes.Uint64, `[100,0,1099511627776]`}, {"ts", tsMilli, fmt.Sprintf("[%d,%d,%d]", t0.UnixMilli(), t1.UnixMilli(), t2.UnixMilli())},
			{"meter_id", arrow.BinaryTypes.LargeString, ids}}, []uint8{0, 0, 0}},
		{"microseconds without zone", []col{{"meter_id", arrow.BinaryTypes.String, ids}, {"ts", tsMicro, fmt.Sprintf("[%d,%d,%d]", t0.UnixMicro(), t1.UnixMicro(), t2.UnixMicro())},
			{"register_wh", arrow.PrimitiveTypes.Int64, `[100,0,1099511627776]`}}, []uint8{0, 0, 0}},
		{"nanoseconds in a zone, string view", []col{{"meter_id", arrow.BinaryTypes.StringView, ids}, {"ts", tsNano, fmt.Sprintf("[%d,%d,%d]", t0.UnixNano(), t1.UnixNano(), t2.UnixNano())},
			{"register_wh", arrow.PrimitiveTypes.Int64, `[100,0,1099511627776]`}}, []uint8{0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewArrowDecoder(testWindow())
			var cols Columns
			bad, r, ok := d.Decode(arrowStream(t, tt.cols), testNow, &cols)
			if !ok || len(bad) != 0 {
				t.Fatalf("refused: %+v %+v", r, bad)
			}
			got := rowsOf(&cols)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			for i, ts := range cols.TS {
				if ts.Location() != time.UTC || !ts.Equal(want[i].TS) {
					t.Fatalf("row %d: ts %v not UTC", i, ts)
				}
			}
			if fmt.Sprint(cols.Quality) != fmt.Sprint(tt.quality) {
				t.Fatalf("quality %v, want %v", cols.Quality, tt.quality)
			}
		})
	}
}

func TestArrowDecoderRegisterTypes(t *testing.T) {
	for _, typ := range []arrow.DataType{arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Uint32} {
		t.Run(typ.String(), func(t *testing.T) {
			var cols Columns
			bad, r, ok := NewArrowDecoder(testWindow()).Decode(arrowStream(t, []col{{"meter_id", arrow.BinaryTypes.String, `["M1"]`},
				{"ts", tsSec, secs(t0)}, {"register_wh", typ, `[2000000000]`}}), testNow, &cols)
			if !ok || len(bad) != 0 || cols.Len() != 1 || cols.RegisterWh[0] != 2_000_000_000 {
				t.Fatalf("got %v %+v %+v", cols.RegisterWh, r, bad)
			}
		})
	}
}

func TestArrowDecoderDictionaryIDs(t *testing.T) {
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}
	idx, _, err := array.FromJSON(memory.DefaultAllocator, arrow.PrimitiveTypes.Int16, strings.NewReader(`[1,0,1,null]`))
	if err != nil {
		t.Fatal(err)
	}
	dict, _, err := array.FromJSON(memory.DefaultAllocator, arrow.BinaryTypes.String, strings.NewReader(`["M1","M2"]`))
	if err != nil {
		t.Fatal(err)
	}
	ids := array.NewDictionaryArray(dt, idx, dict)
	ts, _, _ := array.FromJSON(memory.DefaultAllocator, tsSec, strings.NewReader(secs(t0, t0, t1, t1)))
	wh, _, _ := array.FromJSON(memory.DefaultAllocator, arrow.PrimitiveTypes.Int64, strings.NewReader(`[1,2,3,4]`))
	sc := arrow.NewSchema([]arrow.Field{{Name: "meter_id", Type: dt, Nullable: true}, {Name: "ts", Type: tsSec}, {Name: "register_wh", Type: arrow.PrimitiveTypes.Int64}}, nil)
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(sc))
	if err := w.Write(array.NewRecordBatch(sc, []arrow.Array{ids, ts, wh}, 4)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	var cols Columns
	bad, r, ok := NewArrowDecoder(testWindow()).Decode(buf.Bytes(), testNow, &cols)
	if !ok {
		t.Fatal(r)
	}
	want := []schema.Reading{{MeterID: "M2", TS: t0, RegisterWh: 1}, {MeterID: "M1", TS: t0, RegisterWh: 2}, {MeterID: "M2", TS: t1, RegisterWh: 3}}
	if fmt.Sprint(rowsOf(&cols)) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", rowsOf(&cols), want)
	}
	if len(bad) != 1 || bad[0].Row != 3 || bad[0].Code != CodeMissingField || bad[0].Field != "meter_id" {
		t.Fatalf("rejects %+v, want row 3 with a null meter_id", bad)
	}
}

// TestArrowDecoderRowRejects mixes good rows with one bad row of each kind, over two
// record batches: the good rows are kept in order, and each bad row is reported with its
// index in the stream, its reason and its JSON rendering.
func TestArrowDecoderRowRejects(t *testing.T) {
	past, future := testNow.Add(-31*24*time.Hour), testNow.Add(2*time.Hour)
	first := []col{
		{"meter_id", arrow.BinaryTypes.String, `["OK-0","bad id!","","OK-3",null,"M5","M6","` + strings.Repeat("x", 65) + `"]`},
		{"ts", tsMilli, fmt.Sprintf("[%d,%d,%d,%d,%d,%d,%d,%d]", t0.UnixMilli(), t0.UnixMilli(), t0.UnixMilli(), t0.UnixMilli(), t0.UnixMilli(),
			t0.UnixMilli()+500, past.UnixMilli(), t0.UnixMilli())},
		{"register_wh", arrow.PrimitiveTypes.Uint64, `[1,2,3,4,5,6,7,8]`},
		{"quality", arrow.PrimitiveTypes.Uint8, `[0,0,0,7,0,0,0,0]`},
	}
	second := []col{
		{"meter_id", arrow.BinaryTypes.String, `["M8","M9","M10","OK-11","M12"]`},
		{"ts", tsMilli, fmt.Sprintf("[%d,null,%d,%d,%d]", future.UnixMilli(), t0.UnixMilli(), t1.UnixMilli(), t1.UnixMilli())},
		{"register_wh", arrow.PrimitiveTypes.Uint64, `[1,2,null,11,18446744073709551615]`},
		{"quality", arrow.PrimitiveTypes.Uint8, `[0,0,0,null,0]`},
	}
	want := []struct {
		row           int
		code, field   string
		reason, value string
	}{
		{1, CodeBadMeterID, "meter_id", "A-Z", `{"meter_id":"bad id!","ts":"2026-01-05T00:15:00Z","register_wh":2,"quality":0}`},
		{2, CodeBadMeterID, "meter_id", "", `{"meter_id":"","ts":"2026-01-05T00:15:00Z","register_wh":3,"quality":0}`},
		{4, CodeMissingField, "meter_id", "null", `{"meter_id":null,"ts":"2026-01-05T00:15:00Z","register_wh":5,"quality":0}`},
		{5, CodeBadTimestamp, "ts", "sub-second", `{"meter_id":"M5","ts":"2026-01-05T00:15:00.5Z","register_wh":6,"quality":0}`},
		{6, CodeOutOfWindow, "ts", "lateness window", `{"meter_id":"M6","ts":"2025-12-10T00:00:00Z","register_wh":7,"quality":0}`},
		{7, CodeBadMeterID, "meter_id", "", ""},
		{8, CodeOutOfWindow, "ts", "future", `{"meter_id":"M8","ts":"2026-01-10T02:00:00Z","register_wh":1,"quality":0}`},
		{9, CodeMissingField, "ts", "null", `{"meter_id":"M9","ts":null,"register_wh":2,"quality":0}`},
		{10, CodeMissingField, "register_wh", "null", `{"meter_id":"M10","ts":"2026-01-05T00:15:00Z","register_wh":null,"quality":0}`},
		{12, CodeWrongType, "register_wh", "64 bits", `{"meter_id":"M12","ts":"2026-01-05T00:30:00Z","register_wh":18446744073709551615,"quality":0}`},
	}

	d := NewArrowDecoder(testWindow())
	cols := Columns{}
	cols.Append("EARLIER", t0, 1, 0) // rows already in the batch stay
	bad, r, ok := d.Decode(arrowStream(t, first, second), testNow, &cols)
	if !ok {
		t.Fatalf("whole message refused: %v", r)
	}
	wantRows := []schema.Reading{{MeterID: "EARLIER", TS: t0, RegisterWh: 1}, {MeterID: "OK-0", TS: t0, RegisterWh: 1},
		{MeterID: "OK-3", TS: t0, RegisterWh: 4}, {MeterID: "OK-11", TS: t1, RegisterWh: 11}}
	if fmt.Sprint(rowsOf(&cols)) != fmt.Sprint(wantRows) || fmt.Sprint(cols.Quality) != "[0 0 7 0]" {
		t.Fatalf("stored %v %v, want %v", rowsOf(&cols), cols.Quality, wantRows)
	}
	if len(bad) != len(want) {
		t.Fatalf("%d rejects, want %d: %+v", len(bad), len(want), bad)
	}
	for i, w := range want {
		b := bad[i]
		if b.Row != w.row || b.Code != w.code || b.Field != w.field || !strings.Contains(b.Reason, w.reason) {
			t.Errorf("reject %d: got %+v, want row %d code %s field %s reason containing %q", i, b.Reject, w.row, w.code, w.field, w.reason)
		}
		if w.value != "" && string(b.Value) != w.value {
			t.Errorf("reject %d: value %s, want %s", i, b.Value, w.value)
		}
	}
	if bad[0].MeterID != "bad id!" || bad[2].MeterID != "" {
		t.Errorf("reject meter ids %q %q", bad[0].MeterID, bad[2].MeterID)
	}

	// The decoder starts counting rows afresh with each message.
	bad, _, ok = d.Decode(arrowStream(t, second), testNow, &cols)
	if !ok || len(bad) != 4 || bad[0].Row != 0 || bad[3].Row != 4 {
		t.Fatalf("second message: %+v", bad)
	}
}

func TestArrowDecoderWholeMessageRejects(t *testing.T) {
	good := []col{{"meter_id", arrow.BinaryTypes.String, `["M1"]`}, {"ts", tsSec, secs(t0)}, {"register_wh", arrow.PrimitiveTypes.Int64, `[1]`}}
	with := func(c col) []col {
		out := append([]col(nil), good...)
		for i := range out {
			if out[i].name == c.name {
				out[i] = c
				return out
			}
		}
		return append(out, c)
	}
	valid := arrowStream(t, good, good)
	tests := []struct {
		name        string
		value       []byte
		code, field string
		reason      string
	}{
		{"empty", nil, CodeMalformed, "", "Arrow IPC"},
		{"garbage", []byte("this is not arrow at all"), CodeMalformed, "", "Arrow IPC"},
		{"JSON", []byte(`{"meter_id":"M1","ts":"2026-01-01T00:15:00Z","register_wh":1}`), CodeMalformed, "", "Arrow IPC"},
		{"truncated in the second batch", valid[:len(valid)-20], CodeMalformed, "", "Arrow IPC"},
		{"continuation marker only", valid[:bytes.Index(valid, []byte{0xff, 0xff, 0xff, 0xff})+4], CodeMalformed, "", "Arrow IPC"},
		{"no meter_id", arrowStream(t, good[1:]), CodeMissingField, "meter_id", "no such column"},
		{"no ts", arrowStream(t, []col{good[0], good[2]}), CodeMissingField, "ts", "no such column"},
		{"no register", arrowStream(t, good[:2]), CodeMissingField, "register_wh", "no such column"},
		{"meter_id int", arrowStream(t, with(col{"meter_id", arrow.PrimitiveTypes.Int64, `[1]`})), CodeWrongType, "meter_id", "want utf8, got int64"},
		{"meter_id binary", arrowStream(t, with(col{"meter_id", arrow.BinaryTypes.Binary, `["TTE="]`})), CodeWrongType, "meter_id", "got binary"},
		{"ts int", arrowStream(t, with(col{"ts", arrow.PrimitiveTypes.Int64, `[1]`})), CodeWrongType, "ts", "want a timestamp"},
		{"ts date", arrowStream(t, with(col{"ts", arrow.FixedWidthTypes.Date32, `[1]`})), CodeWrongType, "ts", "want a timestamp"},
		{"register float", arrowStream(t, with(col{"register_wh", arrow.PrimitiveTypes.Float64, `[1.5]`})), CodeWrongType, "register_wh", "want int64, got float64"},
		{"register int16", arrowStream(t, with(col{"register_wh", arrow.PrimitiveTypes.Int16, `[1]`})), CodeWrongType, "register_wh", "int16"},
		{"quality int32", arrowStream(t, with(col{"quality", arrow.PrimitiveTypes.Int32, `[1]`})), CodeWrongType, "quality", "want uint8"},
		{"compressed", compressedStream(t), CodeMalformed, "", "compressed"},
		{"duplicate column", arrowStream(t, append(append([]col(nil), good...), good[0])), CodeMalformed, "meter_id", "2 columns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cols Columns
			cols.Append("EARLIER", t0, 1, 0)
			bad, r, ok := NewArrowDecoder(testWindow()).Decode(tt.value, testNow, &cols)
			if ok {
				t.Fatalf("accepted, want a reject (rows %v)", rowsOf(&cols))
			}
			if len(bad) != 0 || cols.Len() != 1 || cols.MeterID[0] != "EARLIER" {
				t.Fatalf("a refused message changed the batch: %v, row rejects %+v", rowsOf(&cols), bad)
			}
			if r.Code != tt.code || r.Field != tt.field || r.Row != -1 || !strings.Contains(r.Reason, tt.reason) {
				t.Fatalf("got %+v, want code %s field %q reason containing %q", r, tt.code, tt.field, tt.reason)
			}
		})
	}
}

// compressedStream is a valid stream whose buffers are LZ4-compressed.
func compressedStream(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(wire.ArrowSchema()), ipc.WithLZ4())
	b := array.NewRecordBuilder(memory.DefaultAllocator, wire.ArrowSchema())
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append("M1")
	b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(t0.Unix()))
	b.Field(2).(*array.Int64Builder).Append(1)
	b.Field(3).(*array.Uint8Builder).Append(0)
	if err := w.Write(b.NewRecordBatch()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestArrowDecoderCorruptBuffers flips bytes all over a valid stream: every result must
// be a clean accept or reject, never a panic, and a reject leaves the batch unchanged.
func TestArrowDecoderCorruptBuffers(t *testing.T) {
	valid := encodedReadings(t, 50)
	d := NewArrowDecoder(testWindow())
	var cols Columns
	for i := range valid {
		v := bytes.Clone(valid)
		v[i] ^= 0xA5
		before := cols.Len()
		if _, _, ok := d.Decode(v, testNow, &cols); !ok && cols.Len() != before {
			t.Fatalf("byte %d: refused message left rows", i)
		}
	}
}

// encodedReadings encodes n valid readings of 1000 meters with wire.AppendArrow.
func encodedReadings(t testing.TB, n int) []byte {
	t.Helper()
	var cols Columns
	for i := range n {
		cols.Append(fmt.Sprintf("MTR-%06d", i%1000), t0.Add(time.Duration(i/1000)*15*time.Minute), int64(i)*10, uint8(i%3))
	}
	b, err := wire.AppendArrow(nil, &cols)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAppendArrowRoundTrip(t *testing.T) {
	var in Columns
	in.Append("M1", t0, 5, 0)
	in.Append("M2", t1.In(time.FixedZone("x", 3600)), 1<<62, 200)
	prefix := []byte("keep")
	b, err := wire.AppendArrow(prefix, &in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("keep")) {
		t.Fatal("AppendArrow lost dst")
	}
	var out Columns
	bad, r, ok := NewArrowDecoder(testWindow()).Decode(b[4:], testNow, &out)
	if !ok || len(bad) != 0 {
		t.Fatalf("%+v %+v", r, bad)
	}
	want := []schema.Reading{{MeterID: "M1", TS: t0, RegisterWh: 5}, {MeterID: "M2", TS: t1, RegisterWh: 1 << 62}}
	if fmt.Sprint(rowsOf(&out)) != fmt.Sprint(want) || fmt.Sprint(out.Quality) != "[0 200]" {
		t.Fatalf("got %v %v, want %v", rowsOf(&out), out.Quality, want)
	}
	// An empty batch is a valid stream with no rows.
	empty, err := wire.AppendArrow(nil, &Columns{})
	if err != nil {
		t.Fatal(err)
	}
	if bad, r, ok := NewArrowDecoder(testWindow()).Decode(empty, testNow, &out); !ok || len(bad) != 0 || out.Len() != 2 {
		t.Fatalf("empty stream: %+v %+v", r, bad)
	}
}

// TestArrowDecodeAllocsPerMessage checks that decoding allocates a fixed amount per
// message, whatever its number of readings: a message of 10000 readings may allocate only
// a little more than one of 10.
func TestArrowDecodeAllocsPerMessage(t *testing.T) {
	allocs := func(rows int) float64 {
		value := encodedReadings(t, rows)
		d := NewArrowDecoder(testWindow())
		var cols Columns
		return testing.AllocsPerRun(20, func() {
			cols.Reset()
			if _, r, ok := d.Decode(value, testNow, &cols); !ok || cols.Len() != rows {
				t.Fatalf("refused: %v", r)
			}
		})
	}
	small, large := allocs(10), allocs(10_000)
	if large > small+10 {
		t.Fatalf("10 readings: %.0f allocations, 10000 readings: %.0f; want allocations independent of the readings", small, large)
	}
	t.Logf("allocations per message: %.0f (10 readings), %.0f (10000 readings)", small, large)
}

// BenchmarkArrowDecode decodes one Arrow batch message into a reused Columns. The
// allocs/reading metric is the amortized allocation count per reading.
func BenchmarkArrowDecode(b *testing.B) {
	for _, rows := range []int{100, 10_000, 100_000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			value := encodedReadings(b, rows)
			d := NewArrowDecoder(testWindow())
			var cols Columns
			d.Decode(value, testNow, &cols) // warm the id table and the columns
			b.SetBytes(int64(len(value)))
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for range b.N {
				cols.Reset()
				if _, r, ok := d.Decode(value, testNow, &cols); !ok {
					b.Fatal(r)
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N)/float64(rows), "allocs/reading")
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "readings/s")
		})
	}
}
