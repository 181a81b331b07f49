package consumption

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// monthOfPoints returns a month of hourly points, validated (with quality and counts) or
// raw.
func monthOfPoints(validated bool) Consumption {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	c := Consumption{MeterID: "MTR-1000001", Step: Step1h, Source: SourceRaw, Unit: "Wh", Points: make([]Point, 720)}
	if validated {
		c.Source = SourceValidated
	}
	for i := range c.Points {
		p := &c.Points[i]
		p.Start, p.Wh = start.Add(time.Duration(i)*time.Hour), int64(i*37-500)
		if validated {
			q, est, ed, quest, comp := uint8(i%17), uint32(i%5), uint32(i%3), uint32(i%2), float64(i%4)/4
			p.Quality, p.Estimated, p.Edited, p.Questionable, p.Completeness = &q, &est, &ed, &quest, &comp
		}
	}
	return c
}

// TestAppendJSONMatchesEncoding checks that the consumption encoder writes exactly what
// encoding/json writes, for raw and validated points, calendar zones, odd ids and the
// floats encoding/json writes in exponent form.
func TestAppendJSONMatchesEncoding(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	f := func(v float64) *float64 { return &v }
	u8 := func(v uint8) *uint8 { return &v }
	u32 := func(v uint32) *uint32 { return &v }
	tests := []struct {
		name string
		c    Consumption
	}{
		{"raw month", monthOfPoints(false)},
		{"validated month", monthOfPoints(true)},
		{"no points (nil)", Consumption{MeterID: "m", Step: Step15m, Unit: "Wh"}},
		{"no points (empty)", Consumption{MeterID: "m", Step: Step15m, Unit: "Wh", Source: SourceValidated, Points: []Point{}}},
		{"calendar days in a zone", Consumption{MeterID: "a<b>&\"c\"", Step: Step1d, TZ: "Europe/Berlin", Unit: "Wh", Points: []Point{
			{Start: time.Date(2026, 3, 29, 0, 0, 0, 0, berlin), Wh: math.MinInt64},
			{Start: time.Date(2026, 3, 30, 0, 0, 0, 123, berlin), Wh: math.MaxInt64},
		}}},
		{"floats", Consumption{MeterID: "m", Step: Step1h, Unit: "Wh", Points: []Point{
			{Completeness: f(0)}, {Completeness: f(1)}, {Completeness: f(1.0 / 3)}, {Completeness: f(1e-7)},
			{Completeness: f(0.000001)}, {Completeness: f(1e21)}, {Completeness: f(123456789e15)}, {Completeness: f(-2.5e-9)},
			{Quality: u8(255), Estimated: u32(math.MaxUint32), Edited: u32(0), Questionable: u32(7)},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want bytes.Buffer
			if err := json.NewEncoder(&want).Encode(tt.c); err != nil {
				t.Fatal(err)
			}
			got := append(tt.c.AppendJSON(nil), '\n')
			if !bytes.Equal(got, want.Bytes()) {
				t.Errorf("AppendJSON:\n%s\nencoding/json:\n%s", got, want.Bytes())
			}
		})
	}
}

// TestAppendJSONAllocatesNothing holds the encoder to no allocation at all once its buffer
// is large enough: nothing per point, nothing per answer.
func TestAppendJSONAllocatesNothing(t *testing.T) {
	for _, validated := range []bool{false, true} {
		c := monthOfPoints(validated)
		buf := c.AppendJSON(nil)
		if n := testing.AllocsPerRun(20, func() { buf = c.AppendJSON(buf[:0]) }); n != 0 {
			t.Errorf("validated=%v: %v allocations per answer of %d points, want 0", validated, n, len(c.Points))
		}
	}
}

// BenchmarkAppendJSON encodes a month of hourly points into a reused buffer, as the
// handler does, against encoding/json.
func BenchmarkAppendJSON(b *testing.B) {
	for _, validated := range []bool{false, true} {
		c := monthOfPoints(validated)
		name := map[bool]string{false: "raw", true: "validated"}[validated]
		b.Run(name+"/AppendJSON", func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf = c.AppendJSON(buf[:0])
			}
			b.SetBytes(int64(len(buf)))
		})
		b.Run(name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				if err := json.NewEncoder(&buf).Encode(c); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(buf.Len()))
		})
	}
}
