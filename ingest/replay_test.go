package ingest_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/ingest"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
)

// This file holds what the replay-safety tests (crash, back-pressure, late data,
// scale-out, disruptive) share: an in-process ingester with its own metrics registry, and
// the comparison of what is stored with what was produced.

// runner is an Ingester running in the test process, with its metrics.
type runner struct {
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

// startIngester runs an Ingester with cfg, storing through conn, until stop is called or
// the test ends.
func startIngester(t *testing.T, cfg ingest.Config, conn driver.Conn) *runner {
	t.Helper()
	w, err := ingest.NewClickHouseWriter(conn)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := ingest.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(cfg, testenv.Kafka(), w, testenv.Logger(t), m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- in.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the ingester and waits for it; a second call does nothing.
func (r *runner) stop(t *testing.T) {
	t.Helper()
	if r.done == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("ingest stopped with an error: %v", err)
		}
	case <-time.After(time.Minute):
		t.Error("ingest did not stop within a minute")
	}
	r.done = nil
}

// failed reports an error Run returned before stop was called.
func (r *runner) failed() error {
	select {
	case err := <-r.done:
		r.done = nil
		if err == nil {
			return fmt.Errorf("ingest returned early without an error")
		}
		return err
	default:
		return nil
	}
}

// metric sums every series of the named metric (counter, gauge, or a histogram's sample
// count, or its sum when name ends in _sum) whose labels include the given pairs.
func (r *runner) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	families, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	base, sum := strings.CutSuffix(name, "_sum")
	var total float64
	for _, f := range families {
		if f.GetName() != name && f.GetName() != base {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				total += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				total += m.GetGauge().GetValue()
			case m.GetHistogram() != nil && sum:
				total += m.GetHistogram().GetSampleSum()
			case m.GetHistogram() != nil:
				total += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return total
}

// waitFor polls cond every 50ms until it holds, failing the test with what after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hourAgg is one row of readings_hourly, merged.
type hourAgg struct {
	TSFirst, TSLast time.Time
	WhFirst, WhLast int64
	WhMin, WhMax    int64
	Readings        uint64
}

type hourKey struct {
	meter string
	hour  time.Time
}

// expectedAggregates computes readings_hourly from the readings themselves.
func expectedAggregates(rs []schema.Reading) map[hourKey]hourAgg {
	out := map[hourKey]hourAgg{}
	for _, r := range rs {
		k := hourKey{r.MeterID, r.TS.Add(-time.Second).Truncate(time.Hour).UTC()}
		a, ok := out[k]
		if !ok {
			a = hourAgg{TSFirst: r.TS, TSLast: r.TS, WhFirst: r.RegisterWh, WhLast: r.RegisterWh, WhMin: r.RegisterWh, WhMax: r.RegisterWh}
		}
		if r.TS.Before(a.TSFirst) {
			a.TSFirst, a.WhFirst = r.TS, r.RegisterWh
		}
		if r.TS.After(a.TSLast) {
			a.TSLast, a.WhLast = r.TS, r.RegisterWh
		}
		a.WhMin, a.WhMax = min(a.WhMin, r.RegisterWh), max(a.WhMax, r.RegisterWh)
		a.Readings++
		out[k] = a
	}
	for k, a := range out {
		a.TSFirst, a.TSLast = a.TSFirst.UTC(), a.TSLast.UTC()
		out[k] = a
	}
	return out
}

// storedAggregates reads readings_hourly with every state merged.
func storedAggregates(ctx context.Context, conn driver.Conn) (map[hourKey]hourAgg, error) {
	rows, err := conn.Query(ctx, `SELECT meter_id, hour, minMerge(ts_first), maxMerge(ts_last),
    argMinMerge(wh_first), argMaxMerge(wh_last), minMerge(wh_min), maxMerge(wh_max), uniqExactMerge(readings)
FROM readings_hourly GROUP BY meter_id, hour`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[hourKey]hourAgg{}
	for rows.Next() {
		var k hourKey
		var a hourAgg
		if err := rows.Scan(&k.meter, &k.hour, &a.TSFirst, &a.TSLast, &a.WhFirst, &a.WhLast, &a.WhMin, &a.WhMax, &a.Readings); err != nil {
			return nil, err
		}
		k.hour, a.TSFirst, a.TSLast = k.hour.UTC(), a.TSFirst.UTC(), a.TSLast.UTC()
		out[k] = a
	}
	return out, rows.Err()
}

// sortedReadings returns rs ordered by meter and time, the order expectedHourly needs.
func sortedReadings(rs []schema.Reading) []schema.Reading {
	out := slices.Clone(rs)
	slices.SortFunc(out, func(a, b schema.Reading) int {
		if c := strings.Compare(a.MeterID, b.MeterID); c != 0 {
			return c
		}
		return a.TS.Compare(b.TS)
	})
	return out
}

// differences compares what the pipeline stored and answers with what a run without any
// crash gives for rs: the distinct (meter, ts) stored, the merged hourly aggregates, and
// the API's hourly consumption of every meter. It returns one line per difference.
func (p *pipeline) differences(t *testing.T, rs []schema.Reading) []string {
	t.Helper()
	var diffs []string
	if got := p.distinctStored(t); got != uint64(len(rs)) {
		diffs = append(diffs, fmt.Sprintf("stored %d distinct (meter, ts), produced %d", got, len(rs)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := storedAggregates(ctx, p.conn)
	if err != nil {
		t.Fatalf("read readings_hourly: %v", err)
	}
	want := expectedAggregates(rs)
	bad := 0
	for k, w := range want {
		g, ok := got[k]
		if ok && g == w {
			continue
		}
		if bad < 3 {
			have := "no row"
			if ok {
				have = fmt.Sprintf("%+v", g)
			}
			diffs = append(diffs, fmt.Sprintf("readings_hourly %s %s: got %s, want %+v", k.meter, k.hour.Format(time.RFC3339), have, w))
		}
		bad++
	}
	if extra := len(got) - len(want); bad > 0 || extra != 0 {
		diffs = append(diffs, fmt.Sprintf("readings_hourly: %d of %d hours differ, %d rows beyond those expected", bad, len(want), extra))
	}
	sorted := sortedReadings(rs)
	ids := meterIDs(sorted)
	wantAPI := expectedHourly(sorted)
	gotAPI := p.hourly(t, ids)
	bad = 0
	for _, id := range ids {
		if !reflect.DeepEqual(normalize(gotAPI[id]), normalize(wantAPI[id])) {
			if bad < 3 {
				diffs = append(diffs, fmt.Sprintf("API hourly consumption of %s: got %d points, want %d, or values differ", id, len(gotAPI[id]), len(wantAPI[id])))
			}
			bad++
		}
	}
	if bad > 0 {
		diffs = append(diffs, fmt.Sprintf("API: %d of %d meters answer differently", bad, len(ids)))
	}
	return diffs
}

// requireSame fails the test when anything stored or answered differs from rs.
func (p *pipeline) requireSame(t *testing.T, rs []schema.Reading) {
	t.Helper()
	if diffs := p.differences(t, rs); len(diffs) > 0 {
		t.Fatalf("stored data differs from a run without crash:\n%s", strings.Join(diffs, "\n"))
	}
}

// rawRows counts the rows of readings, duplicates included (merges may remove some).
func (p *pipeline) rawRows(t *testing.T) uint64 {
	t.Helper()
	var n uint64
	if err := p.conn.QueryRow(context.Background(), "SELECT count() FROM readings").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// database returns the name of the test's database.
func (p *pipeline) database(t *testing.T) string {
	t.Helper()
	var db string
	if err := p.conn.QueryRow(context.Background(), "SELECT currentDatabase()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	return db
}

// produceSlowly produces msgs in chunks, pausing between them, so that ingest runs while
// the test does something else; it may run on its own goroutine. The returned channel
// yields the result once everything is produced.
func (p *pipeline) produceSlowly(msgs []kafka.Message, chunks int, pause time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		size := (len(msgs) + chunks - 1) / chunks
		for c := range slices.Chunk(msgs, size) {
			if err := p.writer.WriteMessages(ctx, c...); err != nil {
				done <- fmt.Errorf("produce: %w", err)
				return
			}
			time.Sleep(pause)
		}
		done <- nil
	}()
	return done
}
