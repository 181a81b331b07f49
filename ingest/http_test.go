package ingest

import (
	"strings"
	"testing"
)

func TestParseKWh(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  string
	}{
		{"1234.567", 1_234_567, ""},
		{"0.001", 1, ""},
		{"0", 0, ""},
		{"12", 12_000, ""},
		{"12.5", 12_500, ""},
		{"12.50", 12_500, ""},
		{"0.1", 100, ""},           // 0.1 is not exact in binary floating point; here it is
		{"1.005", 1_005, ""},       // rounds wrongly through float64 (1004.9999…)
		{"4.35", 4_350, ""},        // likewise: 4.35*1000 = 4349.999…
		{"12.3450000", 12_345, ""}, // trailing zeros are not precision
		{"007.5", 7_500, ""},
		{"-2.5", -2_500, ""}, // the shared checks refuse it as a negative register
		{"9223372036854775.807", 9_223_372_036_854_775_807, ""},
		{"9223372036854775.808", 0, "too large"},
		{"9223372036854776", 0, "too large"},
		{"99999999999999999999", 0, "too large"},
		{"1.0005", 0, "finer than 1 Wh"},
		{"", 0, "decimal"},
		{".5", 0, "decimal"},
		{"5.", 0, "decimal"},
		{"1,5", 0, "decimal"},
		{"1e3", 0, "decimal"},
		{"+1", 0, "decimal"},
		{" 1", 0, "decimal"},
		{"1.2.3", 0, "decimal"},
		{"--1", 0, "decimal"},
		{"NaN", 0, "decimal"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseKWh(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %d, %v; want an error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestHTTPConfigValidate(t *testing.T) {
	if err := DefaultHTTPConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*HTTPConfig)
		key  string
	}{
		{"body", func(c *HTTPConfig) { c.MaxBodyBytes = 0 }, "http_ingest.max_body_bytes"},
		{"readings", func(c *HTTPConfig) { c.MaxReadings = -1 }, "http_ingest.max_readings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultHTTPConfig()
			tt.edit(&c)
			if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tt.key+":") {
				t.Fatalf("got %v, want an error naming %s", err, tt.key)
			}
			if _, err := NewHTTPHandler(c, testWindow(), 1, nil); err == nil {
				t.Fatal("NewHTTPHandler accepted an invalid config")
			}
		})
	}
}
