package job

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/vee"
)

// failedRow is a window's latest state in vee_failures.
type failedRow struct {
	status, reason, message string
	firstFailedAt           time.Time
	attempts                uint32
}

func failuresTable(t *testing.T, conn driver.Conn) map[string]failedRow {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT meter_id, window_start, window_end, status, reason, message, first_failed_at, attempts
FROM vee_failures FINAL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]failedRow{}
	for rows.Next() {
		var m string
		var from, to time.Time
		var r failedRow
		if err := rows.Scan(&m, &from, &to, &r.status, &r.reason, &r.message, &r.firstFailedAt, &r.attempts); err != nil {
			t.Fatal(err)
		}
		if _, dup := out[m]; dup {
			t.Errorf("meter %s has more than one window in vee_failures", m)
		}
		r.firstFailedAt = r.firstFailedAt.UTC()
		out[m] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// failedCount reads meterhouse_vee_failed_windows_total{reason} from reg.
func failedCount(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "meterhouse_vee_failed_windows_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("meterhouse_vee_failed_windows_total{reason=%q} not exported", reason)
	return 0
}

// openGauge reads meterhouse_vee_open_failed_windows from reg.
func openGauge(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "meterhouse_vee_open_failed_windows" && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("meterhouse_vee_open_failed_windows not exported")
	return 0
}

// insertRawEdit stores an edit row directly, as the old time-wrapping bug did, bypassing
// the API's checks.
func insertRawEdit(t *testing.T, conn driver.Conn, meter string, start, end, created time.Time) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), insertEdit)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(newID(), meter, start, end, int64(100), EditEach, "bad edit", "test", int64(0), created); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// TestJobIsolatesFailedWindows stores bad edits as the DateTime wrap-around left them (a
// start off the 15-minute grid, an end before the start) and makes the rule code panic
// for a third meter, then runs the job: every other meter is validated exactly as in a
// database without the bad records, and the three windows are skipped and reported with
// their reasons in the run's result, in vee_failures and in the metric. The next run
// retries them and decides the same; once a window computes, it is marked resolved.
func TestJobIsolatesFailedWindows(t *testing.T) {
	from := time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 10, 23, 0, 0, 0, 0, time.UTC)
	d := simulate(t, 8, from, to, to.Add(time.Minute))
	now := to.Add(10 * time.Minute)
	offGrid, backwards, panicky := d.meters[5].MeterID, d.meters[6].MeterID, d.meters[7].MeterID

	// The reference: the same fleet without the bad records.
	_, ref := testenv.ClickHouse(t)
	if err := schema.InsertMeters(context.Background(), ref, d.meters); err != nil {
		t.Fatal(err)
	}
	insertReadings(t, ref, d.readings)
	refClock := now
	runAt(t, newJob(t, ref, testConfig(), &refClock), &refClock, now)
	want := withoutVersions(snapshot(t, ref))

	_, conn := testenv.ClickHouse(t)
	if err := schema.InsertMeters(context.Background(), conn, d.meters); err != nil {
		t.Fatal(err)
	}
	insertReadings(t, conn, d.readings)
	badStart := time.Date(2026, 10, 21, 10, 7, 13, 0, time.UTC) // off the grid, as 2163-… wrapped
	insertRawEdit(t, conn, offGrid, badStart, badStart.Add(Interval), from)
	insertRawEdit(t, conn, backwards, time.Date(2026, 10, 21, 12, 0, 0, 0, time.UTC), time.Date(2026, 10, 21, 11, 0, 0, 0, time.UTC), from)
	clock := now
	j := newJob(t, conn, testConfig(), &clock)
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	j.SetMetrics(m)
	panics := true
	j.process = func(in vee.Input, rules vee.RuleSet, now time.Time) (vee.Output, error) {
		if panics && in.MeterID == panicky {
			var p *vee.Output
			_ = p.Intervals // a nil dereference, as a bug in rule code would
		}
		return vee.Process(in, rules, now)
	}

	r1, err := j.Run(context.Background())
	if err != nil {
		t.Fatalf("run with bad records: %v, want the other meters validated", err)
	}
	t.Logf("first run: %+v", r1)
	if !r1.Watermark.Equal(now) {
		t.Errorf("watermark %s, want %s: it must advance for the other meters", r1.Watermark, now)
	}
	wantReasons := map[string]string{offGrid: FailureEdit, backwards: FailureEdit, panicky: FailurePanic}
	if r1.Failed != 3 || len(r1.Failures) != 3 {
		t.Fatalf("Failed %d, Failures %v; want the 3 bad windows", r1.Failed, r1.Failures)
	}
	for _, f := range r1.Failures {
		if wantReasons[f.MeterID] != f.Reason || !f.To.After(f.From) {
			t.Errorf("failure %s, want reason %q", f, wantReasons[f.MeterID])
		}
	}
	if msg := failureOf(r1, offGrid).Message; !strings.Contains(msg, "not on the 15m0s grid") || !strings.Contains(msg, "edits[0].start") {
		t.Errorf("off-grid failure message %q, want it to name edits[0].start and the grid", msg)
	}
	if msg := failureOf(r1, panicky).Message; !strings.Contains(msg, "panic") {
		t.Errorf("panic failure message %q", msg)
	}

	// Every other meter is validated exactly as without the bad records; the bad ones
	// have nothing written.
	got := withoutVersions(snapshot(t, conn))
	bad := func(m string) bool { _, ok := wantReasons[m]; return ok }
	wantOthers := maps.Clone(want)
	maps.DeleteFunc(wantOthers, func(k rowKey, _ stored) bool { return bad(k.meter) })
	for k := range got {
		if bad(k.meter) {
			t.Fatalf("row %v written for a failed window", k)
		}
	}
	if !maps.Equal(got, wantOthers) {
		diffRows(t, got, wantOthers)
	}
	if len(wantOthers) == 0 || r1.Meters != len(d.meters)+1-3 {
		t.Errorf("%d meters computed, want %d", r1.Meters, len(d.meters)+1-3)
	}

	table := failuresTable(t, conn)
	if len(table) != 3 {
		t.Fatalf("vee_failures holds %v, want the 3 windows", table)
	}
	for meter, reason := range wantReasons {
		r := table[meter]
		if r.status != "failed" || r.reason != reason || r.attempts != 1 || r.message != failureOf(r1, meter).Message || !r.firstFailedAt.Equal(now) {
			t.Errorf("vee_failures row of %s: %+v, want failed, %s, 1 attempt", meter, r, reason)
		}
	}
	if n := failedCount(t, reg, FailureEdit); n != 2 {
		t.Errorf("edit failures counted %g, want 2", n)
	}
	if n := failedCount(t, reg, FailurePanic); n != 1 {
		t.Errorf("panic failures counted %g, want 1", n)
	}
	if n := openGauge(t, reg); n != 3 {
		t.Errorf("open failed windows %g, want 3", n)
	}

	// The next run retries them and decides the same (replay-determinism).
	clock = now.Add(time.Minute)
	r2 := runAt(t, j, &clock, clock)
	if r2.Retried != 3 || r2.Failed != 3 || fmt.Sprint(r2.Failures) != fmt.Sprint(r1.Failures) {
		t.Errorf("retry: retried %d, failures %v; want the same 3 as %v", r2.Retried, r2.Failures, r1.Failures)
	}
	if r := failuresTable(t, conn)[offGrid]; r.attempts != 2 || !r.firstFailedAt.Equal(now) || r.status != "failed" {
		t.Errorf("after the retry: %+v, want 2 attempts since %s", r, now)
	}
	if n := failedCount(t, reg, FailureEdit); n != 4 {
		t.Errorf("edit failures counted %g, want 4", n)
	}
	if n := openGauge(t, reg); n != 3 {
		t.Errorf("open failed windows after the retry %g, want still 3 (the counter counts attempts)", n)
	}

	// Once the window computes, it is resolved and its rows are those of the reference.
	panics = false
	clock = now.Add(2 * time.Minute)
	r3 := runAt(t, j, &clock, clock)
	if r3.Failed != 2 {
		t.Errorf("after the fix: %d failures, want the 2 bad edits", r3.Failed)
	}
	table = failuresTable(t, conn)
	if r := table[panicky]; r.status != "resolved" {
		t.Errorf("vee_failures row of the fixed meter: %+v, want resolved", r)
	}
	if r := table[offGrid]; r.status != "failed" || r.attempts != 3 {
		t.Errorf("vee_failures row of the bad edit: %+v, want failed, 3 attempts", r)
	}
	if n := openGauge(t, reg); n != 2 {
		t.Errorf("open failed windows once one is resolved %g, want 2", n)
	}
	got = withoutVersions(snapshot(t, conn))
	for k, v := range want {
		if k.meter == panicky && got[k] != v {
			t.Fatalf("fixed meter row %v: %+v, want %+v", k, got[k], v)
		}
	}
	if r4 := runAt(t, j, &clock, clock.Add(time.Minute)); r4.Retried != 2 {
		t.Errorf("a resolved window is retried again: %d retried, want 2", r4.Retried)
	}
}

