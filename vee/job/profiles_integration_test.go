package job

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/calendar"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
)

type profileKey struct{ meter, day string }

type storedProfile struct {
	zone       string
	start      time.Time
	wh         []int64
	intervals  []uint8
	max15      []int64
	max30      []int64
	estimated  []uint8
	edited     []uint8
	subst      []uint8
	substWh    []int64
	computedAt time.Time
}

// profileSnapshot reads consumption_profiles FINAL.
func profileSnapshot(t *testing.T, conn driver.Conn) map[profileKey]storedProfile {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT meter_id, day, time_zone, start, wh, intervals,
    max15_wh, max30_wh, estimated, edited, substituted, substituted_wh, computed_at
FROM consumption_profiles FINAL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[profileKey]storedProfile{}
	for rows.Next() {
		var k profileKey
		var day time.Time
		var p storedProfile
		if err := rows.Scan(&k.meter, &day, &p.zone, &p.start, &p.wh, &p.intervals, &p.max15, &p.max30, &p.estimated, &p.edited, &p.subst, &p.substWh, &p.computedAt); err != nil {
			t.Fatal(err)
		}
		k.day = day.Format(time.DateOnly)
		if _, dup := out[k]; dup {
			t.Errorf("two rows for %v under FINAL", k)
		}
		p.start, p.computedAt = p.start.UTC(), p.computedAt.UTC()
		out[k] = p
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func profilesEqual(a, b map[profileKey]storedProfile) bool {
	return maps.EqualFunc(a, b, func(x, y storedProfile) bool {
		return x.zone == y.zone && x.start.Equal(y.start) && slices.Equal(x.wh, y.wh) && slices.Equal(x.intervals, y.intervals) &&
			slices.Equal(x.max15, y.max15) && slices.Equal(x.max30, y.max30) &&
			slices.Equal(x.estimated, y.estimated) && slices.Equal(x.edited, y.edited) &&
			slices.Equal(x.subst, y.subst) && slices.Equal(x.substWh, y.substWh)
	})
}

// checkProfiles checks every profile against the consumption rows of the same run: one
// element per UTC hour of the local day, wh and interval counts equal to the hour's 1h
// row and 15m rows (0 where there is none), estimated and edited equal to the 1h row's,
// max15_wh equal to the largest 15m row of the hour, max30_wh to the largest of its
// 30-minute blocks of the local clock (found from each 15m row's local time, as billing
// groups them), substituted and substituted_wh to the count and energy of its 15m rows
// with estimated + edited > 0, the sum equal to the day's 1d row, the same computed_at;
// and a profile for every 1d row.
func checkProfiles(t *testing.T, loc *time.Location, rows map[rowKey]stored, ps map[profileKey]storedProfile) {
	t.Helper()
	for k, p := range ps {
		end := calendar.NextDay(p.start, loc)
		if y, m, d := p.start.In(loc).Date(); time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Format(time.DateOnly) != k.day ||
			!calendar.DayStart(p.start, loc).Equal(p.start) || p.zone != loc.String() {
			t.Errorf("%v: start %s, zone %s is not the start of its local day in %s", k, p.start, p.zone, loc)
		}
		if n := int(end.Sub(p.start) / time.Hour); len(p.wh) != n || len(p.intervals) != n || len(p.max15) != n ||
			len(p.max30) != n || len(p.estimated) != n || len(p.edited) != n || len(p.subst) != n || len(p.substWh) != n {
			t.Errorf("%v: %d wh, %d intervals, %d max15, %d max30, %d estimated, %d edited, %d substituted, %d substituted_wh; want %d each",
				k, len(p.wh), len(p.intervals), len(p.max15), len(p.max30), len(p.estimated), len(p.edited), len(p.subst), len(p.substWh), n)
			continue
		}
		var sum int64
		for i := range p.wh {
			h := p.start.Add(time.Duration(i) * time.Hour)
			var quarters, subst uint8
			var max15, max30, substWh int64
			var seen15, seen30 bool
			blocks := map[time.Time]int64{}
			var order []time.Time
			for q := h; q.Before(h.Add(time.Hour)) && q.Before(end); q = q.Add(Interval) {
				r, ok := rows[rowKey{"15m", k.meter, q}]
				if !ok {
					continue
				}
				quarters++
				if !seen15 || r.wh > max15 {
					max15, seen15 = r.wh, true
				}
				if r.estimated+r.edited > 0 {
					subst++
					substWh += r.wh
				}
				b := clockBlock(q, loc)
				if _, ok := blocks[b]; !ok {
					order = append(order, b)
				}
				blocks[b] += r.wh
			}
			for _, b := range order {
				if b.Before(h) || b.Add(30*time.Minute).After(h.Add(time.Hour)) {
					t.Errorf("%v hour %d (%s): the local clock's block at %s is not inside the hour", k, i, h.Format(time.RFC3339), b.Format(time.RFC3339))
				}
				if !seen30 || blocks[b] > max30 {
					max30, seen30 = blocks[b], true
				}
			}
			if p.max15[i] != max15 || p.max30[i] != max30 {
				t.Errorf("%v hour %d (%s): max15 %d, max30 %d; the 15m rows give %d and %d", k, i, h.Format(time.RFC3339), p.max15[i], p.max30[i], max15, max30)
			}
			if p.subst[i] != subst || p.substWh[i] != substWh {
				t.Errorf("%v hour %d (%s): substituted %d, substituted_wh %d; the 15m rows give %d and %d", k, i, h.Format(time.RFC3339), p.subst[i], p.substWh[i], subst, substWh)
			}
			hr, ok := rows[rowKey{"1h", k.meter, h}]
			if !ok {
				hr = stored{}
			}
			if p.estimated[i] != uint8(hr.estimated) || p.edited[i] != uint8(hr.edited) {
				t.Errorf("%v hour %d (%s): estimated %d, edited %d; 1h row %+v", k, i, h.Format(time.RFC3339), p.estimated[i], p.edited[i], hr)
			}
			if p.wh[i] != hr.wh || p.intervals[i] != quarters || uint32(quarters) != hr.intervals+hr.estimated {
				t.Errorf("%v hour %d (%s): wh %d, intervals %d; 1h row %+v, %d 15m rows", k, i, h.Format(time.RFC3339), p.wh[i], p.intervals[i], hr, quarters)
			}
			sum += p.wh[i]
		}
		d, ok := rows[rowKey{"1d", k.meter, p.start}]
		if !ok || d.wh != sum || !d.computedAt.Equal(p.computedAt) {
			t.Errorf("%v: profile sums to %d at %s; 1d row %+v (found %v)", k, sum, p.computedAt, d, ok)
		}
	}
	for k := range rows {
		if k.res != "1d" {
			continue
		}
		y, m, d := k.start.In(loc).Date()
		if _, ok := ps[profileKey{k.meter, time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)}]; !ok {
			t.Errorf("1d row of %s at %s has no profile", k.meter, k.start)
		}
	}
}

// marks returns n counts, 0 but at the given elements.
func marks(n int, at map[int]uint8) []uint8 {
	out := make([]uint8, n)
	for i, v := range at {
		out[i] = v
	}
	return out
}

// lastCovered returns the index of the last element with intervals, or -1.
func lastCovered(p storedProfile) int {
	last := -1
	for i, n := range p.intervals {
		if n > 0 {
			last = i
		}
	}
	return last
}

// TestJobProfiles validates two Europe/Berlin meters over the spring-forward day
// (2026-03-29, 23 hours) and the fall-back day (2026-10-25, 25 hours), with data ending
// mid-morning of the last day, and checks consumption_profiles after the incremental run,
// after a range run over everything (the backfill: rows replaced, not duplicated) and
// after an edit (the recomputed day's profile changes, still one row), with the demand
// determinants and the estimated (a missing reading) and edited counts.
func TestJobProfiles(t *testing.T) {
	ctx := context.Background()
	_, conn := testenv.ClickHouse(t)
	var meters []schema.Meter
	var rs []reading
	gap := time.Date(2026, 3, 28, 10, 15, 0, 0, time.UTC)
	for _, s := range []struct {
		prefix   string
		from, to time.Time
	}{
		{"SPR-", time.Date(2026, 3, 27, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 30, 10, 0, 0, 0, time.UTC)},
		{"FAL-", time.Date(2026, 10, 23, 0, 0, 0, 0, time.UTC), time.Date(2026, 10, 26, 9, 0, 0, 0, time.UTC)},
	} {
		f, err := sim.New(sim.Config{Meters: 1, From: s.from, To: s.to, Interval: Interval, Seed: 5, IDPrefix: s.prefix, TimeZone: "Europe/Berlin"})
		if err != nil {
			t.Fatal(err)
		}
		meters = append(meters, f.Meters()...)
		var r schema.Reading
		for f.Next(&r) {
			// A missing reading: the spring meter's quarters 10:00Z and 10:15Z of
			// 2026-03-28 (element 11 of the local day from 23:00Z) are estimated.
			if r.TS.Equal(gap) {
				continue
			}
			rs = append(rs, reading{r, r.TS.Add(time.Minute)})
		}
	}
	if err := schema.InsertMeters(ctx, conn, meters); err != nil {
		t.Fatal(err)
	}
	insertReadings(t, conn, rs)
	spring, fall := meters[0].MeterID, meters[1].MeterID

	cfg := testConfig()
	cfg.Lateness = 0
	clock := time.Date(2026, 10, 26, 9, 10, 0, 0, time.UTC)
	j := newJob(t, conn, cfg, &clock)
	r1 := runAt(t, j, &clock, clock)
	if r1.Failed != 0 {
		t.Fatalf("failures: %v", r1.Failures)
	}
	first := profileSnapshot(t, conn)
	checkProfiles(t, berlin, snapshot(t, conn), first)
	if p := first[profileKey{spring, "2026-03-28"}]; !slices.Equal(p.estimated, marks(24, map[int]uint8{11: 2})) ||
		!slices.Equal(p.edited, marks(24, nil)) {
		t.Errorf("2026-03-28 with the 10:15Z reading missing: estimated %v, edited %v; want 2 estimated in element 11", p.estimated, p.edited)
	}
	// The two estimated quarters are substituted, with their energy.
	rows1 := snapshot(t, conn)
	var estWh int64
	for _, q := range []time.Time{gap.Add(-Interval), gap} {
		r, ok := rows1[rowKey{"15m", spring, q}]
		if !ok || r.estimated != 1 {
			t.Errorf("15m row at %s: %+v (found %v), want estimated", q, r, ok)
		}
		estWh += r.wh
	}
	if p := first[profileKey{spring, "2026-03-28"}]; !slices.Equal(p.subst, marks(24, map[int]uint8{11: 2})) ||
		p.substWh[11] != estWh || estWh <= 0 {
		t.Errorf("2026-03-28: substituted %v, substituted_wh %v; want 2 and %d Wh in element 11", p.subst, p.substWh, estWh)
	}

	// The days, their lengths and the last hour with data.
	for _, c := range []struct {
		meter, day  string
		hours, last int
	}{
		{spring, "2026-03-27", 24, 23},
		{spring, "2026-03-28", 24, 23},
		{spring, "2026-03-29", 23, 22},
		{spring, "2026-03-30", 24, 11}, // data ends at 10:00Z, 12:00 CEST
		{fall, "2026-10-23", 24, 23},
		{fall, "2026-10-24", 24, 23},
		{fall, "2026-10-25", 25, 24},
		{fall, "2026-10-26", 24, 9}, // data ends at 09:00Z, 10:00 CET
	} {
		p, ok := first[profileKey{c.meter, c.day}]
		if !ok {
			t.Errorf("no profile of %s on %s", c.meter, c.day)
			continue
		}
		if len(p.wh) != c.hours || lastCovered(p) != c.last {
			t.Errorf("%s %s: %d hours, last with data %d; want %d and %d (%v)", c.meter, c.day, len(p.wh), lastCovered(p), c.hours, c.last, p.intervals)
		}
		for i := c.last + 1; i < len(p.wh); i++ {
			if p.wh[i] != 0 || p.intervals[i] != 0 {
				t.Errorf("%s %s hour %d after the data: wh %d, intervals %d", c.meter, c.day, i, p.wh[i], p.intervals[i])
			}
		}
		if c.last >= 0 && c.last < len(p.wh) && p.intervals[c.last] != 4 {
			t.Errorf("%s %s hour %d: %d intervals, want 4", c.meter, c.day, c.last, p.intervals[c.last])
		}
	}
	if len(first) != 8 {
		t.Errorf("%d profiles, want 8: %v", len(first), slices.Collect(maps.Keys(first)))
	}

	// The backfill path: a range run rewrites every profile, replacing it.
	clock = clock.Add(time.Minute)
	r2, err := j.RunRange(ctx, time.Date(2026, 3, 26, 0, 0, 0, 0, time.UTC), time.Date(2026, 10, 27, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	second := profileSnapshot(t, conn)
	if !profilesEqual(second, first) {
		t.Errorf("the range run changed the profiles:\n%v\nwant\n%v", second, first)
	}
	for k, p := range second {
		if !p.computedAt.Equal(r2.ComputedAt) {
			t.Errorf("%v computed at %s, want the range run's %s", k, p.computedAt, r2.ComputedAt)
		}
	}
	checkProfiles(t, berlin, snapshot(t, conn), second)

	// An edit of the repeated hour 02:00-03:00 CET of 2026-10-25 (01:00Z, element 3).
	clock = clock.Add(time.Minute)
	wh := int64(1000)
	if _, ok, err := j.AddEdit(ctx, fall, "tester", EditRequest{Start: "2026-10-25T01:00:00Z", End: "2026-10-25T02:00:00Z", Wh: &wh, Reason: "test"}); err != nil || !ok {
		t.Fatalf("edit: recomputed %v, %v", ok, err)
	}
	third := profileSnapshot(t, conn)
	if len(third) != len(first) {
		t.Errorf("%d profiles after the edit, want %d", len(third), len(first))
	}
	p := third[profileKey{fall, "2026-10-25"}]
	if len(p.wh) != 25 || p.wh[3] != 4000 || p.intervals[3] != 4 || !p.computedAt.After(r2.ComputedAt) {
		t.Errorf("edited day: %+v, want 4000 Wh in element 3, recomputed after %s", p, r2.ComputedAt)
	}
	// The four edited quarters of 1000 Wh: element 3's largest quarter is 1000, its
	// blocks 2000 each, and its four rows substituted with 4000 Wh; element 4's blocks
	// hold only simulated quarters, well under 1000 Wh in any half hour (a sliding
	// window 01:45Z-02:15Z would have held 1000 Wh and more).
	if len(p.max15) != 25 || p.max15[3] != 1000 || p.max30[3] != 2000 || p.max30[4] <= 0 || p.max30[4] >= 1000 ||
		!slices.Equal(p.edited, marks(25, map[int]uint8{3: 4})) || !slices.Equal(p.estimated, marks(25, nil)) ||
		!slices.Equal(p.subst, marks(25, map[int]uint8{3: 4})) || !slices.Equal(p.substWh, append(append(make([]int64, 3), 4000), make([]int64, 21)...)) {
		t.Errorf("edited day: max15 %v, max30 %v, edited %v, estimated %v, substituted %v, substituted_wh %v; want 1000 and 2000 in element 3, "+
			"element 4's max30 in (0, 1000), 4 edited and substituted with 4000 Wh in element 3", p.max15, p.max30, p.edited, p.estimated, p.subst, p.substWh)
	}
	if q := third[profileKey{spring, "2026-03-29"}]; !q.computedAt.Equal(r2.ComputedAt) {
		t.Errorf("the edit recomputed another meter's profile (computed at %s)", q.computedAt)
	}
	checkProfiles(t, berlin, snapshot(t, conn), third)
}

// TestProfilesOldRows checks what rows written without the newer columns hold on the
// server: a row written naming only the columns of migration 0030 (as before migration
// 0043) has empty demand, estimated, edited and substituted arrays; one naming the
// columns of 0043 but not those of 0045 (as the VEE job wrote before 0045, with the
// older max30_wh) has empty substituted and substituted_wh arrays, which tells readers
// it is not computed yet (a range run rewrites them, as TestJobProfiles checks for every
// day).
func TestProfilesOldRows(t *testing.T) {
	ctx := context.Background()
	_, conn := testenv.ClickHouse(t)
	b, err := conn.PrepareBatch(ctx, `INSERT INTO consumption_profiles (day, meter_id, time_zone, start, wh, intervals, computed_at)`)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(ts("2026-03-27T00:00:00Z"), "OLD1", "Europe/Berlin", ts("2026-03-26T23:00:00Z"), []int64{1, 2}, []uint8{4, 4},
		ts("2026-03-27T12:00:00Z")); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	b, err = conn.PrepareBatch(ctx, `INSERT INTO consumption_profiles (day, meter_id, time_zone, start, wh, intervals, max15_wh, max30_wh, estimated, edited, computed_at)`)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(ts("2026-03-27T00:00:00Z"), "OLD2", "Europe/Berlin", ts("2026-03-26T23:00:00Z"), []int64{1, 2}, []uint8{4, 4},
		[]int64{1, 1}, []int64{1, 2}, []uint8{0, 1}, []uint8{0, 0}, ts("2026-03-27T12:00:00Z")); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	ps := profileSnapshot(t, conn)
	p, ok := ps[profileKey{"OLD1", "2026-03-27"}]
	if !ok || !slices.Equal(p.wh, []int64{1, 2}) || p.max15 == nil || len(p.max15) != 0 || len(p.max30) != 0 ||
		len(p.estimated) != 0 || len(p.edited) != 0 || p.subst == nil || len(p.subst) != 0 || p.substWh == nil || len(p.substWh) != 0 {
		t.Errorf("0030 row: %+v (found %v), want empty demand, estimated, edited and substituted arrays", p, ok)
	}
	p, ok = ps[profileKey{"OLD2", "2026-03-27"}]
	if !ok || !slices.Equal(p.max30, []int64{1, 2}) || !slices.Equal(p.estimated, []uint8{0, 1}) ||
		p.subst == nil || len(p.subst) != 0 || p.substWh == nil || len(p.substWh) != 0 {
		t.Errorf("0043 row: %+v (found %v), want its demand arrays and empty substituted arrays", p, ok)
	}
	var notComputed uint64
	if err := conn.QueryRow(ctx, `SELECT count() FROM consumption_profiles FINAL WHERE length(substituted) = 0`).Scan(&notComputed); err != nil {
		t.Fatal(err)
	}
	if notComputed != 2 {
		t.Errorf("%d rows with length(substituted) = 0, want both old rows", notComputed)
	}
}
