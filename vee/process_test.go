package vee

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin for the daylight-saving tests, whatever the host has.
)

// t0 is a Monday, midnight UTC.
var t0 = time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)

const (
	q15  = 15 * time.Minute
	skip = -1 // marks a missing reading in regs
)

// at returns the k-th 15-minute grid point from t0.
func at(k int) time.Time { return t0.Add(time.Duration(k) * q15) }

// regs returns one reading per 15 minutes from t0, leaving out skip values.
func regs(vals ...int64) []Reading {
	var rs []Reading
	for i, v := range vals {
		if v != skip {
			rs = append(rs, Reading{TS: at(i), RegisterWh: v})
		}
	}
	return rs
}

// input returns a known meter's n-interval window from t0.
func input(n int, rs []Reading) Input {
	return Input{MeterID: "m1", Known: true, Interval: q15, From: t0, To: at(n), Readings: rs}
}

// quiet returns the default rules without the history-based rules, so that
// scenarios without history raise no meter flags.
func quiet() RuleSet {
	r := DefaultRuleSet()
	r.Spike.Enabled = false
	r.DailyUsage.Enabled = false
	return r
}

func whs(out Output) []int64 {
	v := make([]int64, len(out.Intervals))
	for i, iv := range out.Intervals {
		v[i] = iv.Wh
	}
	return v
}

func quals(out Output) []Quality {
	v := make([]Quality, len(out.Intervals))
	for i, iv := range out.Intervals {
		v[i] = iv.Quality
	}
	return v
}

func ruleNames(fl []Flag) string {
	names := make([]string, len(fl))
	for i, f := range fl {
		names[i] = f.Rule
	}
	return strings.Join(names, ",")
}

func flagNames(out Output) []string {
	v := make([]string, len(out.Intervals))
	for i, iv := range out.Intervals {
		v[i] = ruleNames(iv.Flags)
	}
	return v
}

const (
	est  = "estimation"
	miss = "missing,estimation"
)

