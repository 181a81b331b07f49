package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/sim"
)

func TestSimSpan(t *testing.T) {
	now := time.Date(2026, 11, 24, 7, 52, 13, 0, time.UTC)
	tests := []struct {
		name     string
		readings int64
		meters   int
		interval time.Duration
		wantFrom time.Time
		wantTo   time.Time
	}{
		{name: "one interval takes two", readings: 10, meters: 10, interval: 15 * time.Minute,
			wantFrom: time.Date(2026, 11, 24, 7, 15, 0, 0, time.UTC), wantTo: time.Date(2026, 11, 24, 7, 30, 0, 0, time.UTC)},
		{name: "20M of 100k meters is 200 intervals", readings: 20_000_000, meters: 100_000, interval: 15 * time.Minute,
			wantFrom: time.Date(2026, 11, 22, 5, 45, 0, 0, time.UTC), wantTo: time.Date(2026, 11, 24, 7, 30, 0, 0, time.UTC)},
		{name: "a partial interval rounds up", readings: 11, meters: 10, interval: time.Hour,
			wantFrom: time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC), wantTo: time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to := simSpan(tt.readings, tt.meters, tt.interval, now)
			if !from.Equal(tt.wantFrom) || !to.Equal(tt.wantTo) {
				t.Errorf("span %s – %s, want %s – %s", from, to, tt.wantFrom, tt.wantTo)
			}
			f, err := sim.New(sim.Config{Meters: tt.meters, From: from, To: to, Interval: tt.interval, IDPrefix: "M-", TimeZone: "UTC"})
			if err != nil {
				t.Fatal(err)
			}
			if f.Total() < tt.readings || f.Total()-tt.readings >= 2*int64(tt.meters) {
				t.Errorf("the fleet yields %d readings for %d wanted", f.Total(), tt.readings)
			}
		})
	}
}

func TestProfilePath(t *testing.T) {
	tests := []struct{ path, format, want string }{
		{"cpu.prof", "json", "cpu.json.prof"},
		{"/tmp/x/cpu.pprof", "arrow", "/tmp/x/cpu.arrow.pprof"},
		{"profile", "json", "profile.json"},
	}
	for _, tt := range tests {
		if got := profilePath(tt.path, tt.format); got != tt.want {
			t.Errorf("profilePath(%q, %q) = %q, want %q", tt.path, tt.format, got, tt.want)
		}
	}
}

func TestParseIngestFlags(t *testing.T) {
	// Flag parsing validates the ClickHouse settings, password file included: give the
	// password itself, so that the test needs no local services.
	t.Setenv("MH_CLICKHOUSE_PASSWORD", "unit-test")
	t.Setenv("MH_CLICKHOUSE_PASSWORD_FILE", "")
	tests := []struct {
		name    string
		args    []string
		wantErr string // a substring naming the flag; empty for success
		check   func(t *testing.T, c ingestConfig)
	}{
		{name: "defaults", check: func(t *testing.T, c ingestConfig) {
			if len(c.Formats) != 2 || !c.Ceiling || c.Ingest.Consumers < 1 || c.ClickHouse.MaxOpenConns < c.Ingest.Consumers {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{name: "issue command", args: []string{"--readings", "20000000", "--meters", "100000", "--format", "arrow", "--json"},
			check: func(t *testing.T, c ingestConfig) {
				if c.Readings != 20_000_000 || c.Meters != 100_000 || len(c.Formats) != 1 || c.Formats[0] != "arrow" || !c.JSON {
					t.Errorf("parsed %+v", c)
				}
			}},
		{name: "tuning flags reach the ingest config", args: []string{"--consumers", "3", "--batch-rows", "5000", "--partitions", "6", "--no-ceiling"},
			check: func(t *testing.T, c ingestConfig) {
				if c.Ingest.Consumers != 3 || c.Ingest.BatchRows != 5000 || c.Ingest.Partitions != 6 || c.Ceiling {
					t.Errorf("parsed %+v", c)
				}
			}},
		{name: "ceilings of one and two clients", args: []string{"--ceiling-clients", "1,2"}, check: func(t *testing.T, c ingestConfig) {
			if len(c.CeilingClients) != 2 || c.CeilingClients[1] != 2 {
				t.Errorf("parsed %+v", c.CeilingClients)
			}
		}},
		{name: "the reference ceiling comes first", args: []string{"--ceiling-clients", "2"}, wantErr: "--ceiling-clients"},
		{name: "ceiling clients not a number", args: []string{"--ceiling-clients", "1,x"}, wantErr: "--ceiling-clients"},
		{name: "zero readings", args: []string{"--readings", "0"}, wantErr: "--readings"},
		{name: "too many meters", args: []string{"--meters", "1000000"}, wantErr: "--meters"},
		{name: "unknown format", args: []string{"--format", "json,csv"}, wantErr: "--format"},
		{name: "format twice", args: []string{"--format", "json,json"}, wantErr: "--format"},
		{name: "no format and no ceiling", args: []string{"--format", " , ", "--no-ceiling"}, wantErr: "--format"},
		{name: "the ceiling alone", args: []string{"--format", ""}, check: func(t *testing.T, c ingestConfig) {
			if len(c.Formats) != 0 || !c.Ceiling {
				t.Errorf("parsed %+v", c)
			}
		}},
		{name: "odd interval", args: []string{"--interval", "90s"}, wantErr: "--interval"},
		{name: "bad ingest setting", args: []string{"--consumers", "0"}, wantErr: "ingest.consumers"},
		{name: "bad address", args: []string{"--clickhouse", "nowhere"}, wantErr: "clickhouse.addr"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseIngestFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}
