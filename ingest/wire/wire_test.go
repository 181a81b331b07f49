package wire_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/schema"
)

func TestAppendJSON(t *testing.T) {
	ts := time.Date(2026, 1, 1, 1, 15, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		r    schema.Reading
		want string
	}{
		{schema.Reading{MeterID: "MTR-000001", TS: ts, RegisterWh: 1234567},
			`{"meter_id":"MTR-000001","ts":"2026-01-01T00:15:00Z","register_wh":1234567}`},
		{schema.Reading{MeterID: "M1", TS: ts, RegisterWh: 0, Quality: 255},
			`{"meter_id":"M1","ts":"2026-01-01T00:15:00Z","register_wh":0,"quality":255}`},
	}
	for _, tt := range tests {
		if got := string(wire.AppendJSON([]byte("x"), tt.r)); got != "x"+tt.want {
			t.Errorf("AppendJSON(%+v) = %s, want x%s", tt.r, got, tt.want)
		}
	}
}

func TestEncodingValidate(t *testing.T) {
	tests := []struct {
		name string
		e    wire.Encoding
		want string // empty: valid
	}{
		{"json", wire.Encoding{Format: wire.JSON, Partitions: 1}, ""},
		{"arrow", wire.Encoding{Format: wire.Arrow, ArrowBatch: 1, Partitions: 4}, ""},
		{"no format", wire.Encoding{Partitions: 1}, "unknown format"},
		{"arrow without batch", wire.Encoding{Format: wire.Arrow, Partitions: 1}, "ArrowBatch"},
		{"no partitions", wire.Encoding{Format: wire.JSON}, "Partitions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.e.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
			if _, nerr := wire.NewEncoder(tt.e); (nerr == nil) != (err == nil) {
				t.Fatalf("NewEncoder: %v, Validate: %v", nerr, err)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for _, f := range wire.Formats {
		if got, err := wire.ParseFormat(string(f)); err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %q, %v", f, got, err)
		}
	}
	if _, err := wire.ParseFormat("csv"); err == nil || !strings.Contains(err.Error(), "csv") {
		t.Errorf("ParseFormat(csv) = %v, want an error naming it", err)
	}
	if wire.JSON.ContentType() != wire.ContentTypeJSON || wire.Arrow.ContentType() != wire.ContentTypeArrow {
		t.Error("ContentType of the formats")
	}
}

// TestEncoderArrowBatch checks that an Arrow message holds at most ArrowBatch readings,
// that Flush emits what waits, and that messages carry the header and the time set.
func TestEncoderArrowBatch(t *testing.T) {
	e, err := wire.NewEncoder(wire.Encoding{Format: wire.Arrow, ArrowBatch: 4, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.SetTime(at)
	var c wire.Chunk
	for i := range 10 {
		if err := e.Add(&c, schema.Reading{MeterID: "M" + string(rune('A'+i)), TS: at, RegisterWh: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.Messages) != 2 || c.Readings != 8 {
		t.Fatalf("before Flush: %d messages of %d readings, want 2 of 8", len(c.Messages), c.Readings)
	}
	if err := e.Flush(&c); err != nil {
		t.Fatal(err)
	}
	if len(c.Messages) != 3 || c.Readings != 10 {
		t.Fatalf("after Flush: %d messages of %d readings, want 3 of 10", len(c.Messages), c.Readings)
	}
	for i, m := range c.Messages {
		if want := "M" + string(rune('A'+4*i)); string(m.Key) != want || !m.Time.Equal(at) ||
			len(m.Headers) != 1 || m.Headers[0].Key != wire.HeaderContentType || string(m.Headers[0].Value) != wire.ContentTypeArrow {
			t.Fatalf("message %d: key %q time %s headers %v", i, m.Key, m.Time, m.Headers)
		}
	}
	c.Reset()
	if len(c.Messages) != 0 || c.Readings != 0 {
		t.Fatal("Reset left messages")
	}
}

// fixed is a Source of n copies of one reading.
type fixed struct{ n int }

func (f *fixed) Next(r *schema.Reading) bool {
	if f.n == 0 {
		return false
	}
	f.n--
	*r = schema.Reading{MeterID: "M1", TS: time.Unix(1e9, 0).UTC(), RegisterWh: int64(f.n)}
	return true
}

type failing struct{ err error }

func (f failing) WriteMessages(context.Context, ...kafka.Message) error { return f.err }

func TestProducerErrors(t *testing.T) {
	json := wire.Encoding{Format: wire.JSON, Partitions: 1}
	ctx := context.Background()
	if _, err := (&wire.Producer{Writer: &collector{}, Encoding: json, Limit: 10}).Run(ctx, &fixed{n: 5}); err == nil || !strings.Contains(err.Error(), "ran out after 5 of 10") {
		t.Errorf("a source shorter than Limit: %v", err)
	}
	c := &collector{}
	if n, err := (&wire.Producer{Writer: c, Encoding: json, ChunkReadings: 2}).Run(ctx, &fixed{n: 5}); err != nil || n != 5 || len(c.msgs) != 5 || c.calls != 3 {
		t.Errorf("no Limit: produced %d in %d writes, %v; want all 5 in 3", n, c.calls, err)
	}
	boom := errors.New("boom")
	if _, err := (&wire.Producer{Writer: failing{boom}, Encoding: json, ChunkReadings: 2}).Run(ctx, &fixed{n: 50}); !errors.Is(err, boom) {
		t.Errorf("a failing writer: %v", err)
	}
	if _, err := (&wire.Producer{Writer: c, Encoding: wire.Encoding{Format: wire.Arrow, Partitions: 1}}).Run(ctx, &fixed{n: 1}); err == nil {
		t.Error("an invalid encoding was accepted")
	}
}