func TestProcessScenarios(t *testing.T) {
	now := t0.Add(48 * time.Hour)
	tests := []struct {
		name      string
		in        Input
		rules     func(*RuleSet)
		now       time.Time
		wantWh    []int64
		wantQ     []Quality
		wantFlags []string // rule names per interval
		wantMeter string   // meter-level rule names
	}{
		{name: "clean",
			in:     input(4, regs(1000, 1100, 1250, 1300, 1300)),
			wantWh: []int64{100, 150, 50, 0}, wantQ: []Quality{0, 0, 0, 0},
			wantFlags: []string{"", "", "", ""}},
		// 10 Wh over 3 intervals: 4, 3, 3.
		{name: "short gap interpolated",
			in:     input(4, regs(1000, skip, skip, 1010, 1100)),
			wantWh: []int64{4, 3, 3, 90}, wantQ: []Quality{9, 9, 9, 0},
			wantFlags: []string{miss, miss, miss, ""}},
		// −10 Wh over 3 intervals: −4, −3, −3; kept and flagged.
		{name: "negative across a gap",
			in:     input(4, regs(50_000, skip, skip, 49_990, 50_100)),
			wantWh: []int64{-4, -3, -3, 110}, wantQ: []Quality{9, 9, 9, 0},
			wantFlags: []string{"negative," + miss, "negative," + miss, "negative," + miss, ""}},
		{name: "negative interval kept",
			in:     input(2, regs(50_000, 49_990, 50_010)),
			wantWh: []int64{-10, 20}, wantQ: []Quality{10, 0},
			wantFlags: []string{"negative", ""}},
		// 1 000 000 − 999 950 + 30 = 80.
		{name: "rollover",
			in:     func() Input { in := input(3, regs(999_900, 999_950, 30, 100)); in.RegisterMaxWh = 1_000_000; return in }(),
			wantWh: []int64{50, 80, 70}, wantQ: []Quality{0, 0, 0},
			wantFlags: []string{"", "rollover", ""}},
		// The boundary interval is flat-filled with the mean of the good interval before it.
		{name: "meter replacement",
			in:     input(4, regs(500_000, 500_100, 20, 80, 150)),
			wantWh: []int64{100, 100, 60, 70}, wantQ: []Quality{0, 16, 0, 0},
			wantFlags: []string{"", "replacement," + est, "", ""}, wantMeter: "replacement"},
		// Mean of 40 and 60.
		{name: "one-sided at the start",
			in:     input(4, regs(skip, skip, 1000, 1040, 1100)),
			wantWh: []int64{50, 50, 40, 60}, wantQ: []Quality{16, 16, 0, 0},
			wantFlags: []string{miss, miss, "", ""}},
		{name: "one-sided at the end",
			in:     input(4, regs(1000, 1040, 1100)),
			wantWh: []int64{40, 60, 50, 50}, wantQ: []Quality{0, 0, 16, 16},
			wantFlags: []string{"", "", miss, miss}},
		{name: "flat fill skips questionable intervals",
			in:     input(4, regs(50_000, 50_040, 50_030, 50_100)),
			wantWh: []int64{40, -10, 70, 55}, wantQ: []Quality{0, 10, 0, 16},
			wantFlags: []string{"", "negative", "", miss}},
		{name: "no readings, no history",
			in:     input(2, nil),
			wantWh: []int64{0, 0}, wantQ: []Quality{16, 16},
			wantFlags: []string{miss, miss}},
		// Gap from the anchor at −2 to 1: 301 Wh over 3 intervals = 101, 100, 100; the window holds the third.
		{name: "anchor before the window",
			in: input(2, []Reading{
				{TS: at(-2), RegisterWh: 1000}, {TS: at(-5), RegisterWh: 1}, // the farther one is ignored
				{TS: at(1), RegisterWh: 1301}, {TS: at(2), RegisterWh: 1401},
			}),
			wantWh: []int64{100, 100}, wantQ: []Quality{9, 0},
			wantFlags: []string{miss, ""}},
		// Gap from 1 to the anchor at 4: 300 Wh over 3 = 100 each; the window holds the first.
		{name: "anchor after the window",
			in: input(2, []Reading{
				{TS: at(0), RegisterWh: 1000}, {TS: at(1), RegisterWh: 1050},
				{TS: at(4), RegisterWh: 1350}, {TS: at(6), RegisterWh: 1},
			}),
			wantWh: []int64{50, 100}, wantQ: []Quality{0, 9},
			wantFlags: []string{"", miss}},
		{name: "conflicting duplicate, latest arrival wins",
			in: input(2, []Reading{
				{TS: at(0), RegisterWh: 1000},
				{TS: at(1), RegisterWh: 1120, Arrival: at(2)},
				{TS: at(1), RegisterWh: 1100, Arrival: at(1)},
				{TS: at(2), RegisterWh: 1200},
			}),
			wantWh: []int64{120, 80}, wantQ: []Quality{10, 10},
			wantFlags: []string{"duplicate", "duplicate"}},
		{name: "equal duplicates merge silently",
			in:     input(2, append(regs(1000, 1100, 1200), Reading{TS: at(1), RegisterWh: 1100})),
			wantWh: []int64{100, 100}, wantQ: []Quality{0, 0},
			wantFlags: []string{"", ""}},
		{name: "off-grid reading not used",
			in: input(2, []Reading{
				{TS: at(0), RegisterWh: 1000}, {TS: at(1).Add(7 * time.Minute), RegisterWh: 1050}, {TS: at(2), RegisterWh: 1200},
			}),
			wantWh: []int64{100, 100}, wantQ: []Quality{9, 9},
			wantFlags: []string{miss, "interval_size," + miss}},
		{name: "small clock offset snapped",
			in: input(2, []Reading{
				{TS: at(0).Add(-20 * time.Second), RegisterWh: 1000}, {TS: at(1).Add(10 * time.Second), RegisterWh: 1050},
				{TS: at(2), RegisterWh: 1200},
			}),
			wantWh: []int64{50, 150}, wantQ: []Quality{0, 0},
			wantFlags: []string{"", ""}},
		{name: "readings every 30 minutes",
			in:     input(4, regs(1000, skip, 1100, skip, 1300)),
			wantWh: []int64{50, 50, 100, 100}, wantQ: []Quality{9, 9, 9, 9},
			wantFlags: []string{miss, miss, miss, miss}, wantMeter: "interval_size"},
		{name: "future reading",
			in:     input(2, regs(1000, 1100, 1200)),
			now:    at(1).Add(time.Minute), // the reading at 2 is 14 minutes ahead
			wantWh: []int64{100, 100}, wantQ: []Quality{0, 10},
			wantFlags: []string{"", "timestamp"}},
		{name: "reading stamped after its arrival",
			in: input(2, []Reading{
				{TS: at(0), RegisterWh: 1000}, {TS: at(1), RegisterWh: 1100, Arrival: at(1).Add(-6 * time.Minute)},
				{TS: at(2), RegisterWh: 1200},
			}),
			wantWh: []int64{100, 100}, wantQ: []Quality{10, 10},
			wantFlags: []string{"timestamp", "timestamp"}},
		{name: "late reading",
			in: input(2, []Reading{
				{TS: at(0), RegisterWh: 1000}, {TS: at(1), RegisterWh: 1100, Arrival: at(1).Add(73 * time.Hour)},
				{TS: at(2), RegisterWh: 1200, Arrival: at(2).Add(72 * time.Hour)},
			}),
			now:    at(400),
			wantWh: []int64{100, 100}, wantQ: []Quality{10, 10},
			wantFlags: []string{"timestamp", "timestamp"}},
		{name: "unknown meter",
			in:     func() Input { in := input(2, regs(1000, 1100, 1200)); in.Known = false; return in }(),
			wantWh: []int64{100, 100}, wantQ: []Quality{10, 10},
			wantFlags: []string{"unknown_meter", "unknown_meter"}, wantMeter: "unknown_meter"},
		{name: "unknown meter rule disabled",
			in:     func() Input { in := input(2, regs(1000, 1100, 1200)); in.Known = false; return in }(),
			rules:  func(r *RuleSet) { r.UnknownMeter.Enabled = false },
			wantWh: []int64{100, 100}, wantQ: []Quality{0, 0},
			wantFlags: []string{"", ""}},
		{name: "zero run of one hour",
			in:     input(5, regs(1000, 1000, 1000, 1000, 1000, 1010)),
			rules:  func(r *RuleSet) { r.ZeroRun.MinDuration = time.Hour },
			wantWh: []int64{0, 0, 0, 0, 10}, wantQ: []Quality{10, 10, 10, 10, 0},
			wantFlags: []string{"zero_run", "zero_run", "zero_run", "zero_run", ""}},
		{name: "zero run too short",
			in:     input(5, regs(1000, 1000, 1000, 1000, 1010, 1020)),
			rules:  func(r *RuleSet) { r.ZeroRun.MinDuration = time.Hour },
			wantWh: []int64{0, 0, 0, 10, 10}, wantQ: []Quality{0, 0, 0, 0, 0},
			wantFlags: []string{"", "", "", "", ""}},
		{name: "zero run through an interpolated gap",
			in:     input(5, regs(1000, 1000, skip, 1000, 1000, 1005)),
			rules:  func(r *RuleSet) { r.ZeroRun.MinDuration = time.Hour },
			wantWh: []int64{0, 0, 0, 0, 5}, wantQ: []Quality{10, 9, 9, 10, 0},
			wantFlags: []string{"zero_run", miss + ",zero_run", miss + ",zero_run", "zero_run", ""}},
		{name: "missing rule disabled still estimates",
			in:     input(2, regs(1000, skip, 1010)),
			rules:  func(r *RuleSet) { r.Missing.Enabled = false },
			wantWh: []int64{5, 5}, wantQ: []Quality{9, 9},
			wantFlags: []string{est, est}},
		{name: "manual edit",
			in: func() Input {
				in := input(2, regs(1000, 1100, 1200))
				in.Edits = []Edit{{Start: at(1), Wh: 42, Reason: "site visit", Author: "bob"}}
				return in
			}(),
			wantWh: []int64{100, 42}, wantQ: []Quality{0, 7},
			wantFlags: []string{"", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := quiet()
			if tt.rules != nil {
				tt.rules(&rules)
			}
			n := now
			if !tt.now.IsZero() {
				n = tt.now
			}
			out, err := Process(tt.in, rules, n)
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			if len(out.Intervals) != len(tt.wantWh) {
				t.Fatalf("%d intervals, want %d", len(out.Intervals), len(tt.wantWh))
			}
			for i, iv := range out.Intervals {
				if !iv.Start.Equal(at(i)) || !iv.End.Equal(at(i+1)) {
					t.Errorf("interval %d spans [%v, %v)", i, iv.Start, iv.End)
				}
			}
			if got := whs(out); !slices.Equal(got, tt.wantWh) {
				t.Errorf("Wh = %v, want %v", got, tt.wantWh)
			}
			if got := quals(out); !slices.Equal(got, tt.wantQ) {
				t.Errorf("qualities = %v, want %v", got, tt.wantQ)
			}
			if got := flagNames(out); !slices.Equal(got, tt.wantFlags) {
				t.Errorf("flags = %q, want %q", got, tt.wantFlags)
			}
			if got := ruleNames(out.Flags); got != tt.wantMeter {
				t.Errorf("meter flags = %q, want %q", got, tt.wantMeter)
			}
			for i, iv := range out.Intervals {
				if iv.Estimated != iv.Quality.IsEstimated() && iv.Edit == nil {
					t.Errorf("interval %d: Estimated %v with quality %v", i, iv.Estimated, iv.Quality)
				}
				if iv.Edit == nil && iv.OriginalWh != iv.Wh {
					t.Errorf("interval %d: OriginalWh %d differs from Wh %d without an edit", i, iv.OriginalWh, iv.Wh)
				}
			}
		})
	}
}

