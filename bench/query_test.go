package main

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
)

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name string
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{name: "empty", p: 99},
		{name: "one value", ds: ms(7), p: 50, want: 7 * time.Millisecond},
		{name: "median of four is the second", ds: ms(4, 1, 3, 2), p: 50, want: 2 * time.Millisecond},
		{name: "p99 of 100 is the 99th", ds: seq(100), p: 99, want: 99 * time.Millisecond},
		{name: "p99 of 101 is the 100th", ds: seq(101), p: 99, want: 100 * time.Millisecond},
		{name: "p100 is the maximum", ds: ms(5, 9, 1), p: 100, want: 9 * time.Millisecond},
		{name: "p0 is the minimum", ds: ms(5, 9, 1), p: 0, want: time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.ds, tt.p); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

// seq returns 1 ms, 2 ms, … n ms in reverse order.
func seq(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(n-i) * time.Millisecond
	}
	return out
}

func TestNewQueryResult(t *testing.T) {
	target := queryTarget{P99: 10 * time.Millisecond, QPS: 400}
	tests := []struct {
		name       string
		clients    int
		lat        []time.Duration
		elapsed    time.Duration
		wantQPS    float64
		wantTarget string
		wantMet    bool
	}{
		{name: "one client within p99", clients: 1, lat: seq(10), elapsed: time.Second, wantQPS: 10, wantTarget: "p99 <= 10ms", wantMet: true},
		{name: "one client beyond p99", clients: 1, lat: seq(11), elapsed: time.Second, wantQPS: 11, wantTarget: "p99 <= 10ms"},
		{name: "sixteen clients fast enough", clients: 16, lat: make([]time.Duration, 4000), elapsed: 10 * time.Second, wantQPS: 400, wantTarget: ">= 400 q/s", wantMet: true},
		{name: "sixteen clients too slow", clients: 16, lat: make([]time.Duration, 3999), elapsed: 10 * time.Second, wantQPS: 399.9, wantTarget: ">= 400 q/s"},
		{name: "other client counts have no target", clients: 4, lat: seq(3), elapsed: time.Second, wantQPS: 3},
		{name: "no requests miss the p99", clients: 1, elapsed: time.Second, wantTarget: "p99 <= 10ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newQueryResult("s", tt.clients, tt.lat, tt.elapsed, target)
			if !near(r.QPS, tt.wantQPS) || r.Target != tt.wantTarget || r.TargetMet != tt.wantMet {
				t.Errorf("q/s %v target %q met %v; want %v %q %v", r.QPS, r.Target, r.TargetMet, tt.wantQPS, tt.wantTarget, tt.wantMet)
			}
		})
	}
}

func TestLoadSQL(t *testing.T) {
	from := time.Date(2026, 10, 25, 0, 15, 0, 0, time.UTC)
	got := loadSQL("bench_x_query", 2880, 5760, 2880, from, 15*time.Minute)
	testenv.Golden(t, "testdata/load.sql", got+"\n")
}

func TestWriteQueryTable(t *testing.T) {
	rp := &queryReport{Database: "bench_x_query", Readings: 100_000_000, Meters: 34_000, CPUs: 2, LoadSeconds: 120}
	target := queryTarget{P99: 10 * time.Millisecond, QPS: 400}
	rp.Results = append(rp.Results,
		newQueryResult("meter-month-1h", 1, ms(2, 3, 4, 12), 2*time.Second, target),
		newQueryResult("meter-month-1h", 16, make([]time.Duration, 5000), 10*time.Second, target))
	var b strings.Builder
	if err := rp.writeTable(&b); err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, "testdata/query_report.txt", b.String())
}

func TestParseQueryFlags(t *testing.T) {
	// Flag parsing validates the ClickHouse settings, password file included: give the
	// password itself, so that the test needs no local services.
	t.Setenv("MH_CLICKHOUSE_PASSWORD", "unit-test")
	t.Setenv("MH_CLICKHOUSE_PASSWORD_FILE", "")
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "defaults"},
		{name: "existing database needs no readings", args: []string{"--database", "bench_x_query", "--readings", "0"}},
		{name: "too few readings for a month", args: []string{"--readings", "1000000"}, wantErr: "--readings"},
		{name: "bad clients", args: []string{"--clients", "1,x"}, wantErr: "--clients"},
		{name: "zero clients", args: []string{"--clients", "0"}, wantErr: "--clients"},
		{name: "interval not dividing an hour", args: []string{"--interval", "7m"}, wantErr: "--interval"},
		{name: "bad database name", args: []string{"--database", "x;drop"}, wantErr: "clickhouse.database"},
		{name: "no duration", args: []string{"--duration", "0s"}, wantErr: "--duration"},
		{name: "too many group days", args: []string{"--group-days", "32"}, wantErr: "--group-days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseQueryFlags(tt.args, io.Discard)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.ClickHouse.MaxOpenConns < 16 {
					t.Errorf("pool of %d connections for up to 16 clients", c.ClickHouse.MaxOpenConns)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestMeterID(t *testing.T) {
	for i, want := range map[int]string{0: "MTR-1000000", 33_999: "MTR-1033999"} {
		if got := meterID(i); got != want {
			t.Errorf("meterID(%d) = %s, want %s", i, got, want)
		}
	}
	if got := fmt.Sprint(len(meterID(999_999))); got != "11" {
		t.Errorf("ids grow to %s characters", got)
	}
}

func TestRegistry(t *testing.T) {
	ms := registry(801, time.Date(2026, 11, 24, 7, 0, 0, 500, time.UTC))
	if len(ms) != 801 {
		t.Fatalf("%d meters", len(ms))
	}
	for _, tt := range []struct {
		i      int
		feeder string
	}{{0, "FDR-0001"}, {399, "FDR-0001"}, {400, "FDR-0002"}, {800, "FDR-0003"}} {
		if m := ms[tt.i]; m.MeterID != meterID(tt.i) || m.Feeder != tt.feeder || m.Region != "REG-01" || m.UpdatedAt.Nanosecond() != 0 {
			t.Errorf("meter %d: %+v, want feeder %s", tt.i, m, tt.feeder)
		}
	}
}

func TestGroupDaysStart(t *testing.T) {
	to := time.Date(2026, 11, 24, 6, 30, 0, 0, time.UTC)
	if got, want := groupDaysStart(to, 2), time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("groupDaysStart = %s, want %s", got, want)
	}
}
