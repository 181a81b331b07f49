package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestIngestBenchEndToEnd runs bench ingest on a small fleet against the real services:
// both ceilings and both formats, every reading stored, and a JSON report that says so.
func TestIngestBenchEndToEnd(t *testing.T) {
	testenv.Integration(t)
	for _, kv := range testenv.ClickHouseEnv(testenv.ClickHouseConfig(t)) { // the credentials
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	args := []string{"--readings", "20000", "--meters", "300", "--format", "json,arrow", "--arrow-batch", "1000",
		"--consumers", "2", "--batch-rows", "5000", "--ceiling-clients", "1,2", "--flush-interval", "200ms", "--json", "--dir", t.TempDir(),
		"--clickhouse", testenv.ClickHouseConfig(t).Addr, "--brokers", testenv.Brokers()[0],
		"--kafka-user", testenv.Kafka().SASL.Username, "--kafka-password-file", testenv.Kafka().SASL.PasswordFile}
	if err := cmdIngest(ctx, args, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	if len(rep.Results) != 4 {
		t.Fatalf("want ceiling, ceiling-2, json and arrow, got %+v", rep.Results)
	}
	for i, name := range []string{ceilingName, "ceiling-2", "json", "arrow"} {
		r := rep.Results[i]
		if r.Name != name || r.Readings != 20000 || r.ReadingsPerSecond <= 0 || r.RatioToCeiling <= 0 || r.PeakRSSBytes <= 0 {
			t.Errorf("result %d: %+v", i, r)
		}
	}
	if rep.Results[2].CPUSecondsPerMillion <= 0 {
		t.Errorf("ingest CPU not measured: %+v", rep.Results[2])
	}
}

// TestLoadSQLOnServer checks the server-side load of bench query: the row count, registers rising
// strictly for every meter, and the hourly aggregate filled by the materialized view.
func TestLoadSQLOnServer(t *testing.T) {
	cfg, conn := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const meters, steps = 40, 300
	from := time.Date(2026, 10, 1, 0, 15, 0, 0, time.UTC)
	for off := int64(0); off < meters*steps; off += 10 * steps { // chunks of whole meters, as load does
		if err := conn.Exec(ctx, loadSQL(cfg.Database, off, 10*steps, steps, from, 15*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	var n, ids, falling, hours uint64
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(meter_id) FROM readings").Scan(&n, &ids); err != nil {
		t.Fatal(err)
	}
	if n != meters*steps || ids != meters {
		t.Errorf("%d readings of %d meters, want %d of %d", n, ids, meters*steps, meters)
	}
	err := conn.QueryRow(ctx, `SELECT count() FROM (
		SELECT arrayMap(x -> x.2, arraySort(x -> x.1, groupArray((ts, register_wh)))) AS r
		FROM readings GROUP BY meter_id)
		WHERE arrayExists((a, b) -> b <= a, arrayPopBack(r), arrayPopFront(r))`).Scan(&falling)
	if err != nil {
		t.Fatal(err)
	}
	if falling != 0 {
		t.Errorf("%d meters have a register that does not rise", falling)
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM (SELECT meter_id, hour FROM readings_hourly GROUP BY meter_id, hour)").Scan(&hours); err != nil {
		t.Fatal(err)
	}
	if want := uint64(meters * steps / 4); hours != want {
		t.Errorf("readings_hourly has %d meter-hours, want %d", hours, want)
	}
}