func TestProcessEditKeepsOriginal(t *testing.T) {
	in := input(3, regs(1000, skip, 1010, 1100))
	in.Edits = []Edit{{Start: at(0), End: at(2), Wh: 30, Mode: EditSpread, Reason: "customer read", Author: "carol"}}
	out, err := Process(in, quiet(), at(100))
	if err != nil {
		t.Fatal(err)
	}
	// 30 Wh over two intervals: 15, 15; originals were the interpolated 5, 5.
	if got := whs(out); !slices.Equal(got, []int64{15, 15, 90}) {
		t.Errorf("Wh = %v", got)
	}
	for i, want := range []int64{5, 5, 90} {
		iv := out.Intervals[i]
		if iv.OriginalWh != want {
			t.Errorf("interval %d OriginalWh = %d, want %d", i, iv.OriginalWh, want)
		}
	}
	iv := out.Intervals[0]
	if iv.Quality != QualityManuallyEdited || !iv.Estimated || iv.Edit == nil || iv.Edit.Author != "carol" {
		t.Errorf("edited interval = %+v", iv)
	}
}

// TestProcessReasons checks the exact words and numbers of flag reasons.
func TestProcessReasons(t *testing.T) {
	tests := []struct {
		name  string
		in    Input
		slot  int    // -1 for the meter flags
		rule  string // which flag to read
		want  string
		rules func(*RuleSet)
		now   time.Time // at(100) when zero
	}{
		{name: "linear interpolation", in: input(4, regs(1000, skip, skip, 1010, 1100)), slot: 1, rule: RuleEstimation,
			want: "linear interpolation: 10 Wh over 3 intervals between the registers at 2025-03-03T00:00:00Z and 2025-03-03T00:45:00Z"},
		{name: "missing", in: input(4, regs(1000, skip, skip, 1010, 1100)), slot: 0, rule: RuleMissing,
			want: "no usable reading between 2025-03-03T00:00:00Z and 2025-03-03T00:45:00Z (3 intervals missing in the window)"},
		{name: "missing at the start", in: input(4, regs(skip, skip, 1000, 1040, 1100)), slot: 0, rule: RuleMissing,
			want: "no usable reading between the window start and 2025-03-03T00:30:00Z (2 intervals missing in the window)"},
		{name: "flat fill", in: input(4, regs(skip, skip, 1000, 1040, 1100)), slot: 0, rule: RuleEstimation,
			want: "flat fill with 50 Wh, the mean of 2 good intervals from 2025-03-03T00:30:00Z"},
		{name: "flat fill without data", in: input(1, nil), slot: 0, rule: RuleEstimation,
			want: "flat fill with 0 Wh, the mean of no data (nothing measured nearby and no history)"},
		{name: "flat fill from history", slot: 0, rule: RuleEstimation,
			in: func() Input {
				in := input(1, nil)
				in.History = []HistoryInterval{{StartUnix: at(-3).Unix(), Wh: 10}, {StartUnix: at(-2).Unix(), Wh: 99, Quality: QualityQuestionable}, {StartUnix: at(-1).Unix(), Wh: 21}}
				return in
			}(),
			want: "flat fill with 16 Wh, the mean of the last 2 good history intervals"}, // (10+21)/2 = 15.5 → 16
		{name: "negative", in: input(2, regs(50_000, 49_990, 50_010)), slot: 0, rule: RuleNegative,
			want: "register went backwards from 50000 Wh at 2025-03-03T00:00:00Z to 49990 Wh at 2025-03-03T00:15:00Z (-10 Wh)"},
		{name: "rollover", slot: 1, rule: RuleRollover,
			in:   func() Input { in := input(3, regs(999_900, 999_950, 30, 100)); in.RegisterMaxWh = 1_000_000; return in }(),
			want: "register rolled over from 999950 Wh at 2025-03-03T00:15:00Z to 30 Wh at 2025-03-03T00:30:00Z (register max 1000000 Wh): 80 Wh consumed"},
		{name: "replacement", in: input(4, regs(500_000, 500_100, 20, 80, 150)), slot: -1, rule: RuleReplacement,
			want: "register dropped from 500100 Wh at 2025-03-03T00:15:00Z to 20 Wh at 2025-03-03T00:30:00Z (at most 10000 Wh) and is not a rollover: " +
				"meter replaced, new register baseline, no energy computed across the boundary"},
		{name: "duplicate", slot: 0, rule: RuleDuplicate,
			in: input(2, []Reading{
				{TS: at(0), RegisterWh: 1000}, {TS: at(1), RegisterWh: 1120, Arrival: at(2)},
				{TS: at(1), RegisterWh: 1100, Arrival: at(1)}, {TS: at(2), RegisterWh: 1200},
			}),
			want: "2 readings at 2025-03-03T00:15:00Z with conflicting registers 1100, 1120 Wh; used 1120 Wh (latest arrival)"},
		{name: "off grid", slot: 1, rule: RuleIntervalSize,
			in: input(2, []Reading{
				{TS: at(0), RegisterWh: 1000}, {TS: at(2).Add(-2 * time.Minute), RegisterWh: 1050}, {TS: at(2), RegisterWh: 1200},
			}),
			want: "reading at 2025-03-03T00:28:00Z (register 1050 Wh) is 2m0s off the 15m0s grid (tolerance 30s); not used as a register boundary"},
		{name: "spacing", in: input(4, regs(1000, skip, 1100, skip, 1300)), slot: -1, rule: RuleIntervalSize,
			want: "readings are usually 30m0s apart (2 of 2 steps), not the nominal 15m0s"},
		{name: "late", slot: 0, rule: RuleTimestamp,
			in:   input(1, []Reading{{TS: at(0), RegisterWh: 1}, {TS: at(1), RegisterWh: 2, Arrival: at(1).Add(80 * time.Hour)}}),
			want: "reading at 2025-03-03T00:15:00Z arrived at 2025-03-06T08:15:00Z, 80h0m0s late (limit 72h0m0s)"},
		{name: "future", slot: 0, rule: RuleTimestamp,
			in:    input(1, []Reading{{TS: at(0), RegisterWh: 1}, {TS: at(1), RegisterWh: 2}}),
			rules: func(r *RuleSet) { r.Timestamp.FutureTolerance = 0 }, now: t0,
			want: "reading at 2025-03-03T00:15:00Z is 15m0s in the future of now 2025-03-03T00:00:00Z (tolerance 0s)"},
		{name: "zero run", slot: 0, rule: RuleZeroRun, in: input(2, regs(7, 7, 7)),
			rules: func(r *RuleSet) { r.ZeroRun.MinDuration = 20 * time.Minute },
			want:  "zero consumption for 2 consecutive intervals from 2025-03-03T00:00:00Z to 2025-03-03T00:30:00Z (limit 20m0s)"},
		{name: "unknown meter", slot: 0, rule: RuleUnknownMeter,
			in:   func() Input { in := input(1, regs(1, 2)); in.Known = false; return in }(),
			want: `meter "m1" is not in the registry`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := quiet()
			if tt.rules != nil {
				tt.rules(&rules)
			}
			now := tt.now
			if now.IsZero() {
				now = at(100)
			}
			out, err := Process(tt.in, rules, now)
			if err != nil {
				t.Fatal(err)
			}
			flags := out.Flags
			if tt.slot >= 0 {
				flags = out.Intervals[tt.slot].Flags
			}
			for _, f := range flags {
				if f.Rule == tt.rule {
					if f.Reason != tt.want {
						t.Errorf("reason =\n%q, want\n%q", f.Reason, tt.want)
					}
					return
				}
			}
			t.Errorf("no %s flag in %+v", tt.rule, flags)
		})
	}
}

