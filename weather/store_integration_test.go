package weather

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// twoForecasts is Monday's and Tuesday's forecasts for Wednesday 2026-01-07 00:00..02:00
// and Wednesday's observations, in region VIC; Tuesday's covers only two of the hours, and
// another region's forecast is issued later still.
const twoForecasts = `region,valid_time,issued_at,kind,source,temperature_c
VIC,2026-01-07T00:00:00Z,2026-01-05T06:00:00Z,forecast,bom,20
VIC,2026-01-07T01:00:00Z,2026-01-05T06:00:00Z,forecast,bom,21
VIC,2026-01-07T02:00:00Z,2026-01-05T06:00:00Z,forecast,bom,22
VIC,2026-01-07T00:00:00Z,2026-01-06T06:00:00Z,forecast,bom,25
VIC,2026-01-07T01:00:00Z,2026-01-06T06:00:00Z,forecast,bom,26
VIC,2026-01-07T00:00:00Z,,observed,bom,30
VIC,2026-01-07T01:00:00Z,,observed,bom,31
VIC,2026-01-07T02:00:00Z,,observed,bom,32
NSW,2026-01-07T00:00:00Z,2026-01-06T12:00:00Z,forecast,bom,44
`

func temps(s Series) []float64 {
	out := []float64{}
	for _, v := range s {
		out = append(out, v.TemperatureC)
	}
	return out
}

// TestForecastIssuedAtOrBefore loads two forecasts issued at different times and an
// observation, and asks at various times: each hour gets the forecast issued last at or
// before the time asked, never the observation; observations come only from Observed.
func TestForecastIssuedAtOrBefore(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	s, err := NewStore(conn)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := ParseCSV(strings.NewReader(twoForecasts))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, vs); err != nil {
		t.Fatal(err)
	}
	// A reload of Monday's issue with a new value replaces, never duplicates.
	again, err := ParseCSV(strings.NewReader("region,valid_time,issued_at,kind,source,temperature_c\nVIC,2026-01-07T02:00:00Z,2026-01-05T06:00:00Z,forecast,bom,23\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, again); err != nil {
		t.Fatal(err)
	}
	q := Query{Region: "VIC", From: at("2026-01-07T00:00:00Z"), To: at("2026-01-07T03:00:00Z")}
	for _, tc := range []struct {
		name     string
		issuedBy string
		want     []float64
		issued   []string
	}{
		{"before any issue", "2026-01-05T05:59:59Z", []float64{}, nil},
		{"at Monday's issue", "2026-01-05T06:00:00Z", []float64{20, 21, 23}, []string{"2026-01-05T06:00:00Z", "2026-01-05T06:00:00Z", "2026-01-05T06:00:00Z"}},
		{"between the issues", "2026-01-06T05:00:00Z", []float64{20, 21, 23}, nil},
		{"at Tuesday's issue", "2026-01-06T06:00:00Z", []float64{25, 26, 23}, []string{"2026-01-06T06:00:00Z", "2026-01-06T06:00:00Z", "2026-01-05T06:00:00Z"}},
		{"after the hours, observations loaded", "2026-01-08T00:00:00Z", []float64{25, 26, 23}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Forecast(ctx, q, at(tc.issuedBy))
			if err != nil {
				t.Fatal(err)
			}
			if testenv.JSONText(temps(got)) != testenv.JSONText(tc.want) {
				t.Errorf("Forecast issued by %s = %v, want %v", tc.issuedBy, temps(got), tc.want)
			}
			for i, want := range tc.issued {
				if i < len(got) && (!got[i].IssuedAt.Equal(at(want)) || got[i].Kind != Forecast || got[i].Source != "bom") {
					t.Errorf("hour %d: %+v, want issued %s by bom", i, got[i], want)
				}
			}
		})
	}
	obs, err := s.Observed(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if testenv.JSONText(temps(obs)) != testenv.JSONText([]float64{30, 31, 32}) || obs[0].Kind != Observed {
		t.Errorf("Observed = %+v", obs)
	}
	if m := obs.Missing(q.From, at("2026-01-07T05:00:00Z")); len(m) != 2 || !m[0].Equal(at("2026-01-07T03:00:00Z")) {
		t.Errorf("Missing = %v, want 03:00 and 04:00", m)
	}
	other, err := s.Forecast(ctx, Query{Region: "VIC", Source: "ecmwf", From: q.From, To: q.To}, at("2026-01-08T00:00:00Z"))
	if err != nil || len(other) != 0 {
		t.Errorf("source ecmwf: %v, %v; want none", other, err)
	}
	// Two sources issued at the same time: the greater source name wins unless one is asked for.
	tie, err := ParseCSV(strings.NewReader("region,valid_time,issued_at,kind,source,temperature_c\n" +
		"SA,2026-01-07T00:00:00Z,2026-01-06T06:00:00Z,forecast,aaa,1\nSA,2026-01-07T00:00:00Z,2026-01-06T06:00:00Z,forecast,zzz,2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, tie); err != nil {
		t.Fatal(err)
	}
	for source, want := range map[string]float64{"": 2, "aaa": 1, "zzz": 2} {
		got, err := s.Forecast(ctx, Query{Region: "SA", Source: source, From: q.From, To: q.To}, at("2026-01-07T00:00:00Z"))
		if err != nil || len(got) != 1 || got[0].TemperatureC != want {
			t.Errorf("SA source %q: %+v %v, want %v", source, got, err, want)
		}
	}
	if _, err := s.Forecast(ctx, Query{Region: "SA", From: q.To, To: q.From}, q.To); err == nil {
		t.Error("Forecast accepted a range ending before it starts")
	}
}
