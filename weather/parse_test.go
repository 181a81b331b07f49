package weather

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/fault"
)

const header = "region,valid_time,issued_at,kind,source,temperature_c\n"

// TestParseErrorsNameLineAndColumn checks that every refusal of the weather CSV format is
// a FieldError naming the column and the line.
func TestParseErrorsNameLineAndColumn(t *testing.T) {
	ok := "VIC,2026-01-07T00:00:00Z,2026-01-06T06:00:00Z,forecast,bom,20\n"
	for _, tc := range []struct {
		name, body, field, where string
	}{
		{"empty", "", "header", "empty"},
		{"missing column", "region,valid_time,kind,source\n", "temperature_c", "line 1"},
		{"column twice", "region,region\n", "region", "line 1"},
		{"non-numeric", header + ok + "VIC,2026-01-07T01:00:00Z,2026-01-06T06:00:00Z,forecast,bom,warm\n", "temperature_c", "line 3"},
		{"NaN", header + "VIC,2026-01-07T01:00:00Z,2026-01-06T06:00:00Z,forecast,bom,NaN\n", "temperature_c", "line 2"},
		{"infinite", header + "VIC,2026-01-07T01:00:00Z,,observed,bom,+Inf\n", "temperature_c", "line 2"},
		{"implausible", header + "VIC,2026-01-07T01:00:00Z,,observed,bom,290.15\n", "temperature_c", "line 2"},
		{"empty temperature", header + "VIC,2026-01-07T01:00:00Z,,observed,bom,\n", "temperature_c", "line 2"},
		{"bad time", header + "VIC,2026-01-07 01:00,,observed,bom,20\n", "valid_time", "line 2"},
		{"time out of range", header + "VIC,2200-01-07T01:00:00Z,,observed,bom,20\n", "valid_time", "line 2"},
		{"not on the hour", header + "VIC,2026-01-07T01:30:00Z,,observed,bom,20\n", "valid_time", "line 2"},
		{"forecast without issue", header + "VIC,2026-01-07T01:00:00Z,,forecast,bom,20\n", "issued_at", "line 2"},
		{"bad issue", header + "VIC,2026-01-07T01:00:00Z,yesterday,forecast,bom,20\n", "issued_at", "line 2"},
		{"observation with an issue", header + "VIC,2026-01-07T01:00:00Z,2026-01-06T06:00:00Z,observed,bom,20\n", "issued_at", "line 2"},
		{"forecast of the past", header + "VIC,2026-01-05T01:00:00Z,2026-01-06T06:00:00Z,forecast,bom,20\n", "valid_time", "line 2"},
		{"bad kind", header + "VIC,2026-01-07T01:00:00Z,,measured,bom,20\n", "kind", "line 2"},
		{"bad region", header + ",2026-01-07T01:00:00Z,,observed,bom,20\n", "region", "line 2"},
		{"bad source", header + "VIC,2026-01-07T01:00:00Z,,observed,b o m,20\n", "source", "line 2"},
		{"short row", header + "VIC,2026-01-07T01:00:00Z,,observed\n", "source", "line 2"},
		{"duplicate", header + ok + "# again\n" + ok, "valid_time", "line 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCSV(strings.NewReader(tc.body))
			var fe *fault.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a FieldError", err)
			}
			if fe.Field != tc.field || !strings.Contains(fe.Message, tc.where) {
				t.Errorf("error %q (field %q), want field %q and a message naming %q", fe.Message, fe.Field, tc.field, tc.where)
			}
		})
	}
}

// TestParseKeepsKindsApart checks that an observation and a forecast of the same hour, and
// two issues of one forecast, are distinct values, and that an observation's issue time
// is its valid time; a file of observations alone may leave out issued_at.
func TestParseKeepsKindsApart(t *testing.T) {
	vs, err := ParseCSV(strings.NewReader(header +
		"VIC,2026-01-07T00:00:00Z,2026-01-05T06:00:00Z,forecast,bom,20\n" +
		"VIC,2026-01-07T00:00:00Z,2026-01-06T06:00:00Z,forecast,bom,21\n" +
		"VIC,2026-01-07T00:00:00+11:00,,observed,bom,-2.5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 || vs[2].Kind != Observed || !vs[2].IssuedAt.Equal(vs[2].ValidTime) ||
		vs[2].ValidTime.Format("2006-01-02T15") != "2026-01-06T13" || vs[2].TemperatureC != -2.5 {
		t.Errorf("values %+v", vs)
	}
	obs, err := ParseCSV(strings.NewReader("temperature_c,region,valid_time,kind,source\n18,VIC,2026-01-07T00:00:00Z,observed,bom\n"))
	if err != nil || len(obs) != 1 || obs[0].TemperatureC != 18 {
		t.Errorf("observations without issued_at: %+v, %v", obs, err)
	}
}

// TestSeriesGaps checks that Missing lists the hours without a value and that Hourly
// refuses a series with a gap rather than filling it.
func TestSeriesGaps(t *testing.T) {
	h := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	s := Series{{Region: "VIC", ValidTime: h("2026-01-07T00:00:00Z"), TemperatureC: 20},
		{Region: "VIC", ValidTime: h("2026-01-07T02:00:00Z"), TemperatureC: 22}}
	if m := s.Missing(h("2026-01-07T00:00:00Z"), h("2026-01-07T03:00:00Z")); len(m) != 1 || !m[0].Equal(h("2026-01-07T01:00:00Z")) {
		t.Errorf("Missing = %v, want [01:00]", m)
	}
	if _, err := s.Hourly(h("2026-01-07T00:00:00Z"), h("2026-01-07T03:00:00Z")); !errors.Is(err, fault.ErrNotFound) || !strings.Contains(err.Error(), "2026-01-07T01:00:00Z") {
		t.Errorf("Hourly over a gap: %v", err)
	}
	got, err := s.Hourly(h("2026-01-07T02:00:00Z"), h("2026-01-07T03:00:00Z"))
	if err != nil || len(got) != 1 || got[0] != 22 {
		t.Errorf("Hourly = %v, %v; want [22]", got, err)
	}
}