// flatHistory returns n 15-minute history intervals of wh each, ending at t0.
func flatHistory(n int, wh int64) []HistoryInterval {
	h := make([]HistoryInterval, n)
	for i := range h {
		h[i] = HistoryInterval{StartUnix: at(i - n).Unix(), Wh: wh}
	}
	return h
}

func TestSpike(t *testing.T) {
	history := flatHistory(96, 100)
	// Ten questionable intervals are left out of the statistic.
	for i := range 10 {
		history = append(history, HistoryInterval{StartUnix: at(-200 - i).Unix(), Wh: 10_000, Quality: QualityQuestionable})
	}
	tests := []struct {
		name      string
		history   []HistoryInterval
		minWh     int64
		wantFlags []string
		wantMeter string
	}{
		// p95 = 100, threshold max(3 × 100, 200) = 300: 301 is a spike, 300 is not.
		{"factor wins", history, 200, []string{"", "spike", ""}, ""},
		// threshold max(300, 1000) = 1000.
		{"minimum wins", history, 1000, []string{"", "", ""}, ""},
		{"too little history", history[1:], 200, []string{"", "", ""}, "spike"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := quiet()
			rules.Spike = SpikeRule{Enabled: true, Factor: 3, Percentile: 95, MinWh: tt.minWh, MinHistory: 96}
			in := input(3, regs(1000, 1300, 1601, 1700))
			in.History = tt.history
			out, err := Process(in, rules, at(100))
			if err != nil {
				t.Fatal(err)
			}
			if got := flagNames(out); !slices.Equal(got, tt.wantFlags) {
				t.Errorf("flags = %q, want %q", got, tt.wantFlags)
			}
			if got := ruleNames(out.Flags); got != tt.wantMeter {
				t.Errorf("meter flags = %q, want %q", got, tt.wantMeter)
			}
			if tt.wantFlags[1] != "" {
				want := "301 Wh exceeds the spike threshold 300 Wh (3 × p95 100 Wh of 96 history intervals, minimum 200 Wh)"
				if got := out.Intervals[1].Flags[0].Reason; got != want {
					t.Errorf("reason = %q, want %q", got, want)
				}
				if out.Intervals[1].Quality != QualityQuestionable {
					t.Errorf("spike quality = %v", out.Intervals[1].Quality)
				}
			}
			if tt.wantMeter != "" {
				want := "spike check skipped: 95 usable history intervals, need 96"
				if got := out.Flags[0].Reason; got != want || out.Flags[0].Severity != SeverityInfo {
					t.Errorf("meter flag = %+v, want info %q", out.Flags[0], want)
				}
			}
		})
	}
}

