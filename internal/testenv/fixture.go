package testenv

import (
	"slices"
	"time"
)

// FixtureIngestedAt is when ReadFixture's readings were ingested: the start of the hour a
// day before the test binary started.
var FixtureIngestedAt = time.Now().UTC().Truncate(time.Hour).Add(-24 * time.Hour)

// ReadFixture returns the inserts of a small fixture of the read paths and the VEE job,
// loaded alike into 18.16 and chDB (CompareWithChDB): three meters in two feeders (the
// registry with an older version of one entry, and a fourth meter without data), two days
// of 15-minute readings around the daylight-saving change of Europe/Berlin (2026-03-28
// and 29, UTC) with a six-hour gap in M2's (10:00-16:00 on the 28th) and a replayed
// delivery of M1, the validated 15m and 1h rows and group roll-ups (fleet "all", feeders
// F1 and F2) a VEE run would write for them, each also with an older, replaced version so
// that FINAL matters, three edits, two runs and two failures (M2's resolved, M3's open).
//
// The readings are ingested at FixtureIngestedAt (the replay an hour later), a recent time,
// since readings_arrivals keeps 100 days on servers with TTL.
func ReadFixture() []Insert {
	type meter struct{ id, feeder, class string }
	meters := []meter{{"M1", "F1", "residential"}, {"M2", "F1", "commercial"}, {"M3", "F2", "residential"}}
	start := time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC)
	const quarters = 2 * 96
	at := func(q int) time.Time { return start.Add(time.Duration(q) * 15 * time.Minute) }
	day := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, time.UTC) }

	registry := func(rows ...[]any) Insert {
		return Insert{"meters", []string{"meter_id", "customer_class", "feeder", "region", "tariff", "time_zone", "life_support", "status", "updated_at"}, rows}
	}
	newer := registry()
	for _, m := range meters {
		newer.Rows = append(newer.Rows, []any{m.id, m.class, m.feeder, "north", "T1", "Europe/Berlin", uint8(0), "active", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)})
	}
	// M4 is registered in F1 but has no data: the quality join must give it zeros.
	newer.Rows = append(newer.Rows, []any{"M4", "residential", "F1", "north", "T1", "UTC", uint8(0), "active", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)})
	inserts := []Insert{registry([]any{"M3", "industrial", "F1", "south", "T2", "UTC", uint8(0), "active", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}), newer}

	// Readings end quarter q (1..quarters); vals[m][q-1] is the validated 15m row of the
	// quarter that the reading at q closes.
	readingCols := []string{"meter_id", "ts", "register_wh", "quality", "ingested_at"}
	readings, replay := Insert{"readings", readingCols, nil}, Insert{"readings", readingCols, nil}
	vals := map[string][]interval{}
	for mi, m := range meters {
		reg := int64(1_000_000 * (mi + 1))
		for q := 1; q <= quarters; q++ {
			inc := int64(10 + (q*7+mi*13)%50)
			reg += inc
			v := interval{wh: inc, intervals: 1, expected: 1}
			switch {
			case m.id == "M2" && q > 40 && q <= 64: // 10:00-16:00 of the first day: a gap, estimated
				v = interval{wh: inc, quality: 9, expected: 1, estimated: 1, flags: []string{"missing"}}
			case m.id == "M3" && q == 50:
				v.quality, v.questionable, v.flags = 10, 1, []string{"spike", "daily_usage"}
			}
			vals[m.id] = append(vals[m.id], v)
			if v.intervals == 0 {
				continue
			}
			readings.Rows = append(readings.Rows, []any{m.id, at(q), reg, uint8(0), FixtureIngestedAt})
			if m.id == "M1" && q > 100 && q <= 110 { // delivered twice
				replay.Rows = append(replay.Rows, []any{m.id, at(q), reg, uint8(0), FixtureIngestedAt.Add(time.Hour)})
			}
		}
	}
	inserts = append(inserts, readings, replay)

	// The per-meter and group rows, first an older version with other values, then the one
	// FINAL must return.
	for _, version := range []struct {
		computed time.Time
		scale    int64
	}{{day(30, 3), 3}, {day(30, 4), 1}} {
		cons := Insert{"consumption", []string{"resolution", "meter_id", "start", "wh", "quality", "intervals", "expected_intervals", "estimated", "edited", "questionable", "flags", "reasons", "computed_at"}, nil}
		groups := Insert{"group_consumption", []string{"resolution", "group_kind", "group_id", "start", "wh", "meters", "intervals", "expected_intervals", "estimated", "questionable", "computed_at"}, nil}
		for _, res := range []struct {
			name string
			n    int
		}{{"15m", 1}, {"1h", 4}} {
			for q := 0; q < quarters; q += res.n {
				var fleet interval
				feeders := map[string]*interval{"F1": {}, "F2": {}}
				for _, m := range meters {
					v := sumIntervals(vals[m.id][q : q+res.n])
					v.wh *= version.scale
					cons.Rows = append(cons.Rows, []any{res.name, m.id, at(q), v.wh, v.quality, uint32(v.intervals), uint32(v.expected),
						uint32(v.estimated), uint32(0), uint32(v.questionable), append([]string{}, v.flags...), []string{}, version.computed})
					fleet.add(v)
					feeders[m.feeder].add(v)
				}
				for _, g := range []struct {
					kind, id string
					v        *interval
				}{{"fleet", "all", &fleet}, {"feeder", "F1", feeders["F1"]}, {"feeder", "F2", feeders["F2"]}} {
					groups.Rows = append(groups.Rows, []any{res.name, g.kind, g.id, at(q), g.v.wh, uint32(g.v.meters), uint32(g.v.intervals),
						uint32(g.v.expected), uint32(g.v.estimated), uint32(g.v.questionable), version.computed})
				}
			}
		}
		inserts = append(inserts, cons, groups)
	}

	// Two edits of M1, a run history, and one failure resolved later and one still open.
	edits := Insert{"consumption_edits", []string{"edit_id", "meter_id", "start", "end", "wh", "mode", "reason", "author", "previous_wh", "created_at"}, [][]any{
		{"e1", "M1", day(28, 8), day(28, 9), int64(400), "set", "meter exchange", "ana", int64(120), day(30, 5)},
		{"e2", "M1", day(29, 20), day(29, 21), int64(0), "set", "outage", "ana", int64(90), day(30, 6)},
		{"e3", "M3", day(28, 12), day(28, 13), int64(50), "set", "check", "bob", int64(60), day(30, 7)},
	}}
	runs := Insert{"vee_runs", []string{"run_id", "kind", "started_at", "finished_at", "watermark", "computed_at", "meters", "windows", "intervals"}, [][]any{
		{"r1", "incremental", day(30, 3), day(30, 3), day(30, 2), day(30, 3), uint32(3), uint32(6), uint64(576)},
		{"r2", "incremental", day(30, 4), day(30, 4), day(30, 3), day(30, 4), uint32(3), uint32(6), uint64(576)},
	}}
	failureCols := []string{"meter_id", "window_start", "window_end", "status", "reason", "message", "first_failed_at", "attempts", "run_id", "computed_at"}
	failures := Insert{"vee_failures", failureCols, [][]any{
		{"M2", day(28, 0), day(29, 0), "failed", "edit", "edit e0: start: off the grid", day(30, 3), uint32(1), "r1", day(30, 3)},
		{"M3", day(29, 0), day(30, 0), "failed", "input", "ts: outside DateTime", day(30, 3), uint32(1), "r1", day(30, 3)},
	}}
	resolved := Insert{"vee_failures", failureCols, [][]any{
		{"M2", day(28, 0), day(29, 0), "resolved", "edit", "edit e0: start: off the grid", day(30, 3), uint32(2), "r2", day(30, 4)},
	}}
	// Profiles: M2's of 27 and 28 March (one version each: chDB may merge versions at
	// once), and M3's of 28 March as written before its 15m arrays existed (migration 0060).
	profileCols := []string{"day", "meter_id", "time_zone", "start", "wh", "intervals", "max15_wh", "max30_wh", "estimated", "edited",
		"substituted", "substituted_wh", "slot", "slot_wh", "slot_quality", "computed_at"}
	hourly := func(n int, v int64) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = v
		}
		return out
	}
	counts := func(v ...uint8) []uint8 { return append(make([]uint8, 24-len(v)), v...) }
	profiles := Insert{"consumption_profiles", profileCols, [][]any{
		{day(27, 0), "M2", "UTC", day(27, 0), hourly(24, 0), counts(4), hourly(24, 0), hourly(24, 0), counts(), counts(), counts(), hourly(24, 0),
			[]uint8{92, 93, 94, 95}, []int64{10, 11, 12, 13}, []uint8{0, 0, 1, 3}, day(30, 3)},
		{day(28, 0), "M2", "UTC", day(28, 0), hourly(24, 0), counts(2), hourly(24, 0), hourly(24, 0), counts(), counts(), counts(), hourly(24, 0),
			[]uint8{94, 95}, []int64{20, 21}, []uint8{0, 0}, day(30, 4)},
		{day(28, 0), "M3", "UTC", day(28, 0), hourly(24, 5), counts(4), hourly(24, 0), hourly(24, 0), counts(), counts(), counts(), hourly(24, 0),
			[]uint8{}, []int64{}, []uint8{}, day(30, 3)},
	}}
	return append(inserts, edits, runs, failures, resolved, profiles)
}

// interval is one validated row of the fixture, or a sum of them.
type interval struct {
	wh                                                   int64
	quality                                              uint8
	meters, intervals, expected, estimated, questionable int
	flags                                                []string
}

// add adds a meter's row to a group's.
func (g *interval) add(v interval) {
	g.wh += v.wh
	g.meters++
	g.intervals += v.intervals
	g.expected += v.expected
	g.estimated += v.estimated
	g.questionable += v.questionable
}

// sumIntervals combines 15m rows into a coarser one as the VEE job does: quality is the
// common code, else 13 (mixed); the flags are the distinct rule names.
func sumIntervals(vs []interval) interval {
	out := interval{quality: vs[0].quality}
	for _, v := range vs {
		out.wh += v.wh
		out.intervals += v.intervals
		out.expected += v.expected
		out.estimated += v.estimated
		out.questionable += v.questionable
		if v.quality != out.quality {
			out.quality = 13
		}
		for _, f := range v.flags {
			if !slices.Contains(out.flags, f) {
				out.flags = append(out.flags, f)
			}
		}
	}
	return out
}
