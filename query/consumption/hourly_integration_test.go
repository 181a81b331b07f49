package consumption_test

import (
	"context"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/query/consumption"
	"github.com/meterhouse/meterhouse/schema"
)

// reading is one stored register reading.
type reading struct {
	meter string
	ts    time.Time
	reg   int64
}

// insertReadings stores rs in one INSERT, so that each call leaves its own parts.
func insertReadings(t *testing.T, conn driver.Conn, rs []reading) {
	t.Helper()
	ctx := context.Background()
	b, err := conn.PrepareBatch(ctx, "INSERT INTO readings (meter_id, ts, register_wh, quality)")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if err := b.Append(r.meter, r.ts, r.reg, uint8(0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// expected computes a meter's raw consumption over [from, to) in UTC steps of step (1h or
// 1d) from its distinct readings, as the API defines it: a reading stamped ts belongs to
// the hour of ts - 1 s, the register of a step is its latest reading's, a point is its
// step's register minus the one of the latest step with data before it.
func expected(rs []reading, meter string, from, to time.Time, step time.Duration) []consumption.Point {
	last := map[time.Time]reading{}
	for _, r := range rs {
		if r.meter != meter {
			continue
		}
		b := r.ts.Add(-time.Second).Truncate(time.Hour).Truncate(step)
		if l, ok := last[b]; !ok || r.ts.After(l.ts) {
			last[b] = r
		}
	}
	var prev int64
	hasPrev := false
	var before time.Time
	for b := range last {
		if b.Before(from) && (before.IsZero() || b.After(before)) {
			before = b
		}
	}
	if !before.IsZero() {
		prev, hasPrev = last[before].reg, true
	}
	points := []consumption.Point{}
	for b := from; b.Before(to); b = b.Add(step) {
		r, ok := last[b]
		if !ok {
			continue
		}
		if hasPrev {
			points = append(points, consumption.Point{Start: b, Wh: r.reg - prev})
		}
		prev, hasPrev = r.reg, true
	}
	return points
}

// TestRawHourlyReplaysAndLateReadings checks raw hourly and daily consumption, read from
// hourly_registers, against the readings themselves after a replay of half of them and
// late readings of earlier and later minutes, each in its own INSERT (so the table holds
// unmerged rows of the same hours), for a meter reading every 15 minutes and one silent
// for five days before the range (whose first point needs the register from before the
// lookback). It then empties hourly_registers and refills it with migration 0058's
// backfill from readings_hourly: the answers stay the same.
func TestRawHourlyReplaysAndLateReadings(t *testing.T) {
	cfg, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	svc, err := consumption.New(consumption.DefaultConfig(), conn)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	var all, first, late []reading
	add := func(meter string, from, to time.Time) {
		reg := int64(1_000_000)
		if len(all) > 0 && all[len(all)-1].meter == meter {
			reg = all[len(all)-1].reg
		}
		for ts := from; ts.Before(to); ts = ts.Add(15 * time.Minute) {
			reg += 1 + rng.Int64N(300)
			r := reading{meter, ts, reg}
			all = append(all, r)
			if rng.IntN(10) == 0 { // a reading that arrives late, in its own insert
				late = append(late, r)
			} else {
				first = append(first, r)
			}
		}
	}
	add("M-15", t0.Add(15*time.Minute), t0.Add(4*24*time.Hour))
	add("M-SILENT", t0.Add(15*time.Minute), t0.Add(24*time.Hour))
	add("M-SILENT", t0.Add(7*24*time.Hour+15*time.Minute), t0.Add(9*24*time.Hour))
	insertReadings(t, conn, first)
	var replay []reading
	for _, r := range first {
		if rng.IntN(2) == 0 {
			replay = append(replay, r)
		}
	}
	insertReadings(t, conn, replay)
	insertReadings(t, conn, late)
	insertReadings(t, conn, late[:len(late)/2])

	cases := []struct {
		meter    string
		from, to time.Time
	}{
		{"M-15", t0.Add(24 * time.Hour), t0.Add(4 * 24 * time.Hour)},
		{"M-15", t0, t0.Add(2 * 24 * time.Hour)},
		{"M-SILENT", t0.Add(7 * 24 * time.Hour), t0.Add(9 * 24 * time.Hour)},
	}
	check := func(stage string) {
		for _, c := range cases {
			for _, step := range []consumption.Step{consumption.Step1h, consumption.Step1d} {
				want := expected(all, c.meter, c.from, c.to, step.Duration())
				got, err := svc.Consumption(ctx, consumption.Request{MeterID: c.meter, From: c.from, To: c.to, Step: step})
				if err != nil {
					t.Fatal(err)
				}
				for i := range got.Points {
					got.Points[i].Start = got.Points[i].Start.UTC()
				}
				if !reflect.DeepEqual(got.Points, want) {
					t.Errorf("%s: %s %s from %s: %d points\n%v\nwant %d\n%v", stage, c.meter, step, c.from.Format(time.RFC3339), len(got.Points), got.Points, len(want), want)
				}
			}
		}
	}
	check("after replays and late readings")
	if t.Failed() {
		return
	}
	var rows uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM hourly_registers").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if hours := len(all) / 4; rows <= uint64(hours) {
		t.Fatalf("hourly_registers holds %d rows for about %d hours: the test needs unmerged duplicates", rows, hours)
	}

	// Migration 0058's backfill gives the same table from readings_hourly.
	if err := conn.Exec(ctx, "TRUNCATE TABLE hourly_registers"); err != nil {
		t.Fatal(err)
	}
	caps, err := schema.Detect(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	backfill := migrationStatements(t, caps, cfg.Database, 58)
	if err := conn.Exec(ctx, backfill[len(backfill)-1]); err != nil {
		t.Fatal(err)
	}
	check("after the backfill")
}

// migrationStatements returns the statements of migration version, rendered for caps.
func migrationStatements(t *testing.T, caps schema.Capabilities, database string, version uint32) []string {
	t.Helper()
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version == version {
			stmts, err := m.Statements(caps, database)
			if err != nil {
				t.Fatal(err)
			}
			if last := stmts[len(stmts)-1]; !strings.Contains(last, "INSERT INTO hourly_registers") {
				t.Fatalf("migration %d ends with %q, not the backfill", version, last)
			}
			return stmts
		}
	}
	t.Fatalf("no migration %d", version)
	return nil
}

// TestValidatedRewrittenWindow stores a meter's validated hours, then a recomputation of
// some of them with a later computed_at, in two INSERTs (two unmerged parts): the answer
// holds each hour once, with the recomputed values where there are some, as FINAL gives.
func TestValidatedRewrittenWindow(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	svc, err := consumption.New(consumption.DefaultConfig(), conn)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	computed := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	write := func(hours []int, wh func(int) int64, quality uint8, at time.Time) {
		t.Helper()
		b, err := conn.PrepareBatch(ctx, `INSERT INTO consumption (resolution, meter_id, start, wh, quality, intervals,
			expected_intervals, estimated, edited, questionable, flags, reasons, computed_at)`)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hours {
			if err := b.Append("1h", "V-1", t0.Add(time.Duration(h)*time.Hour), wh(h), quality, uint32(3), uint32(4),
				uint32(1), uint32(0), uint32(0), []string{}, []string{}, at); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	var all, redone []int
	for h := range 48 {
		all = append(all, h)
		if h%3 == 0 {
			redone = append(redone, h)
		}
	}
	ask := func() consumption.Consumption {
		t.Helper()
		got, err := svc.Consumption(ctx, consumption.Request{MeterID: "V-1", From: t0, To: t0.Add(48 * time.Hour),
			Step: consumption.Step1h, Source: consumption.SourceValidated})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	write(all, func(h int) int64 { return int64(100 + h) }, 9, computed)
	if got := ask(); len(got.Points) != 48 || got.Points[47].Wh != 147 || *got.Points[0].Completeness != 0.75 {
		t.Fatalf("before the recomputation: %d points, %+v", len(got.Points), got.Points)
	}
	write(redone, func(h int) int64 { return int64(1000 + h) }, 0, computed.Add(time.Second))
	got := ask()
	if len(got.Points) != 48 {
		t.Fatalf("%d points, want 48 (each hour once): %+v", len(got.Points), got.Points)
	}
	for i, p := range got.Points {
		want, q := int64(100+i), uint8(9)
		if i%3 == 0 {
			want, q = int64(1000+i), 0
		}
		if !p.Start.Equal(t0.Add(time.Duration(i)*time.Hour)) || p.Wh != want || *p.Quality != q {
			t.Errorf("point %d: %s %d Wh quality %d, want %s %d Wh quality %d", i, p.Start, p.Wh, *p.Quality,
				t0.Add(time.Duration(i)*time.Hour), want, q)
		}
	}
}