func TestSpikeLookback(t *testing.T) {
	// The last 96 intervals are 100 Wh; older ones are 1 Wh and fall outside the lookback.
	history := append(flatHistory(96, 100), HistoryInterval{StartUnix: at(-500).Unix(), Wh: 1})
	for i := range 200 {
		history = append(history, HistoryInterval{StartUnix: at(-300 - i).Unix(), Wh: 1})
	}
	rules := quiet()
	rules.Spike = SpikeRule{Enabled: true, Factor: 2, Percentile: 50, LookbackIntervals: 96, MinHistory: 10}
	in := input(2, regs(1000, 1200, 1401))
	in.History = history // unsorted on purpose
	out, err := Process(in, rules, at(100))
	if err != nil {
		t.Fatal(err)
	}
	// Median 100, threshold 200: 200 passes, 201 does not.
	if got := flagNames(out); !slices.Equal(got, []string{"", "spike"}) {
		t.Errorf("flags = %q", got)
	}
}

func TestDailyUsage(t *testing.T) {
	day := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	hourly := func(from time.Time, n int, wh int64) []HistoryInterval {
		h := make([]HistoryInterval, n)
		for i := range h {
			h[i] = HistoryInterval{StartUnix: from.Add(time.Duration(i) * time.Hour).Unix(), Wh: wh}
		}
		return h
	}
	// Seven complete days of 24 × 10 Wh (median 240 Wh), plus a partial day that does not count.
	history := append(hourly(day.Add(-7*24*time.Hour), 7*24, 10), hourly(day.Add(-8*24*time.Hour+time.Hour), 5, 1000)...)
	readings := func(from time.Time, per []int64) []Reading {
		rs := []Reading{{TS: from, RegisterWh: 5000}}
		reg := int64(5000)
		for i, wh := range per {
			reg += wh
			rs = append(rs, Reading{TS: from.Add(time.Duration(i+1) * time.Hour), RegisterWh: reg})
		}
		return rs
	}
	repeat := func(wh int64, n int) []int64 {
		v := make([]int64, n)
		for i := range v {
			v[i] = wh
		}
		return v
	}
	low := append([]int64{20}, repeat(0, 23)...)
	tests := []struct {
		name      string
		from      time.Time
		hours     int
		per       []int64
		history   []HistoryInterval
		wantFlag  bool
		wantMeter string
		wantWhy   string
	}{
		{"high day", day, 24, repeat(40, 24), history, true, "",
			"daily usage 960 Wh on 2025-03-10 is above 3 × the median 240 Wh of 7 history days"},
		{"normal day", day, 24, repeat(10, 24), history, false, "", ""},
		{"at the high limit", day, 24, repeat(30, 24), history, false, "", ""}, // 720 is not above 720
		{"low day", day, 24, low, history, true, "",
			"daily usage 20 Wh on 2025-03-10 is below 0.1 × the median 240 Wh of 7 history days"},
		{"partial day not judged", day.Add(time.Hour), 23, repeat(40, 23), history, false, "", ""},
		{"too little history", day, 24, repeat(40, 24), history[24:], false, "daily_usage", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := quiet()
			rules.DailyUsage = DefaultRuleSet().DailyUsage
			in := Input{MeterID: "m", Known: true, Interval: time.Hour, From: tt.from, To: tt.from.Add(time.Duration(tt.hours) * time.Hour),
				Readings: readings(tt.from, tt.per), History: tt.history}
			out, err := Process(in, rules, day.Add(48*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			for i, iv := range out.Intervals {
				got := ruleNames(iv.Flags)
				if tt.wantFlag && (got != "daily_usage" || iv.Quality != QualityQuestionable || iv.Flags[0].Reason != tt.wantWhy) {
					t.Fatalf("interval %d: flags %+v, quality %v; want daily_usage %q", i, iv.Flags, iv.Quality, tt.wantWhy)
				}
				if !tt.wantFlag && got != "" {
					t.Fatalf("interval %d: unexpected flags %+v", i, iv.Flags)
				}
			}
			if got := ruleNames(out.Flags); got != tt.wantMeter {
				t.Errorf("meter flags = %q, want %q", got, tt.wantMeter)
			}
		})
	}
}

func TestSlotsInDay(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		loc  *time.Location
		d    time.Duration
		date time.Time
		want int64
	}{
		{time.UTC, q15, time.Date(2025, 3, 30, 0, 0, 0, 0, time.UTC), 96},
		{berlin, q15, time.Date(2025, 3, 30, 0, 0, 0, 0, berlin), 92},   // 23-hour day
		{berlin, q15, time.Date(2025, 10, 26, 0, 0, 0, 0, berlin), 100}, // 25-hour day
		{berlin, 7 * time.Hour, time.Date(2025, 10, 26, 0, 0, 0, 0, berlin), -1},
	}
	for _, tt := range tests {
		p := &processor{loc: tt.loc, d: tt.d}
		y, m, d := tt.date.Date()
		if got := p.slotsInDay(y, m, d); got != tt.want {
			t.Errorf("slotsInDay(%s, %s) = %d, want %d", tt.loc, tt.date.Format(time.DateOnly), got, tt.want)
		}
	}
}