func failureOf(r Result, meter string) Failure {
	for _, f := range r.Failures {
		if f.MeterID == meter {
			return f
		}
	}
	return Failure{}
}

// TestJobIsolatesOutOfRangeWindows stores readings the store holds but ClickHouse 18.16
// cannot be queried about (inserted directly, as old data or a direct insert can hold
// them): one dated 2106-01-10, one in December 2105 of a UTC meter (its month ends on
// 2106-01-01), and one at 1970-01-01T00:00:01Z of a Berlin meter (its local day starts in
// 1969). All are in one batch with a normal fleet: every normal meter is computed
// exactly as without them, the three windows are reported as time_range in the result
// and in vee_failures, and the next run retries them and decides the same.
func TestJobIsolatesOutOfRangeWindows(t *testing.T) {
	from := time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 10, 23, 0, 0, 0, 0, time.UTC)
	d := simulate(t, 6, from, to, to.Add(time.Minute))
	now := to.Add(10 * time.Minute)
	cfg := testConfig()
	cfg.Lateness = 0      // the 1970 reading is not too late to reopen its day
	cfg.BatchMeters = 500 // one batch: before the fix one bad window emptied all of it
	base := d.meters[0]   // a registry entry to copy
	bad := map[string]struct {
		zone string
		ts   []time.Time
	}{
		"V-FUTURE":  {"Europe/Berlin", []time.Time{time.Date(2106, 1, 10, 0, 0, 0, 0, time.UTC), time.Date(2106, 1, 10, 1, 0, 0, 0, time.UTC)}},
		"V-DEC2105": {"UTC", []time.Time{time.Date(2105, 12, 10, 0, 0, 0, 0, time.UTC), time.Date(2105, 12, 10, 1, 0, 0, 0, time.UTC)}},
		"V-EPOCH":   {"Europe/Berlin", []time.Time{time.Unix(1, 0).UTC(), time.Unix(3600, 0).UTC()}},
	}

	// load stores the fleet (and, when withBad, the bad meters) and runs the job twice:
	// once on the empty database, so that the second run reads the arrivals.
	load := func(withBad bool) (driver.Conn, *Job, *time.Time, Result) {
		_, conn := testenv.ClickHouse(t)
		meters := slices.Clone(d.meters)
		rs := slices.Clone(d.readings)
		if withBad {
			for id, b := range bad {
				m := base
				m.MeterID, m.TimeZone = id, b.zone
				meters = append(meters, m)
				for i, ts := range b.ts {
					rs = append(rs, reading{schema.Reading{MeterID: id, TS: ts, RegisterWh: int64(1000 * (i + 1))}, now.Add(-5 * time.Minute)})
				}
			}
		}
		if err := schema.InsertMeters(context.Background(), conn, meters); err != nil {
			t.Fatal(err)
		}
		clock := from.Add(-time.Hour)
		j := newJob(t, conn, cfg, &clock)
		runAt(t, j, &clock, clock)
		insertReadings(t, conn, rs)
		return conn, j, &clock, runAt(t, j, &clock, now)
	}
	ref, _, _, refRes := load(false)
	want, wantGroups := withoutVersions(snapshot(t, ref)), groupSnapshot(t, ref)
	if refRes.Failed != 0 || len(want) == 0 {
		t.Fatalf("reference run: %+v, %d rows", refRes, len(want))
	}

	conn, j, clock, r1 := load(true)
	if got := withoutVersions(snapshot(t, conn)); !maps.Equal(got, want) {
		diffRows(t, got, want)
	}
	if got := groupSnapshot(t, conn); !maps.Equal(got, wantGroups) {
		t.Errorf("group rows differ from the reference: %d rows, want %d", len(got), len(wantGroups))
	}
	if r1.Windows != refRes.Windows || r1.Intervals != refRes.Intervals || !r1.Watermark.Equal(now) {
		t.Errorf("run with out-of-range readings: %+v, want %d windows, %d intervals as the reference", r1, refRes.Windows, refRes.Intervals)
	}
	wantField := map[string]string{"V-FUTURE": "window.from", "V-DEC2105": "window.month_end", "V-EPOCH": "window.day_start"}
	if r1.Failed != len(bad) || len(r1.Failures) != len(bad) {
		t.Fatalf("Failed %d, Failures %v; want the %d out-of-range windows", r1.Failed, r1.Failures, len(bad))
	}
	for _, f := range r1.Failures {
		if f.Reason != FailureTimeRange || !strings.HasPrefix(f.Message, wantField[f.MeterID]+":") {
			t.Errorf("failure %s, want time_range on %s", f, wantField[f.MeterID])
		}
	}
	table := failuresTable(t, conn)
	for id := range bad {
		if r := table[id]; r.status != "failed" || r.reason != FailureTimeRange || r.attempts != 1 {
			t.Errorf("vee_failures row of %s: %+v, want failed, time_range, 1 attempt", id, r)
		}
	}
	if len(table) != len(bad) {
		t.Errorf("vee_failures holds %v, want only the out-of-range windows", table)
	}

	// The retry decides the same, and still computes nothing for them.
	r2 := runAt(t, j, clock, now.Add(time.Minute))
	if r2.Retried != len(bad) || fmt.Sprint(r2.Failures) != fmt.Sprint(r1.Failures) {
		t.Errorf("retry: retried %d, failures %v; want %v", r2.Retried, r2.Failures, r1.Failures)
	}
	if got := withoutVersions(snapshot(t, conn)); !maps.Equal(got, want) {
		diffRows(t, got, want)
	}
}

