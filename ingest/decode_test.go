package ingest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/schema"
)

var testNow = time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)

func testWindow() Window { return Window{MaxAge: 30 * 24 * time.Hour, MaxFuture: time.Hour} }

func TestJSONDecoderValid(t *testing.T) {
	tests := []struct {
		name  string
		key   string
		value string
		want  schema.Reading
	}{
		{"plain", "MTR-000001", `{"meter_id":"MTR-000001","ts":"2026-01-01T00:15:00Z","register_wh":1234567}`,
			schema.Reading{MeterID: "MTR-000001", TS: time.Date(2026, 1, 1, 0, 15, 0, 0, time.UTC), RegisterWh: 1234567}},
		{"no key, field order, extra field", "", `{"register_wh":0,"extra":[1,{"a":2}],"ts":"2026-01-01T01:00:00+01:00","meter_id":"a.b_c:d-9"}`,
			schema.Reading{MeterID: "a.b_c:d-9", TS: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), RegisterWh: 0}},
		{"zero fraction and whitespace", "", " {\"meter_id\" : \"M1\", \"ts\":\"2026-01-05T23:59:59.000Z\",\n\"register_wh\":9223372036854775807 } ",
			schema.Reading{MeterID: "M1", TS: time.Date(2026, 1, 5, 23, 59, 59, 0, time.UTC), RegisterWh: 9223372036854775807}},
		{"quality", "", `{"meter_id":"M1","ts":"2026-01-01T00:15:00Z","register_wh":1,"quality":255}`,
			schema.Reading{MeterID: "M1", TS: time.Date(2026, 1, 1, 0, 15, 0, 0, time.UTC), RegisterWh: 1, Quality: 255}},
		{"quality null", "", `{"meter_id":"M1","ts":"2026-01-01T00:15:00Z","register_wh":1,"quality":null}`,
			schema.Reading{MeterID: "M1", TS: time.Date(2026, 1, 1, 0, 15, 0, 0, time.UTC), RegisterWh: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewJSONDecoder(testWindow())
			var cols Columns
			if r, ok := d.Decode([]byte(tt.key), []byte(tt.value), testNow, &cols); !ok {
				t.Fatalf("refused: %v", r)
			}
			got := schema.Reading{MeterID: cols.MeterID[0], TS: cols.TS[0], RegisterWh: cols.RegisterWh[0], Quality: cols.Quality[0]}
			if got != tt.want || cols.Len() != 1 {
				t.Fatalf("got %+v (len %d), want %+v", got, cols.Len(), tt.want)
			}
		})
	}
}

func TestJSONDecoderRejects(t *testing.T) {
	tests := []struct {
		name, key, value, code, field, reason string
	}{
		{"malformed", "", `{"meter_id":"M1",`, CodeMalformed, "", "malformed JSON"},
		{"not an object", "", `[1,2]`, CodeMalformed, "", "want a JSON object"},
		{"missing ts", "", `{"meter_id":"M1","register_wh":1}`, CodeMissingField, "ts", "missing"},
		{"missing meter", "", `{"ts":"2026-01-01T00:15:00Z","register_wh":1}`, CodeMissingField, "meter_id", "missing"},
		{"id wrong type", "", `{"meter_id":12,"ts":"2026-01-01T00:15:00Z","register_wh":1}`, CodeWrongType, "meter_id", "want a string"},
		{"ts wrong type", "", `{"meter_id":"M1","ts":1735689600,"register_wh":1}`, CodeWrongType, "ts", "RFC 3339 string"},
		{"register string", "", `{"meter_id":"M1","ts":"2026-01-01T00:15:00Z","register_wh":"12"}`, CodeWrongType, "register_wh", "want an integer"},
		{"register fraction", "", `{"meter_id":"M1","ts":"2026-01-01T00:15:00Z","register_wh":1.5}`, CodeWrongType, "register_wh", "whole number"},
		{"register overflow", "", `{"meter_id":"M1","ts":"2026-01-01T00:15:00Z","register_wh":99999999999999999999}`, CodeWrongType, "register_wh", "64 bits"},
		{"bad id chars", "", `{"meter_id":"M 1","ts":"2026-01-01T00:15:00Z","register_wh":1}`, CodeBadMeterID, "meter_id", "A-Z"},
		{"empty id", "", `{"meter_id":"","ts":"2026-01-01T00:15:00Z","register_wh":1}`, CodeBadMeterID, "meter_id", ""},
		{"long id", "", `{"meter_id":"` + strings.Repeat("x", 65) + `","ts":"2026-01-01T00:15:00Z","register_wh":1}`, CodeBadMeterID, "meter_id", ""},
		{"ts garbage", "", `{"meter_id":"M1","ts":"yesterday","register_wh":1}`, CodeBadTimestamp, "ts", "RFC 3339"},
		{"ts no zone", "", `{"meter_id":"M1","ts":"2026-01-01T00:15:00","register_wh":1}`, CodeBadTimestamp, "ts", ""},
		{"ts bad day", "", `{"meter_id":"M1","ts":"2026-02-30T00:15:00Z","register_wh":1}`, CodeBadTimestamp, "ts", "out of range"},
		{"ts sub-second", "", `{"meter_id":"M1","ts":"2026-01-01T00:15:00.5Z","register_wh":1}`, CodeBadTimestamp, "ts", "sub-second"},
		{"too old", "", `{"meter_id":"M1","ts":"2025-01-01T00:15:00Z","register_wh":1}`, CodeOutOfWindow, "ts", "lateness window"},
		{"future", "", `{"meter_id":"M1","ts":"2026-01-10T02:00:00Z","register_wh":1}`, CodeOutOfWindow, "ts", "future"},
		{"negative", "", `{"meter_id":"M1","ts":"2026-01-01T00:15:00Z","register_wh":-5}`, CodeNegative, "register_wh", "negative"},
		{"key mismatch", "M2", `{"meter_id":"M1","ts":"2026-01-01T00:15:00Z","register_wh":5}`, CodeKeyMismatch, "meter_id", "differs"},
		{"quality over 255", "", `{"meter_id":"M1","ts":"2026-01-01T00:15:00Z","register_wh":5,"quality":256}`, CodeWrongType, "quality", "0 to 255"},
		{"quality negative", "", `{"meter_id":"M1","ts":"2026-01-01T00:15:00Z","register_wh":5,"quality":-1}`, CodeWrongType, "quality", "0 to 255"},
		{"quality fraction", "", `{"meter_id":"M1","ts":"2026-01-01T00:15:00Z","register_wh":5,"quality":1.5}`, CodeWrongType, "quality", "0 to 255"},
		{"quality string", "", `{"meter_id":"M1","ts":"2026-01-01T00:15:00Z","register_wh":5,"quality":"1"}`, CodeWrongType, "quality", "got string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewJSONDecoder(testWindow())
			var cols Columns
			r, ok := d.Decode([]byte(tt.key), []byte(tt.value), testNow, &cols)
			if ok {
				t.Fatal("accepted, want a reject")
			}
			if cols.Len() != 0 {
				t.Fatalf("refused record left %d rows", cols.Len())
			}
			if r.Code != tt.code || r.Field != tt.field || !strings.Contains(r.Reason, tt.reason) || r.Row != -1 {
				t.Fatalf("got %+v, want code %s field %q reason containing %q", r, tt.code, tt.field, tt.reason)
			}
		})
	}
}

