package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
)

func TestNewResult(t *testing.T) {
	tests := []struct {
		name                  string
		m                     measurement
		wantRate, wantCPUPerM float64
		wantServices          map[string]float64
	}{
		{
			name:        "two million in two seconds",
			m:           measurement{Readings: 2_000_000, Elapsed: 2 * time.Second, CPU: 3 * time.Second, PeakRSS: 1 << 20},
			wantRate:    1_000_000,
			wantCPUPerM: 1.5,
		},
		{
			name:         "services per million",
			m:            measurement{Readings: 500_000, Elapsed: time.Second, Services: map[string]time.Duration{"clickhouse": time.Second, "kafka": 250 * time.Millisecond}},
			wantRate:     500_000,
			wantServices: map[string]float64{"clickhouse": 2, "kafka": 0.5},
		},
		{
			name: "nothing measured divides by nothing",
			m:    measurement{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newResult("json", "p", tt.m)
			if !near(r.ReadingsPerSecond, tt.wantRate) || !near(r.CPUSecondsPerMillion, tt.wantCPUPerM) {
				t.Errorf("rate %v, CPU/M %v; want %v, %v", r.ReadingsPerSecond, r.CPUSecondsPerMillion, tt.wantRate, tt.wantCPUPerM)
			}
			if len(r.ServiceCPUSecondsPerMillion) != len(tt.wantServices) {
				t.Fatalf("services %v, want %v", r.ServiceCPUSecondsPerMillion, tt.wantServices)
			}
			for k, v := range tt.wantServices {
				if !near(r.ServiceCPUSecondsPerMillion[k], v) {
					t.Errorf("service %s: %v, want %v", k, r.ServiceCPUSecondsPerMillion[k], v)
				}
			}
			if r.PeakRSSBytes != tt.m.PeakRSS {
				t.Errorf("peak %d, want %d", r.PeakRSSBytes, tt.m.PeakRSS)
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestReportAdd(t *testing.T) {
	ceiling := result{Name: ceilingName, ReadingsPerSecond: 2_000_000}
	ceiling2 := result{Name: ceilingName + "-2", ReadingsPerSecond: 4_000_000}
	tests := []struct {
		name                string
		before              []result
		add                 result
		wantRatio, wantBest float64
		wantTarget          float64
		wantMet             bool
	}{
		{name: "ceiling is 1", add: ceiling, wantRatio: 1, wantBest: 1},
		{name: "two clients beat one", before: []result{ceiling}, add: ceiling2, wantRatio: 2, wantBest: 1},
		{name: "arrow meets 0.6", before: []result{ceiling}, add: result{Name: "arrow", ReadingsPerSecond: 1_300_000},
			wantRatio: 0.65, wantBest: 0.65, wantTarget: 0.6, wantMet: true},
		{name: "arrow exactly at target", before: []result{ceiling}, add: result{Name: "arrow", ReadingsPerSecond: 1_200_000},
			wantRatio: 0.6, wantBest: 0.6, wantTarget: 0.6, wantMet: true},
		{name: "the target is judged on the best ceiling", before: []result{ceiling, ceiling2}, add: result{Name: "arrow", ReadingsPerSecond: 2_000_000},
			wantRatio: 1, wantBest: 0.5, wantTarget: 0.6},
		{name: "json misses 0.6", before: []result{ceiling}, add: result{Name: "json", ReadingsPerSecond: 500_000},
			wantRatio: 0.25, wantBest: 0.25, wantTarget: 0.6},
		{name: "no ceiling, no ratio, no verdict", add: result{Name: "json", ReadingsPerSecond: 500_000}},
		{name: "a ceiling of zero is no ceiling", before: []result{{Name: ceilingName}}, add: result{Name: "json", ReadingsPerSecond: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := &report{Results: tt.before}
			rp.add(tt.add)
			got := rp.Results[len(rp.Results)-1]
			if !near(got.RatioToCeiling, tt.wantRatio) || !near(got.RatioToBestCeiling, tt.wantBest) || got.Target != tt.wantTarget || got.TargetMet != tt.wantMet {
				t.Errorf("ratio %v best %v target %v met %v; want %v %v %v %v", got.RatioToCeiling, got.RatioToBestCeiling, got.Target, got.TargetMet,
					tt.wantRatio, tt.wantBest, tt.wantTarget, tt.wantMet)
			}
		})
	}
}

func sampleReport() *report {
	rp := &report{
		Readings: 20_000_000, Meters: 100_000, Partitions: 4, Consumers: 2, BatchRows: 250_000, ArrowBatch: 10_000,
		CPUs: 2, GoVersion: "go1.26.0", ClickHouse: "18.16.1", Started: time.Date(2026, 11, 24, 7, 45, 0, 0, time.UTC),
	}
	rp.add(newResult(ceilingName, "clickhouse-client", measurement{Readings: 20_000_000, Elapsed: 10 * time.Second,
		CPU: 2 * time.Second, PeakRSS: 200 << 20, Services: map[string]time.Duration{"clickhouse": 9 * time.Second}}))
	rp.add(newResult("json", "bench", measurement{Readings: 20_000_000, Elapsed: 40 * time.Second, FirstRow: 1500 * time.Millisecond,
		CPU: 40 * time.Second, PeakRSS: 150 << 20, Services: map[string]time.Duration{"clickhouse": 30 * time.Second, "kafka": 4 * time.Second}}))
	return rp
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().writeTable(&buf); err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, "testdata/report.txt", buf.String())
}

func TestWriteJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().writeJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("the JSON report does not parse: %v\n%s", err, buf.String())
	}
	if len(back.Results) != 2 || back.Results[1].Name != "json" || !near(back.Results[1].RatioToCeiling, 0.25) {
		t.Errorf("round trip: %+v", back.Results)
	}
	for _, key := range []string{`"readings_per_second": 500000`, `"cpu_seconds_per_million": 2`, `"peak_rss_bytes": 157286400`,
		`"ratio_to_ceiling": 0.25`, `"target": 0.6`, `"service_cpu_seconds_per_million"`} {
		if !strings.Contains(buf.String(), key) {
			t.Errorf("JSON lacks %s:\n%s", key, buf.String())
		}
	}
}

func TestThousands(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {999, "999"}, {1000, "1 000"}, {1234567.4, "1 234 567"}, {999999.6, "1 000 000"}, {-12345, "-12 345"},
	}
	for _, tt := range tests {
		if got := thousands(tt.in); got != tt.want {
			t.Errorf("thousands(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