func TestLikeDayProfile(t *testing.T) {
	week := func(k, j int) time.Time { return at(j).AddDate(0, 0, -7*k) }
	tests := []struct {
		name    string
		total   int64
		history map[time.Time]int64
		rules   func(*RuleSet)
		want    []int64
		wantQ   Quality
	}{
		// 101 × (10,30,0,20,40,0,0,0)/100: floors 10,30,0,20,40 leave 1 Wh for the largest remainder (40.4).
		{name: "one week", total: 101,
			history: map[time.Time]int64{week(1, 0): 10, week(1, 1): 30, week(1, 2): 0, week(1, 3): 20, week(1, 4): 40,
				week(1, 5): 0, week(1, 6): 0, week(1, 7): 0},
			want: []int64{10, 30, 0, 20, 41, 0, 0, 0}, wantQ: QualityEstimatedReferenceDay},
		// Slots 4..7 have no like-day data and get the mean weight 25: weights 10,30,20,40,25,25,25,25 (sum 200);
		// 100 × w / 200 = 5,15,10,20,12.5 ×4: two Wh left go to the tied remainders, earliest first.
		{name: "missing like-day slots get the mean weight", total: 100,
			history: map[time.Time]int64{week(1, 0): 10, week(1, 1): 30, week(1, 2): 20, week(1, 3): 40},
			want:    []int64{5, 15, 10, 20, 13, 13, 12, 12}, wantQ: QualityEstimatedReferenceDay},
		// Slot 0 averages 30 and 10 over two weeks = 20; the others 10: weights 20,10×7 (sum 90).
		{name: "weeks averaged", total: 90,
			history: func() map[time.Time]int64 {
				h := map[time.Time]int64{}
				for j := range 8 {
					h[week(1, j)], h[week(2, j)] = 10, 10
				}
				h[week(1, 0)] = 30
				return h
			}(),
			want: []int64{20, 10, 10, 10, 10, 10, 10, 10}, wantQ: QualityEstimatedReferenceDay},
		{name: "weeks beyond LikeDayWeeks are ignored", total: 80,
			history: map[time.Time]int64{week(3, 0): 80},
			rules:   func(r *RuleSet) { r.Estimation.LikeDayWeeks = 2 },
			want:    []int64{10, 10, 10, 10, 10, 10, 10, 10}, wantQ: QualityEstimatedLinear},
		{name: "no history falls back to linear", total: 84, history: nil,
			want: []int64{11, 11, 11, 11, 10, 10, 10, 10}, wantQ: QualityEstimatedLinear},
		{name: "short gap stays linear", total: 84, history: map[time.Time]int64{week(1, 0): 1},
			rules: func(r *RuleSet) { r.Estimation.LinearMaxIntervals = 8 },
			want:  []int64{11, 11, 11, 11, 10, 10, 10, 10}, wantQ: QualityEstimatedLinear},
		{name: "questionable history ignored", total: 80, history: nil,
			want: []int64{10, 10, 10, 10, 10, 10, 10, 10}, wantQ: QualityEstimatedLinear},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := quiet()
			if tt.rules != nil {
				tt.rules(&rules)
			}
			in := input(8, []Reading{{TS: at(0), RegisterWh: 10_000}, {TS: at(8), RegisterWh: 10_000 + tt.total}})
			for ts, wh := range tt.history {
				in.History = append(in.History, HistoryInterval{StartUnix: ts.Unix(), Wh: wh})
			}
			if tt.name == "questionable history ignored" {
				in.History = []HistoryInterval{{StartUnix: week(1, 0).Unix(), Wh: 500, Quality: QualityQuestionable}}
			}
			out, err := Process(in, rules, at(100))
			if err != nil {
				t.Fatal(err)
			}
			if got := whs(out); !slices.Equal(got, tt.want) {
				t.Errorf("Wh = %v, want %v", got, tt.want)
			}
			for i, iv := range out.Intervals {
				if iv.Quality != tt.wantQ || !iv.Estimated {
					t.Errorf("interval %d quality %v estimated %v, want %v", i, iv.Quality, iv.Estimated, tt.wantQ)
				}
			}
		})
	}
}