// TestJobFailureVersionsIncrease runs an edit recomputation whose only window fails, then,
// in the next second, an incremental run that retries the window and computes it: the
// second run's version (computed_at) must be above the first's, so that the window's
// latest state in vee_failures is resolved, not a tie between failed and resolved.
func TestJobFailureVersionsIncrease(t *testing.T) {
	from := time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 10, 23, 0, 0, 0, 0, time.UTC)
	d := simulate(t, 6, from, to, to.Add(time.Minute))
	now := to.Add(10 * time.Minute)
	_, conn := testenv.ClickHouse(t)
	if err := schema.InsertMeters(context.Background(), conn, d.meters); err != nil {
		t.Fatal(err)
	}
	insertReadings(t, conn, d.readings)
	clock := now
	j := newJob(t, conn, testConfig(), &clock)
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	j.SetMetrics(m)
	meter := d.meters[5].MeterID
	panics := false
	j.process = func(in vee.Input, rules vee.RuleSet, now time.Time) (vee.Output, error) {
		if panics && in.MeterID == meter {
			panic("rule bug")
		}
		return vee.Process(in, rules, now)
	}
	r1 := runAt(t, j, &clock, now)

	panics = true
	r2, err := j.Recompute(context.Background(), meter, from.Add(30*time.Hour), from.Add(32*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r2.Failed != 1 || r2.Windows != 0 {
		t.Fatalf("edit run: %+v, want its one window failed", r2)
	}
	if n := openGauge(t, reg); n != 1 {
		t.Errorf("open failed windows after the edit run %g, want 1", n)
	}
	panics = false
	clock = now.Add(time.Second)
	r3 := runAt(t, j, &clock, clock)
	if r3.Retried != 1 || r3.Failed != 0 {
		t.Fatalf("retry: %+v, want the window retried and computed", r3)
	}
	if !r2.ComputedAt.After(r1.ComputedAt) || !r3.ComputedAt.After(r2.ComputedAt) {
		t.Errorf("versions %s, %s, %s: want strictly increasing", r1.ComputedAt, r2.ComputedAt, r3.ComputedAt)
	}
	if open, err := j.openFailures(context.Background()); err != nil || len(open) != 0 {
		t.Errorf("open failures %v (%v), want none: the retry resolved the window", open, err)
	}
	if r := failuresTable(t, conn)[meter]; r.status != "resolved" {
		t.Errorf("vee_failures row: %+v, want resolved", r)
	}
	if n := openGauge(t, reg); n != 0 {
		t.Errorf("open failed windows after the retry %g, want 0", n)
	}
}

// TestAnchorsNearTheStoreEdges finds the anchors of spans within the maximum gap of
// 1970-01-01: the search bounds (a span's start less the gap) must not wrap around, so the
// reading before the span is found as anywhere else.
func TestAnchorsNearTheStoreEdges(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	at := func(h, m int) time.Time { return time.Date(1970, 1, 1, h, m, 0, 0, time.UTC) }
	var rs []reading
	for i, ts := range []time.Time{at(0, 15), at(11, 45), at(12, 0), at(12, 15)} {
		rs = append(rs, reading{schema.Reading{MeterID: "V-EPOCH", TS: ts, RegisterWh: int64(100 * i)}, at(13, 0)})
	}
	insertReadings(t, conn, rs)
	clock := at(14, 0)
	j := newJob(t, conn, testConfig(), &clock)
	got, err := j.anchors(context.Background(), []span{{meter: "V-EPOCH", lo: at(12, 0), hi: at(12, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	want := anchors{prev: at(11, 45), next: at(12, 15), hasPrev: true, hasNext: true}
	if len(got) != 1 || got[0] != want {
		t.Errorf("anchors %+v, want %+v", got, want)
	}
}
