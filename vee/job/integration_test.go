package job

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
	"github.com/meterhouse/meterhouse/vee"
)

// testRegMax is the register modulus of the test fleet, small enough that an injected
// rollover happens inside the simulated week.
const testRegMax = 100_000_000

// reading is a stored reading with its ingestion time.
type reading struct {
	schema.Reading
	ingested time.Time
}

// fleetData is a simulated fleet with injected faults.
type fleetData struct {
	meters   []schema.Meter
	readings []reading // everything the meters reported, faults included
	// The meters that got each fault.
	gapShort, gapLong, spike, rollover, late string
	unknown                                  string
	spikeAt                                  time.Time
	lateFrom, lateTo                         time.Time
}

var berlin = mustLoad("Europe/Berlin")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// simulate runs the simulator over [from, to] and injects faults: a short gap, a gap of
// 30 hours across midnight, a spike (a register jump), a register rollover, readings of
// a meter missing from the registry, and a run of readings that arrive late. Each reading
// is ingested a minute after its timestamp, except the late ones.
func simulate(t *testing.T, meters int, from, to time.Time, lateAt time.Time) fleetData {
	t.Helper()
	f, err := sim.New(sim.Config{Meters: meters, From: from, To: to, Interval: Interval, Seed: 11,
		IDPrefix: "V-", TimeZone: "Europe/Berlin"})
	if err != nil {
		t.Fatal(err)
	}
	d := fleetData{meters: slices.Clone(f.Meters())}
	// Two feeders, so that feeder roll-ups have more than one group.
	for i := range d.meters {
		if i%2 == 1 {
			d.meters[i].Feeder = "FDR-TEST-B"
		}
	}
	ids := make([]string, len(d.meters))
	for i, m := range d.meters {
		ids[i] = m.MeterID
	}
	d.gapShort, d.gapLong, d.spike, d.rollover, d.late = ids[0], ids[1], ids[2], ids[3], ids[4]
	d.unknown = "V-UNKNOWN"
	mid := from.Add(to.Sub(from) / 2).Truncate(time.Hour)
	d.spikeAt = mid.Add(-5 * time.Hour)
	d.lateFrom, d.lateTo = mid.Add(4*time.Hour), mid.Add(8*time.Hour)
	gapLong := [2]time.Time{mid.Add(-30 * time.Hour).Truncate(24 * time.Hour).Add(20 * time.Hour), time.Time{}}
	gapLong[1] = gapLong[0].Add(30 * time.Hour) // longer than the first anchor search

	var regMid int64
	var all []schema.Reading
	var r schema.Reading
	for f.Next(&r) {
		all = append(all, r)
		if r.MeterID == d.rollover && r.TS.Equal(mid) {
			regMid = r.RegisterWh
		}
	}
	for _, r := range all {
		switch {
		case r.MeterID == d.gapShort && r.TS.After(mid.Add(2*time.Hour)) && r.TS.Before(mid.Add(4*time.Hour)):
			continue
		case r.MeterID == d.gapLong && r.TS.After(gapLong[0]) && r.TS.Before(gapLong[1]):
			continue
		case r.MeterID == d.spike && !r.TS.Before(d.spikeAt):
			r.RegisterWh += 50_000
		case r.MeterID == d.rollover:
			r.RegisterWh = (r.RegisterWh + testRegMax - regMid) % testRegMax
		}
		ing := r.TS.Add(time.Minute)
		if r.MeterID == d.late && r.TS.After(d.lateFrom) && r.TS.Before(d.lateTo) {
			ing = lateAt
		}
		d.readings = append(d.readings, reading{r, ing})
		if r.MeterID == d.gapShort { // the same series again, for a meter not in the registry
			u := r
			u.MeterID = d.unknown
			d.readings = append(d.readings, reading{u, ing})
		}
	}
	return d
}

// insertReadings writes readings with their ingestion times, in blocks of equal ingestion
// hour as ingest would have.
func insertReadings(t *testing.T, conn driver.Conn, rs []reading) {
	t.Helper()
	ctx := context.Background()
	slices.SortStableFunc(rs, func(a, b reading) int { return a.ingested.Compare(b.ingested) })
	for len(rs) > 0 {
		n := 1
		for n < len(rs) && rs[n].ingested.Truncate(6*time.Hour).Equal(rs[0].ingested.Truncate(6*time.Hour)) {
			n++
		}
		b, err := conn.PrepareBatch(ctx, "INSERT INTO readings (meter_id, ts, register_wh, quality, ingested_at)")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs[:n] {
			if err := b.Append(r.MeterID, r.TS, r.RegisterWh, uint8(0), r.ingested); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
		rs = rs[n:]
	}
}

// testConfig is the job configuration of the tests: the rollover register of the test
// fleet, and short histories.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Settle = 0
	rs := vee.DefaultRuleSet()
	rs.Rollover.RegisterMaxWh = testRegMax
	rs.Rollover.MaxPowerW = 10_000_000
	rs.DailyUsage.MinHistoryDays = 2
	cfg.Rules = Rules{vee.Config{Default: rs}}
	cfg.BatchMeters = 7 // several batches even for a small fleet
	return cfg
}