func TestLikeDayUsesLocalTimeAcrossDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// Monday 2025-03-31 10:00 CEST is 08:00 UTC. A week earlier, 10:00 CET was 09:00 UTC.
	from := time.Date(2025, 3, 31, 8, 0, 0, 0, time.UTC)
	right := time.Date(2025, 3, 24, 9, 0, 0, 0, time.UTC)
	decoy := time.Date(2025, 3, 24, 8, 0, 0, 0, time.UTC) // what a plain 168-hour shift would read
	var history []HistoryInterval
	for j, wh := range []int64{10, 30, 0, 20, 40, 0, 0, 0} {
		history = append(history, HistoryInterval{StartUnix: right.Add(time.Duration(j) * q15).Unix(), Wh: wh})
	}
	for j, wh := range []int64{100, 0, 0, 0} {
		history = append(history, HistoryInterval{StartUnix: decoy.Add(time.Duration(j) * q15).Unix(), Wh: wh})
	}
	in := Input{MeterID: "m", Known: true, Interval: q15, From: from, To: from.Add(8 * q15), Location: berlin,
		Readings: []Reading{{TS: from, RegisterWh: 1000}, {TS: from.Add(8 * q15), RegisterWh: 1101}},
		History:  history}
	out, err := Process(in, quiet(), from.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := whs(out), []int64{10, 30, 0, 20, 41, 0, 0, 0}; !slices.Equal(got, want) {
		t.Errorf("Berlin: Wh = %v, want %v", got, want)
	}
	// In UTC the same data reads the decoy first: weights 100,0,0,0,10,30,0,20 (sum 160);
	// 101 × w / 160 = 63.1, 0, 0, 0, 6.3, 18.9, 0, 12.6: floors sum 99, two Wh to 18.9 and 12.6.
	in.Location = nil
	out, err = Process(in, quiet(), from.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := whs(out), []int64{63, 0, 0, 0, 6, 19, 0, 13}; !slices.Equal(got, want) {
		t.Errorf("UTC: Wh = %v, want %v", got, want)
	}
}

func TestProcessRejects(t *testing.T) {
	good := input(2, regs(1, 2, 3))
	tests := []struct {
		name   string
		modify func(*Input, *RuleSet)
		want   string
	}{
		{"zero interval", func(in *Input, _ *RuleSet) { in.Interval = 0 }, `vee: meter "m1": invalid input: interval: must be > 0`},
		{"no from", func(in *Input, _ *RuleSet) { in.From = time.Time{} }, `vee: meter "m1": invalid input: from: must be set`},
		{"empty window", func(in *Input, _ *RuleSet) { in.To = in.From }, `vee: meter "m1": invalid input: to: must be after from`},
		{"ragged window", func(in *Input, _ *RuleSet) { in.To = in.To.Add(time.Minute) },
			`vee: meter "m1": invalid input: to: window must be a whole number of 15m0s intervals`},
		{"huge window", func(in *Input, _ *RuleSet) { in.To = in.From.Add(100 * 365 * 24 * time.Hour) },
			`vee: meter "m1": invalid input: to: window holds more than 2097152 intervals`},
		{"negative register max", func(in *Input, _ *RuleSet) { in.RegisterMaxWh = -1 },
			`vee: meter "m1": invalid input: register_max_wh: must be >= 0`},
		{"snap tolerance too wide", func(_ *Input, r *RuleSet) { r.IntervalSize.SnapTolerance = 8 * time.Minute },
			`vee: meter "m1": invalid input: interval_size.snap_tolerance: 8m0s must be less than half the 15m0s interval`},
		{"bad rules", func(_ *Input, r *RuleSet) { r.ZeroRun.MinDuration = 0 }, `vee: invalid rule set: zero_run.min_duration: must be > 0`},
		{"bad edit", func(in *Input, _ *RuleSet) { in.Edits = []Edit{{Start: at(0), Reason: "r"}} },
			`vee: meter "m1": invalid input: edits[0].author: must not be empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, rules := good, quiet()
			tt.modify(&in, &rules)
			_, err := Process(in, rules, t0)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error does not wrap a *FieldError")
			}
		})
	}
}