func TestParseTimestampOffsets(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2026-03-29T02:30:00+02:00": time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC),
		"2026-03-28T20:30:00-05:30": time.Date(2026, 3, 29, 2, 0, 0, 0, time.UTC),
		"2024-02-29T00:00:00z":      time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
	} {
		got, err := parseTimestamp([]byte(in))
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("parseTimestamp(%s) = %v, %v; want %v", in, got, err, want)
		}
		// time.Parse refuses the lower-case z that RFC 3339 allows; compare where it parses.
		if ref, err := time.Parse(time.RFC3339, in); err == nil && !ref.Equal(got) {
			t.Errorf("parseTimestamp(%s) disagrees with time.Parse: %v", in, ref)
		}
	}
	for _, in := range []string{"2023-02-29T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00+0100", "2026-01-01 00:00:00Z0", "2026-01-01T00:00:00.Z"} {
		if _, err := parseTimestamp([]byte(in)); err == nil {
			t.Errorf("parseTimestamp(%s) accepted", in)
		}
	}
}

func TestAppendJSONRoundTrip(t *testing.T) {
	for _, q := range []uint8{0, 1, 255} {
		r := schema.Reading{MeterID: "MTR-000042", TS: time.Date(2026, 1, 3, 4, 45, 0, 0, time.UTC), RegisterWh: 777, Quality: q}
		b := wire.AppendJSON(nil, r)
		d := NewJSONDecoder(testWindow())
		var cols Columns
		if rej, ok := d.Decode([]byte(r.MeterID), b, testNow, &cols); !ok {
			t.Fatalf("%s refused: %v", b, rej)
		}
		if got := (schema.Reading{MeterID: cols.MeterID[0], TS: cols.TS[0], RegisterWh: cols.RegisterWh[0], Quality: cols.Quality[0]}); got != r {
			t.Fatalf("round trip of %s: got %+v want %+v", b, got, r)
		}
	}
}

func TestColumnsReset(t *testing.T) {
	var c Columns
	for i := range 1000 {
		c.Append("M", testNow, int64(i), 0)
	}
	capBefore := cap(c.RegisterWh)
	c.Reset()
	if c.Len() != 0 || len(c.TS) != 0 || len(c.RegisterWh) != 0 || len(c.Quality) != 0 {
		t.Fatal("Reset left rows")
	}
	c.Append("N", testNow, 1, 0)
	if cap(c.RegisterWh) != capBefore || c.MeterID[0] != "N" {
		t.Fatal("Reset did not keep memory for reuse")
	}
}

func BenchmarkJSONDecode(b *testing.B) {
	const meters = 10000
	msgs := make([][]byte, meters)
	keys := make([][]byte, meters)
	for i := range msgs {
		r := schema.Reading{MeterID: fmt.Sprintf("MTR-%06d", i), TS: testNow.Add(-time.Hour), RegisterWh: int64(i) * 1000}
		msgs[i] = wire.AppendJSON(nil, r)
		keys[i] = []byte(r.MeterID)
	}
	for _, size := range []int{10000} {
		b.Run(fmt.Sprintf("rows=%d", size), func(b *testing.B) {
			d := NewJSONDecoder(testWindow())
			var cols Columns
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if cols.Len() == size {
					cols.Reset()
				}
				if _, ok := d.Decode(keys[i%meters], msgs[i%meters], testNow, &cols); !ok {
					b.Fatal("refused")
				}
			}
		})
	}
}
