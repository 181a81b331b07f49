package job

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/vee"
)

// relayRow is a row of control_relay.
type relayRow struct {
	meter, state, source, command string
	at, recorded                  time.Time
}

func insertRelay(t *testing.T, conn driver.Conn, private string, rows ...relayRow) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), "INSERT INTO "+private+".control_relay (meter_id, at, state, source, command_id, recorded_at)")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := b.Append(r.meter, r.at, r.state, r.source, r.command, r.recorded); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// reasonsOf reads the reasons of a meter's 15m rows, by start.
func reasonsOf(t *testing.T, conn driver.Conn, meter string) map[time.Time][]string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT start, reasons FROM consumption FINAL WHERE resolution = '15m' AND meter_id = ?", meter)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[time.Time][]string{}
	for rows.Next() {
		var s time.Time
		var rs []string
		if err := rows.Scan(&s, &rs); err != nil {
			t.Fatal(err)
		}
		out[s.UTC()] = rs
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestJobKnowsTheRelay runs the job over a day of three meters with relay history in
// control_relay: R1 consumed while disconnected (06:00-12:00), R2 has a gap across its
// disconnect and reconnect, R3 was armed before the day and misses readings. R1's relay
// rows arrive late, after the first run: the next incremental run recomputes its day.
func TestJobKnowsTheRelay(t *testing.T) {
	cfg, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	private := cfg.PrivateDatabase()
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	hm := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	var meters []schema.Meter
	for _, id := range []string{"R1", "R2", "R3"} {
		meters = append(meters, schema.Meter{MeterID: id, CustomerClass: "residential", Feeder: "F1", Region: "north",
			Tariff: "T1", TimeZone: "UTC", Status: "active", UpdatedAt: day.AddDate(0, -1, 0)})
	}
	if err := schema.InsertMeters(ctx, conn, meters); err != nil {
		t.Fatal(err)
	}
	// use returns a meter's energy in the quarter ending at ts.
	uses := map[string]func(ts time.Time) int64{
		"R1": func(time.Time) int64 { return 100 },
		"R2": func(ts time.Time) int64 {
			if ts.After(hm(6, 0)) && !ts.After(hm(12, 0)) {
				return 0
			}
			return 100
		},
		"R3": func(ts time.Time) int64 {
			if ts.Equal(hm(8, 15)) {
				return 50 // the quarter 08:00-08:15: a bypass
			}
			return 0
		},
	}
	missing := map[string]func(ts time.Time) bool{
		"R1": func(time.Time) bool { return false },
		"R2": func(ts time.Time) bool { return ts.After(hm(5, 0)) && ts.Before(hm(14, 0)) },
		"R3": func(ts time.Time) bool { return ts.After(hm(2, 0)) && ts.Before(hm(4, 0)) },
	}
	var rs []reading
	for _, m := range meters {
		reg := int64(1_000_000)
		for ts := day; !ts.After(day.AddDate(0, 0, 1)); ts = ts.Add(Interval) {
			if ts.After(day) {
				reg += uses[m.MeterID](ts)
			}
			if !missing[m.MeterID](ts) {
				rs = append(rs, reading{schema.Reading{MeterID: m.MeterID, TS: ts, RegisterWh: reg}, ts.Add(time.Minute)})
			}
		}
	}
	insertReadings(t, conn, rs)
	insertRelay(t, conn, private,
		relayRow{"R2", "disconnected", "command", "c2", hm(6, 0), hm(6, 1)},
		relayRow{"R2", "connected", "command", "c3", hm(12, 0), hm(12, 1)},
		// An older history of R3: only its latest state before the day counts.
		relayRow{"R3", "disconnected", "command", "c4", day.AddDate(0, 0, -3), day.AddDate(0, 0, -3)},
		relayRow{"R3", "connected", "event", "", day.AddDate(0, 0, -2), day.AddDate(0, 0, -2)},
		relayRow{"R3", "armed", "event", "", day.Add(-4 * time.Hour), day.Add(-4 * time.Hour)},
	)

	tc := testConfig()
	tc.Rules.Default.DailyUsage.Enabled = false // no history: the rule would only skip
	tc.Rules.Default.Spike.Enabled = false
	clock := day.AddDate(0, 0, 1).Add(10 * time.Minute)
	j := newJob(t, conn, tc, &clock)
	if res := runAt(t, j, &clock, clock); res.Failed != 0 {
		t.Fatalf("failures: %v", res.Failures)
	}
	rows := snapshot(t, conn)
	q := func(meter string, h, m int) stored { return rows[rowKey{"15m", meter, hm(h, m)}] }
	const flag = vee.RuleConsumptionWhileDisconnected

	// R1 has no relay rows yet: connected, nothing flagged.
	for ts := day; ts.Before(day.AddDate(0, 0, 1)); ts = ts.Add(Interval) {
		if got := rows[rowKey{"15m", "R1", ts}]; got.wh != 100 || got.flags != "[]" {
			t.Fatalf("R1 at %s before its relay rows: %+v", ts, got)
		}
	}

	// R2: the gap 05:00-14:00 holds 1200 Wh; the relay was open 06:00-12:00, so those
	// quarters are estimated 0 Wh and the connected ones share the 1200 Wh.
	var sum int64
	for ts := hm(5, 0); ts.Before(hm(14, 0)); ts = ts.Add(Interval) {
		got := rows[rowKey{"15m", "R2", ts}]
		sum += got.wh
		open := !ts.Before(hm(6, 0)) && ts.Before(hm(12, 0))
		switch {
		case got.estimated != 1:
			t.Errorf("R2 at %s not estimated: %+v", ts, got)
		case open && (got.wh != 0 || got.quality != uint8(vee.QualityOther)):
			t.Errorf("R2 at %s, relay open: %+v, want 0 Wh of quality 16", ts, got)
		case !open && got.wh != 100:
			t.Errorf("R2 at %s, relay closed: %+v, want 100 Wh", ts, got)
		case strings.Contains(got.flags, flag) || strings.Contains(got.flags, vee.RuleZeroRun):
			t.Errorf("R2 at %s flagged: %+v", ts, got)
		}
	}
	if sum != 1200 {
		t.Errorf("R2's gap sums to %d Wh, want the register difference 1200", sum)
	}
	r2 := reasonsOf(t, conn, "R2")
	if rs := strings.Join(r2[hm(7, 0)], "|"); !strings.Contains(rs, "relay disconnected since 2026-11-02T06:00:00Z (command c2): no power flows, estimated 0 Wh") {
		t.Errorf("R2 at 07:00 reasons: %s", rs)
	}

	// R3: armed since 20:00 the day before; the gap 02:00-04:00 is zeros, the 50 Wh of
	// 08:00 are flagged with the state and since when.
	for ts := hm(2, 0); ts.Before(hm(4, 0)); ts = ts.Add(Interval) {
		if got := rows[rowKey{"15m", "R3", ts}]; got.wh != 0 || got.estimated != 1 || strings.Contains(got.flags, flag) {
			t.Errorf("R3 at %s: %+v, want an estimated 0 Wh", ts, got)
		}
	}
	if got := q("R3", 8, 0); got.wh != 50 || got.flags != "["+flag+"]" || got.questionable != 1 || got.quality != uint8(vee.QualityQuestionable) {
		t.Errorf("R3 at 08:00: %+v, want 50 Wh flagged %s", got, flag)
	}
	if rs := strings.Join(reasonsOf(t, conn, "R3")[hm(8, 0)], "|"); rs != flag+": 50 Wh measured while the relay armed since 2026-11-01T20:00:00Z (event) (tolerance 0 Wh): possible tamper or bypass" {
		t.Errorf("R3 at 08:00 reasons: %s", rs)
	}
	if got := rows[rowKey{"1h", "R3", hm(8, 0)}]; got.flags != "["+flag+"]" || got.questionable != 1 {
		t.Errorf("R3's 08:00 hour: %+v, want the flag carried on one questionable quarter", got)
	}
	if got := rows[rowKey{"1d", "R3", day}]; !strings.Contains(got.flags, flag) {
		t.Errorf("R3's day: %+v, want the flag carried", got)
	}
	if got := rows[rowKey{"1h", "R3", hm(9, 0)}]; strings.Contains(got.flags, flag) {
		t.Errorf("R3's 09:00 hour flagged: %+v", got)
	}

	// R1's relay rows arrive late: the next run, without new readings, recomputes its day.
	late := clock.Add(time.Minute)
	insertRelay(t, conn, private,
		relayRow{"R1", "disconnected", "command", "c1", hm(6, 0), late},
		relayRow{"R1", "connected", "command", "c5", hm(12, 0), late},
	)
	if res := runAt(t, j, &clock, clock.Add(5*time.Minute)); res.Failed != 0 || res.Meters != 1 {
		t.Fatalf("run after R1's relay rows: %+v, want R1 recomputed", res)
	}
	rows = snapshot(t, conn)
	flagged := 0
	for ts := day; ts.Before(day.AddDate(0, 0, 1)); ts = ts.Add(Interval) {
		got := rows[rowKey{"15m", "R1", ts}]
		open := !ts.Before(hm(6, 0)) && ts.Before(hm(12, 0))
		if got.wh != 100 || strings.Contains(got.flags, flag) != open {
			t.Errorf("R1 at %s (relay open %v): %+v", ts, open, got)
		}
		if open {
			flagged++
		}
	}
	if got := rows[rowKey{"1d", "R1", day}]; !strings.Contains(got.flags, flag) || got.questionable != uint32(flagged) {
		t.Errorf("R1's day: %+v, want %s on %d questionable quarters", got, flag, flagged)
	}

	// A replay decides the same: recomputing the day changes no value, flag or count.
	clock = clock.Add(5 * time.Minute)
	if _, err := j.RunRange(ctx, day, day.AddDate(0, 0, 1)); err != nil {
		t.Fatal(err)
	}
	again := snapshot(t, conn)
	if len(again) != len(rows) {
		t.Errorf("the replay left %d rows, the run %d", len(again), len(rows))
	}
	for k, want := range rows {
		got := again[k]
		got.computedAt, want.computedAt = time.Time{}, time.Time{}
		if got != want {
			t.Errorf("replay changed %v: %+v, was %+v", k, got, want)
		}
	}

	// The flag is queryable like any other: an analyst finds the bypasses of the day.
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM consumption FINAL WHERE resolution = '15m' AND has(flags, ?)", flag).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != uint64(flagged+1) {
		t.Errorf("%d 15m rows flagged %s, want %d (R1's and R3's)", n, flag, flagged+1)
	}
}

