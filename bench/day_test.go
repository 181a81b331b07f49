package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
)

func TestParseDayFlags(t *testing.T) {
	t.Setenv("MH_CLICKHOUSE_PASSWORD", "unit-test") // no local services needed
	t.Setenv("MH_CLICKHOUSE_PASSWORD_FILE", "")
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, c dayConfig)
	}{
		{name: "defaults", check: func(t *testing.T, c dayConfig) {
			if c.Meters != 100_000 || c.HistoryDays != 28 || c.Format != "arrow" || c.SetupStatements != 2 || c.Bench.Ingest.Consumers < 1 || c.Bench.Timeout <= 0 {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{name: "issue command", args: []string{"--meters", "1000000", "--format", "json", "--days-history", "28", "--keep", "--json"},
			check: func(t *testing.T, c dayConfig) {
				if c.Meters != 1_000_000 || c.Format != "json" || !c.Bench.Keep || !c.Bench.JSON {
					t.Errorf("parsed %+v", c)
				}
			}},
		{name: "shared ingest flags", args: []string{"--consumers", "3", "--partitions", "6"}, check: func(t *testing.T, c dayConfig) {
			if c.Bench.Ingest.Consumers != 3 || c.Bench.Ingest.Partitions != 6 || c.Bench.ClickHouse.MaxOpenConns != 5 {
				t.Errorf("parsed %+v", c.Bench)
			}
		}},
		{name: "no meters", args: []string{"--meters", "0"}, wantErr: "--meters"},
		{name: "no history", args: []string{"--days-history", "0"}, wantErr: "--days-history"},
		{name: "too much history for the lateness bound", args: []string{"--days-history", "61"}, wantErr: "--days-history"},
		{name: "unknown format", args: []string{"--format", "csv"}, wantErr: "--format"},
		{name: "setup statements", args: []string{"--setup-statements", "3"}, check: func(t *testing.T, c dayConfig) {
			if c.SetupStatements != 3 {
				t.Errorf("setup statements %d, want 3", c.SetupStatements)
			}
		}},
		{name: "no setup statement", args: []string{"--setup-statements", "0"}, wantErr: "--setup-statements"},
		{name: "no query time", args: []string{"--query-duration", "0s"}, wantErr: "--query-duration"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseDayFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, tt.wantErr)
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

func TestSumMeasurements(t *testing.T) {
	ms := []measurement{
		{Readings: 96, Elapsed: 2 * time.Second, CPU: time.Second, PeakRSS: 300, Services: map[string]time.Duration{"clickhouse": time.Second}},
		{Readings: 96, Elapsed: 3 * time.Second, CPU: 2 * time.Second, PeakRSS: 500, Services: map[string]time.Duration{"clickhouse": 2 * time.Second, "kafka": time.Second}},
		{Readings: 96, Elapsed: time.Second, PeakRSS: 100},
	}
	got := sumMeasurements(ms, 96)
	if got.Elapsed != 6*time.Second || got.CPU != 3*time.Second || got.PeakRSS != 500 || got.Readings != 96 {
		t.Errorf("total %+v", got)
	}
	if got.Services["clickhouse"] != 3*time.Second || got.Services["kafka"] != time.Second {
		t.Errorf("services %v", got.Services)
	}
	if e := sumMeasurements(nil, 0); e.Elapsed != 0 || e.Services != nil {
		t.Errorf("empty total %+v", e)
	}
}

func TestJudgeDay(t *testing.T) {
	tests := []struct {
		name string
		rep  dayReport
		want map[string]bool
	}{
		{
			name: "a million meters inside every target",
			rep: dayReport{Meters: 1_000_000, VEEMetersPerSec: 3400, Total: result{Seconds: 899, PeakRSSBytes: 1 << 30},
				Query:        result{PeakRSSBytes: 1 << 29},
				QueryResults: []queryResult{{Scenario: "meter-month-1h", Clients: 1, Requests: 100, P99: 14.9}, {Scenario: "feeder-day-15m", Clients: 1, Requests: 100, P99: 40}}},
			want: map[string]bool{"VEE": true, "whole day": true, "peak memory (day phases)": true, "meter-month-1h p99 under ingest": true},
		},
		{
			name: "the day's bound scales with the fleet",
			rep: dayReport{Meters: 100_000, VEEMetersPerSec: 3299, Total: result{Seconds: 91, PeakRSSBytes: 2<<30 + 1},
				Query:        result{PeakRSSBytes: 1 << 20},
				QueryResults: []queryResult{{Scenario: "meter-month-1h", Clients: 1, Requests: 100, P99: 15.1}}},
			want: map[string]bool{"VEE": false, "whole day": false, "peak memory (day phases)": false, "meter-month-1h p99 under ingest": false},
		},
		{
			name: "no request is no p99; the query phase's memory is not the day's",
			rep: dayReport{Meters: 100_000, Total: result{Seconds: 89}, Query: result{PeakRSSBytes: 3 << 30},
				QueryResults: []queryResult{{Scenario: "meter-month-1h", Clients: 1}}},
			want: map[string]bool{"VEE": false, "whole day": true, "peak memory (day phases)": true, "meter-month-1h p99 under ingest": false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rep.judge()
			if len(tt.rep.Targets) != len(tt.want) {
				t.Fatalf("targets %+v", tt.rep.Targets)
			}
			for _, g := range tt.rep.Targets {
				if met, ok := tt.want[g.Name]; !ok || met != g.Met {
					t.Errorf("%s: met %v (%s vs %s), want %v", g.Name, g.Met, g.Measured, g.Target, met)
				}
			}
		})
	}
}

func TestWriteDayTable(t *testing.T) {
	rep := dayReport{Meters: 1000, HistoryDays: 7, Format: "arrow", Day: "2026-11-30", Readings: 96_000, CPUs: 2, SetupSeconds: 12, HistorySeconds: 8,
		Phases:          []result{newResult("ingest", "p", measurement{Readings: 96_000, Elapsed: 2 * time.Second, CPU: time.Second}), newResult("vee", "p", measurement{Readings: 96_000, Elapsed: time.Second})},
		Total:           newResult("total", "p", measurement{Readings: 96_000, Elapsed: 3 * time.Second}),
		Query:           newResult("query (under ingest)", "p", measurement{Readings: 24_000, Elapsed: time.Second}),
		VEEMetersPerSec: 1000, IngestTarget: 24_000,
		QueryResults: []queryResult{{Scenario: "meter-month-1h", Clients: 1, Requests: 10, P99: 9}},
	}
	rep.judge()
	var b bytes.Buffer
	if err := rep.writeTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"set-up (untimed) 12.0 s, of which writing the validated history 8.0 s", "ingest", "48 000", "vee", "total", "query (under ingest)", "24 000", "meter-month-1h",
		">= 3300 meters/s", "1 000 meters/s", "<= 900 s at 1 000 000 meters (0.9 s scaled linearly to 1 000)", "3.0 s", "9.00 ms", "met", "missed"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestMeterRanges(t *testing.T) {
	ids := []string{"MTR-000003", "MTR-000001", "MTR-1000000", "MTR-000002", "MTR-100000"}
	tests := []struct {
		name string
		per  int
		want []meterRange
	}{
		{name: "one range", per: 5, want: []meterRange{{Cond: "1", Meters: 5}}},
		{name: "sorted, bounds from the next range's first id", per: 2, want: []meterRange{
			{Cond: "meter_id < 'MTR-000003'", Meters: 2},
			{Cond: "meter_id >= 'MTR-000003' AND meter_id < 'MTR-1000000'", Meters: 2},
			{Cond: "meter_id >= 'MTR-1000000'", Meters: 1},
		}},
		{name: "no size is one meter a range", per: 0, want: []meterRange{
			{Cond: "meter_id < 'MTR-000002'", Meters: 1},
			{Cond: "meter_id >= 'MTR-000002' AND meter_id < 'MTR-000003'", Meters: 1},
			{Cond: "meter_id >= 'MTR-000003' AND meter_id < 'MTR-100000'", Meters: 1},
			{Cond: "meter_id >= 'MTR-100000' AND meter_id < 'MTR-1000000'", Meters: 1},
			{Cond: "meter_id >= 'MTR-1000000'", Meters: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := meterRanges(ids, tt.per); !slices.Equal(got, tt.want) {
				t.Errorf("meterRanges(%d) = %+v, want %+v", tt.per, got, tt.want)
			}
		})
	}
}

func TestPacedChunk(t *testing.T) {
	for _, tt := range []struct {
		rate float64
		want int
	}{{10, 100}, {50_000, 5000}, {10_000_000, chunkReadings}} {
		if got := pacedChunk(tt.rate); got != tt.want {
			t.Errorf("pacedChunk(%v) = %d, want %d", tt.rate, got, tt.want)
		}
	}
}

func TestOffsetSource(t *testing.T) {
	cfg := sim.Config{Meters: 3, From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 1, 1, 0, 0, 0, time.UTC),
		Interval: 15 * time.Minute, Seed: 1, IDPrefix: "MTR-", TimeZone: "UTC"}
	plain, _ := sim.New(cfg)
	shifted, _ := sim.New(cfg)
	src := offsetSource{src: shifted, offset: historyOffset}
	var a, b schema.Reading
	n := 0
	for plain.Next(&a) {
		if !src.Next(&b) || b.MeterID != a.MeterID || !b.TS.Equal(a.TS) || b.RegisterWh != a.RegisterWh+historyOffset {
			t.Fatalf("reading %d: %+v, want %+v raised by %d", n, b, a, historyOffset)
		}
		n++
	}
	if src.Next(&b) || n != 15 {
		t.Errorf("%d readings, and the shifted source did not end with the fleet", n)
	}
}

// TestHistorySQLOnServer checks the server-side history of bench day: every meter gets
// its readings at every step before its starting register, rising strictly up to it, at
// its class's level.
func TestHistorySQLOnServer(t *testing.T) {
	cfg, conn := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const meters, steps = 30, 96
	t0 := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	fleet, err := sim.New(sim.Config{Meters: meters, From: t0, To: t0.Add(time.Hour), Interval: 15 * time.Minute, Seed: 1, IDPrefix: "MTR-", TimeZone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.InsertMeters(ctx, conn, fleet.Meters()); err != nil {
		t.Fatal(err)
	}
	if err := insertFirst(ctx, conn, offsetSource{src: fleet, offset: historyOffset}, meters); err != nil {
		t.Fatal(err)
	}
	// In ranges of 7 meters, as a large fleet's set-up splits its statements: together
	// they write every meter once.
	var meterIDs []string
	for _, m := range fleet.Meters() {
		meterIDs = append(meterIDs, m.MeterID)
	}
	ranges := meterRanges(meterIDs, 7)
	for d := range 2 {
		for _, r := range ranges {
			if err := conn.Exec(ctx, historySQL(cfg.Database, t0, 15*time.Minute, d*steps, steps, sim.MeanPower(), r.Cond)); err != nil {
				t.Fatal(err)
			}
		}
	}
	var n, ids, falling uint64
	var first, last time.Time
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(meter_id), min(ts), max(ts) FROM readings").Scan(&n, &ids, &first, &last); err != nil {
		t.Fatal(err)
	}
	if n != meters*(2*steps+1) || ids != meters || !first.Equal(t0.Add(-2*24*time.Hour)) || !last.Equal(t0) {
		t.Errorf("%d readings of %d meters from %s to %s", n, ids, first, last)
	}
	err = conn.QueryRow(ctx, `SELECT count() FROM (
		SELECT arrayMap(x -> x.2, arraySort(x -> x.1, groupArray((ts, register_wh)))) AS r
		FROM readings GROUP BY meter_id)
		WHERE arrayExists((a, b) -> b <= a, arrayPopBack(r), arrayPopFront(r)) OR r[1] < 0`).Scan(&falling)
	if err != nil {
		t.Fatal(err)
	}
	if falling != 0 {
		t.Errorf("%d meters have a register that does not rise or goes negative", falling)
	}
	// The validated history is the readings' advances: every meter's 15m rows add up, day
	// by day, to its register's rise over the day, one row per quarter, each in the
	// class's range; and each day has a profile holding the same quarters.
	if err := writeValidatedHistory(ctx, conn, cfg.Database, t0, 2, ranges, 2); err != nil {
		t.Fatal(err)
	}
	var bad, days, profiles uint64
	err = conn.QueryRow(ctx, `SELECT countIf(rise != total OR rows != 96 OR low <= 0), count() FROM (
		SELECT meter_id, d, max(register_wh) - min(register_wh) AS rise
		FROM readings ARRAY JOIN arrayDistinct([toStartOfDay(ts), toStartOfDay(ts - 1)]) AS d
		WHERE ts > toDateTime(?) AND ts <= toDateTime(?)
		GROUP BY meter_id, d HAVING count() = 97
	) ANY INNER JOIN (
		SELECT meter_id, toStartOfDay(start) AS d, sum(wh) AS total, count() AS rows, min(wh) AS low
		FROM consumption WHERE resolution = '15m' GROUP BY meter_id, d
	) USING meter_id, d`, t0.Add(-2*24*time.Hour).Unix()-1, t0.Unix()).Scan(&bad, &days)
	if err != nil {
		t.Fatal(err)
	}
	if bad != 0 || days != meters*2 {
		t.Errorf("%d of %d meter days whose 15m rows do not add up to the register's rise", bad, days)
	}
	if err := conn.QueryRow(ctx, `SELECT count() FROM consumption_profiles
		WHERE length(slot_wh) = 96 AND arraySum(slot_wh) = arraySum(wh) AND arraySum(intervals) = 96`).Scan(&profiles); err != nil {
		t.Fatal(err)
	}
	if profiles != meters*2 {
		t.Errorf("%d complete profiles, want %d", profiles, meters*2)
	}
	// Each meter's mean interval is its class's mean power over 15 minutes, within the
	// hash's ±25 %.
	levels := sim.MeanPower()
	rows, err := conn.Query(ctx, `SELECT customer_class, (max(register_wh) - min(register_wh)) / (count() - 1)
		FROM readings ANY INNER JOIN (SELECT meter_id, customer_class FROM meters) USING meter_id GROUP BY meter_id, customer_class`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var class string
		var mean float64
		if err := rows.Scan(&class, &mean); err != nil {
			t.Fatal(err)
		}
		if want := levels[class] / 4; mean < 0.75*want || mean > 1.25*want {
			t.Errorf("%s meter: %.0f Wh per interval, want about %.0f", class, mean, want)
		}
	}
}

// TestDayBenchEndToEnd runs bench day on a tiny fleet against the real services: every
// phase measured, the day's readings stored and validated, forecasts written, both query
// scenarios answered under ingest, and the targets judged.
func TestDayBenchEndToEnd(t *testing.T) {
	testenv.Integration(t)
	for _, kv := range append(testenv.ClickHouseEnv(testenv.ClickHouseConfig(t)), testenv.KafkaEnv(testenv.Kafka())...) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	args := []string{"--meters", "50", "--days-history", "2", "--format", "json", "--query-warmup", "100ms", "--query-duration", "500ms",
		"--flush-interval", "200ms", "--json"}
	if err := cmdDay(ctx, args, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var rep dayReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	if rep.Readings != 50*96 || len(rep.Phases) != 4 || rep.VEEMeters != 50 || rep.ForecastMethods == nil || len(rep.Targets) != 4 || rep.HistorySeconds <= 0 {
		t.Fatalf("report %+v", rep)
	}
	for i, name := range []string{"ingest", "vee", "forecast", "merges"} {
		if p := rep.Phases[i]; p.Name != name || p.Readings != 50*96 || p.Seconds <= 0 || p.PeakRSSBytes <= 0 {
			t.Errorf("phase %d: %+v", i, p)
		}
	}
	if rep.Phases[0].CPUSecondsPerMillion <= 0 || rep.Total.Seconds < rep.Phases[0].Seconds+rep.Phases[1].Seconds {
		t.Errorf("ingest %+v, total %+v", rep.Phases[0], rep.Total)
	}
	forecast := 0
	for _, n := range rep.ForecastMethods {
		forecast += n
	}
	if forecast+rep.ForecastFailed != 50 {
		t.Errorf("forecast %v, failed %d: want the 50 meters", rep.ForecastMethods, rep.ForecastFailed)
	}
	if len(rep.QueryResults) != 2 || rep.QueryResults[0].Scenario != "meter-month-1h" || rep.QueryResults[1].Scenario != "feeder-day-15m" {
		t.Fatalf("query results %+v", rep.QueryResults)
	}
	for _, q := range rep.QueryResults {
		if q.Requests == 0 {
			t.Errorf("%s: no request completed", q.Scenario)
		}
	}
	if rep.IngestTarget <= 0 || rep.Query.Readings <= 0 {
		t.Errorf("query phase ingest: target %v, %+v", rep.IngestTarget, rep.Query)
	}
}