func newJob(t *testing.T, conn driver.Conn, cfg Config, now *time.Time) *Job {
	t.Helper()
	j, err := New(cfg, conn, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	j.now = func() time.Time { return *now }
	return j
}

// stored is a snapshot of a consumption row without its version.
type stored struct {
	wh                                                   int64
	quality                                              uint8
	intervals, expected, estimated, edited, questionable uint32
	flags                                                string
	computedAt                                           time.Time
}

type rowKey struct {
	res, meter string
	start      time.Time
}

func snapshot(t *testing.T, conn driver.Conn) map[rowKey]stored {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT resolution, meter_id, start, wh, quality, intervals, expected_intervals,
    estimated, edited, questionable, flags, computed_at FROM consumption FINAL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[rowKey]stored{}
	for rows.Next() {
		var k rowKey
		var s stored
		var flags []string
		if err := rows.Scan(&k.res, &k.meter, &k.start, &s.wh, &s.quality, &s.intervals, &s.expected, &s.estimated,
			&s.edited, &s.questionable, &flags, &s.computedAt); err != nil {
			t.Fatal(err)
		}
		k.start = k.start.UTC()
		s.flags = fmt.Sprint(flags)
		s.computedAt = s.computedAt.UTC()
		out[k] = s
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

type groupKey struct {
	res, kind, id string
	start         time.Time
}

type groupRow struct {
	wh                                                   int64
	meters, intervals, expected, estimated, questionable uint32
}

func groupSnapshot(t *testing.T, conn driver.Conn) map[groupKey]groupRow {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT resolution, group_kind, group_id, start, wh, meters, intervals,
    expected_intervals, estimated, questionable FROM group_consumption FINAL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[groupKey]groupRow{}
	for rows.Next() {
		var k groupKey
		var g groupRow
		if err := rows.Scan(&k.res, &k.kind, &k.id, &k.start, &g.wh, &g.meters, &g.intervals, &g.expected, &g.estimated, &g.questionable); err != nil {
			t.Fatal(err)
		}
		k.start = k.start.UTC()
		out[k] = g
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func withoutVersions(m map[rowKey]stored) map[rowKey]stored {
	out := make(map[rowKey]stored, len(m))
	for k, v := range m {
		v.computedAt = time.Time{}
		out[k] = v
	}
	return out
}

// The simulated week: it holds the 25-hour day of 2026-10-25 in Berlin.
var (
	simFrom = time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC)
	simTo   = time.Date(2026, 10, 27, 0, 0, 0, 0, time.UTC)
	// cut splits the week into what the first run sees and the rest.
	cut    = time.Date(2026, 10, 22, 0, 0, 0, 0, time.UTC)
	lateAt = time.Date(2026, 10, 27, 0, 10, 0, 0, time.UTC)
)

// loadFleet simulates the test fleet, writes its registry (without the unknown meter) and
// returns it.
func loadFleet(t *testing.T, conn driver.Conn, meters int) fleetData {
	t.Helper()
	d := simulate(t, meters, simFrom, simTo, lateAt)
	if err := schema.InsertMeters(context.Background(), conn, d.meters); err != nil {
		t.Fatal(err)
	}
	return d
}

// split returns the readings ingested in (after, upTo].
func (d fleetData) split(after, upTo time.Time) []reading {
	var out []reading
	for _, r := range d.readings {
		if r.ingested.After(after) && !r.ingested.After(upTo) {
			out = append(out, r)
		}
	}
	return out
}

// runAt runs the incremental job with the clock at now.
func runAt(t *testing.T, j *Job, clock *time.Time, now time.Time) Result {
	t.Helper()
	*clock = now
	res, err := j.Run(context.Background())
	if err != nil {
		t.Fatalf("run at %s: %v", now, err)
	}
	t.Logf("run at %s: %+v", now.Format(time.RFC3339), res)
	return res
}

// TestJobFleet runs the job three times over a simulated week with injected gaps, a
// spike, a rollover, an unknown meter and late data, and checks the invariant, the
// incremental recomputation, the flags and the roll-ups.
func TestJobFleet(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	d := loadFleet(t, conn, 24)
	var clock time.Time
	j := newJob(t, conn, testConfig(), &clock)

	run1 := cut.Add(5 * time.Minute)
	run2 := simTo.Add(5 * time.Minute)
	run3 := lateAt.Add(5 * time.Minute)
	insertReadings(t, conn, d.split(time.Time{}, run1))
	r1 := runAt(t, j, &clock, run1)
	if r1.Meters != len(d.meters)+1 {
		t.Errorf("first run computed %d meters, want %d", r1.Meters, len(d.meters)+1)
	}
	insertReadings(t, conn, d.split(run1, run2))
	r2 := runAt(t, j, &clock, run2)
	before := snapshot(t, conn)
	insertReadings(t, conn, d.split(run2, run3))
	r3 := runAt(t, j, &clock, run3)
	if r3.Meters != 1 {
		t.Errorf("late data run computed %d meters, want 1 (%s)", r3.Meters, d.late)
	}
	after := snapshot(t, conn)
	if !r2.ComputedAt.After(r1.ComputedAt) || !r3.ComputedAt.After(r2.ComputedAt) {
		t.Fatalf("computed_at not increasing: %s %s %s", r1.ComputedAt, r2.ComputedAt, r3.ComputedAt)
	}

	t.Run("only touched windows recomputed", func(t *testing.T) {
		changed := 0
		for k, v := range after {
			b, ok := before[k]
			switch {
			case v.computedAt.Equal(r3.ComputedAt):
				changed++
				if k.meter != d.late {
					t.Fatalf("late data for %s recomputed %v", d.late, k)
				}
			case !ok:
				t.Fatalf("row %v appeared without being recomputed", k)
			case b != v:
				t.Fatalf("row %v changed without being recomputed: %+v → %+v", k, b, v)
			}
		}
		// The late readings fall on one local day: its 15m, 1h and 1d rows and its month.
		if want := 96 + 24 + 1 + 1; changed != want {
			t.Errorf("%d rows recomputed by the late data, want %d", changed, want)
		}
		lateDay := localMidnight(d.lateFrom, berlin)
		k := rowKey{"1d", d.late, lateDay}
		if b, a := before[k], after[k]; b.estimated == 0 || a.estimated != 0 || a.intervals != a.expected {
			t.Errorf("late day %s: before %+v, after %+v; want the estimates replaced by measured intervals", lateDay, b, a)
		}
		// More than 72 hours late: kept, and flagged.
		if r := after[rowKey{"15m", d.late, d.lateFrom}]; !containsFlag(r.flags, vee.RuleTimestamp) || r.questionable != 1 {
			t.Errorf("late interval %s: %+v, want flagged timestamp", d.lateFrom, r)
		}
	})

	t.Run("invariant", func(t *testing.T) {
		checkInvariant(t, d, after)
	})

	t.Run("flags and quality", func(t *testing.T) {
		k := rowKey{"15m", d.spike, d.spikeAt.Add(-Interval)}
		if r := after[k]; r.wh < 50_000 || r.questionable != 1 || !containsFlag(r.flags, vee.RuleSpike) {
			t.Errorf("spike interval %v: %+v; want ≥ 50000 Wh flagged spike", k.start, r)
		}
		var rolled, unknown, gaps int
		for k, r := range after {
			if k.res != "15m" {
				continue
			}
			if k.meter == d.rollover && containsFlag(r.flags, vee.RuleRollover) {
				rolled++
				if r.wh < 0 || r.wh > 100_000 {
					t.Errorf("rollover interval %v: %d Wh", k.start, r.wh)
				}
			}
			if k.meter == d.unknown {
				if !containsFlag(r.flags, vee.RuleUnknownMeter) || r.questionable != 1 {
					t.Fatalf("unknown meter interval %v: %+v", k.start, r)
				}
				unknown++
			}
			if k.meter == d.gapLong && r.estimated == 1 {
				gaps++
				if !vee.Quality(r.quality).IsEstimated() || !containsFlag(r.flags, vee.RuleMissing) {
					t.Errorf("estimated interval %v: %+v", k.start, r)
				}
			}
		}
		if rolled != 1 {
			t.Errorf("%d intervals flagged rollover, want 1", rolled)
		}
		if unknown == 0 {
			t.Error("the unknown meter has no rows")
		}
		if gaps != 30*4 {
			t.Errorf("%d estimated intervals in the long gap, want 120", gaps)
		}
	})

	t.Run("group roll-ups equal the sum of their meters", func(t *testing.T) {
		checkGroups(t, conn, d, after)
	})

	t.Run("25-hour day", func(t *testing.T) {
		day := time.Date(2026, 10, 25, 0, 0, 0, 0, berlin).UTC()
		r := after[rowKey{"1d", d.meters[10].MeterID, day}]
		if r.expected != 100 || r.intervals != 100 {
			t.Errorf("1d row of 2026-10-25: %+v, want 100 expected and present intervals", r)
		}
	})

	// The history the job reads from the profiles is the one the 15m rows give, for every
	// meter (the unknown one included) over the whole simulated range, late data and
	// estimates included.
	t.Run("profile history equals the 15m history", func(t *testing.T) {
		ids := []string{d.unknown}
		for _, m := range d.meters {
			ids = append(ids, m.MeterID)
		}
		slices.Sort(ids)
		from, to := simFrom.AddDate(0, 0, -1), simTo.AddDate(0, 0, 1)
		fromProfiles, fromRows := map[string][]vee.HistoryInterval{}, map[string][]vee.HistoryInterval{}
		legacy, err := j.loadProfileHistory(context.Background(), fromProfiles, nil, ids, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if len(legacy) != 0 {
			t.Errorf("meters %v read as written before migration 0060", legacy)
		}
		if err := j.loadIntervalHistory(context.Background(), fromRows, ids, from, to); err != nil {
			t.Fatal(err)
		}
		if len(fromRows) != len(ids) {
			t.Fatalf("15m history of %d meters, want %d", len(fromRows), len(ids))
		}
		for _, id := range ids {
			if !slices.Equal(fromProfiles[id], fromRows[id]) {
				t.Errorf("meter %s: %d intervals from the profiles, %d from the 15m rows, or different ones", id,
					len(fromProfiles[id]), len(fromRows[id]))
			}
		}
	})

	t.Run("rerun changes nothing", func(t *testing.T) {
		res := runAt(t, j, &clock, run3.Add(time.Minute))
		if res.Windows != 0 {
			t.Errorf("a run without new data recomputed %d windows", res.Windows)
		}
		if again := snapshot(t, conn); !maps.Equal(after, again) {
			diffRows(t, after, again)
		}
	})
}

func containsFlag(flags, rule string) bool {
	return slices.Contains(splitFlags(flags), rule)
}

func splitFlags(s string) []string {
	s = s[1 : len(s)-1]
	if s == "" {
		return nil
	}
	var out []string
	start := 0
	for i := range len(s) + 1 {
		if i == len(s) || s[i] == ' ' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func diffRows(t *testing.T, a, b map[rowKey]stored) {
	t.Helper()
	n := 0
	for k, v := range a {
		w, ok := b[k]
		v.computedAt, w.computedAt = time.Time{}, time.Time{}
		if !ok || v != w {
			t.Errorf("row %v: %+v vs %+v (present %v)", k, v, w, ok)
			if n++; n > 10 {
				break
			}
		}
	}
	if len(a) != len(b) {
		t.Errorf("%d rows vs %d", len(a), len(b))
	}
}

// checkInvariant checks that for every meter and local day whose registers at both
// midnights were reported, the 15m rows and the 1d row add up to the register difference
// (modulo the register maximum).
func checkInvariant(t *testing.T, d fleetData, rows map[rowKey]stored) {
	t.Helper()
	reg := map[string]map[time.Time]int64{}
	for _, r := range d.readings {
		if reg[r.MeterID] == nil {
			reg[r.MeterID] = map[time.Time]int64{}
		}
		reg[r.MeterID][r.TS] = r.RegisterWh
	}
	// Days are local to the meter; a meter missing from the registry has UTC days.
	zone := func(m string) *time.Location {
		if m == d.unknown {
			return time.UTC
		}
		return berlin
	}
	sums := map[rowKey]int64{}
	for k, r := range rows {
		if k.res == "15m" {
			sums[rowKey{"1d", k.meter, localMidnight(k.start, zone(k.meter))}] += r.wh
		}
	}
	checked := 0
	for m, byTS := range reg {
		loc := zone(m)
		for day := localMidnight(simFrom, loc); day.Before(simTo); day = nextMidnight(day.Add(Interval), loc) {
			end := nextMidnight(day.Add(Interval), loc)
			a, okA := byTS[day]
			b, okB := byTS[end]
			if !okA || !okB {
				continue
			}
			want := ((b-a)%testRegMax + testRegMax) % testRegMax
			k := rowKey{"1d", m, day}
			if got := sums[k]; got != want {
				t.Errorf("meter %s day %s: 15m rows sum to %d Wh, registers differ by %d Wh", m, day, got, want)
			}
			if got := rows[k].wh; got != want {
				t.Errorf("meter %s day %s: 1d row %d Wh, registers differ by %d Wh", m, day, got, want)
			}
			checked++
		}
	}
	if checked < len(reg)*5 {
		t.Errorf("only %d meter-days checked", checked)
	}
}

// checkGroups recomputes every group roll-up from the per-meter 15m rows and the registry
// and compares it with group_consumption.
func checkGroups(t *testing.T, conn driver.Conn, d fleetData, rows map[rowKey]stored) {
	t.Helper()
	byID := map[string]schema.Meter{}
	for _, m := range d.meters {
		byID[m.MeterID] = m
	}
	want := map[groupKey]groupRow{}
	members := map[groupKey]map[string]bool{}
	for k, r := range rows {
		if k.res != "15m" {
			continue
		}
		m, known := byID[k.meter]
		groups := map[schema.GroupKind]string{schema.KindFleet: schema.FleetID}
		if known {
			groups[schema.KindFeeder], groups[schema.KindRegion], groups[schema.KindCustomerClass], groups[schema.KindTariff] = m.Feeder, m.Region, m.CustomerClass, m.Tariff
		}
		for kind, id := range groups {
			for res, start := range map[string]time.Time{"15m": k.start, "1h": k.start.Truncate(time.Hour), "1d": k.start.Truncate(24 * time.Hour)} {
				gk := groupKey{res, string(kind), id, start}
				g := want[gk]
				g.wh += r.wh
				g.intervals += r.intervals
				g.expected += r.expected
				g.estimated += r.estimated
				g.questionable += r.questionable
				if members[gk] == nil {
					members[gk] = map[string]bool{}
				}
				members[gk][k.meter] = true
				g.meters = uint32(len(members[gk]))
				want[gk] = g
			}
		}
	}
	got := groupSnapshot(t, conn)
	if len(got) != len(want) {
		t.Errorf("%d group rows, want %d", len(got), len(want))
	}
	n := 0
	for k, w := range want {
		if g := got[k]; g != w {
			t.Errorf("group %v: %+v, want %+v", k, g, w)
			if n++; n > 10 {
				return
			}
		}
	}
}

// TestJobReplaySafe crashes a run after each write step, reruns it, and checks that the
// tables equal those of a run without the crash; it also replays readings.
func TestJobReplaySafe(t *testing.T) {
	from := time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 10, 23, 0, 0, 0, 0, time.UTC)
	d := simulate(t, 8, from, to, to.Add(time.Minute))
	now := to.Add(10 * time.Minute)

	_, ref := testenv.ClickHouse(t)
	if err := schema.InsertMeters(context.Background(), ref, d.meters); err != nil {
		t.Fatal(err)
	}
	insertReadings(t, ref, d.readings)
	clock := now
	runAt(t, newJob(t, ref, testConfig(), &clock), &clock, now)
	want, wantGroups, wantProfiles := withoutVersions(snapshot(t, ref)), groupSnapshot(t, ref), profileSnapshot(t, ref)
	if len(want) == 0 || len(wantProfiles) == 0 {
		t.Fatal("the reference run wrote nothing")
	}

	for _, step := range []string{"15m", "coarse", "meters", "groups", "failures"} {
		t.Run("crash after "+step, func(t *testing.T) {
			_, conn := testenv.ClickHouse(t)
			if err := schema.InsertMeters(context.Background(), conn, d.meters); err != nil {
				t.Fatal(err)
			}
			insertReadings(t, conn, d.readings)
			clock := now
			j := newJob(t, conn, testConfig(), &clock)
			crash := errors.New("crash")
			j.afterStep = func(s string) error {
				if s == step {
					return crash
				}
				return nil
			}
			if _, err := j.Run(context.Background()); !errors.Is(err, crash) {
				t.Fatalf("run: %v, want the crash", err)
			}
			j.afterStep = nil
			// A replay of some readings between the crash and the rerun changes nothing.
			insertReadings(t, conn, d.readings[:len(d.readings)/3])
			clock = now.Add(time.Second)
			runAt(t, j, &clock, clock)
			if got := withoutVersions(snapshot(t, conn)); !maps.Equal(got, want) {
				diffRows(t, got, want)
			}
			if got := groupSnapshot(t, conn); !maps.Equal(got, wantGroups) {
				t.Errorf("group roll-ups differ after the crash: %d rows vs %d", len(got), len(wantGroups))
			}
			if got := profileSnapshot(t, conn); !profilesEqual(got, wantProfiles) {
				t.Errorf("consumption_profiles differ after the crash: %d rows vs %d", len(got), len(wantProfiles))
			}
		})
	}
}