// TestJobRelayWithinASecond checks that two relay states of a meter within one second
// follow at_ns (migration 0057), not an arbitrary order: S1 was disconnected and
// reconnected at 05:59:59, .2 s apart, so it is connected after and its consumption is
// not flagged; S2 the other way round is disconnected, and flagged. A row without at_ns
// (written before the migration, S3's) is read by its at.
func TestJobRelayWithinASecond(t *testing.T) {
	cfg, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	private := cfg.PrivateDatabase()
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	var meters []schema.Meter
	for _, id := range []string{"S1", "S2", "S3"} {
		meters = append(meters, schema.Meter{MeterID: id, CustomerClass: "residential", Feeder: "F1", Region: "north",
			Tariff: "T1", TimeZone: "UTC", Status: "active", UpdatedAt: day.AddDate(0, -1, 0)})
	}
	if err := schema.InsertMeters(ctx, conn, meters); err != nil {
		t.Fatal(err)
	}
	var rs []reading
	for _, m := range meters {
		reg := int64(1_000_000)
		for ts := day; !ts.After(day.AddDate(0, 0, 1)); ts = ts.Add(Interval) {
			if ts.After(day) {
				reg += 100
			}
			rs = append(rs, reading{schema.Reading{MeterID: m.MeterID, TS: ts, RegisterWh: reg}, ts.Add(time.Minute)})
		}
	}
	insertReadings(t, conn, rs)
	sec := day.Add(6*time.Hour - time.Second)
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+private+".control_relay (meter_id, at, at_ns, state, source, command_id, recorded_at)")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		meter, state, source, command string
		after                         time.Duration
	}{
		{"S1", "disconnected", "command", "c1", 300 * time.Millisecond},
		{"S1", "connected", "event", "", 500 * time.Millisecond},
		{"S2", "connected", "event", "", 300 * time.Millisecond},
		{"S2", "disconnected", "command", "c2", 500 * time.Millisecond},
	} {
		at := sec.Add(r.after)
		if err := b.Append(r.meter, sec, at.UnixNano(), r.state, r.source, r.command, sec); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	insertRelay(t, conn, private, relayRow{"S3", "disconnected", "command", "c3", sec, sec})

	tc := testConfig()
	tc.Rules.Default.DailyUsage.Enabled = false
	tc.Rules.Default.Spike.Enabled = false
	clock := day.AddDate(0, 0, 1).Add(10 * time.Minute)
	j := newJob(t, conn, tc, &clock)
	if res := runAt(t, j, &clock, clock); res.Failed != 0 {
		t.Fatalf("failures: %v", res.Failures)
	}
	rows := snapshot(t, conn)
	const flag = vee.RuleConsumptionWhileDisconnected
	for meter, open := range map[string]bool{"S1": false, "S2": true, "S3": true} {
		for _, ts := range []time.Time{day.Add(5 * time.Hour), day.Add(6 * time.Hour), day.Add(20 * time.Hour)} {
			want := open && !ts.Before(day.Add(6*time.Hour))
			if got := rows[rowKey{"15m", meter, ts}]; strings.Contains(got.flags, flag) != want {
				t.Errorf("%s at %s: %+v, want flagged %v", meter, ts.Format("15:04"), got, want)
			}
		}
	}
	if rs := strings.Join(reasonsOf(t, conn, "S2")[day.Add(7*time.Hour)], "|"); !strings.Contains(rs, "since 2026-11-02T05:59:59") {
		t.Errorf("S2 at 07:00 reasons: %s", rs)
	}
}
