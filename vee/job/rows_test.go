package job

import (
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/vee"
)

func TestIntervalRow(t *testing.T) {
	start := ts("2026-01-01T00:00:00Z")
	edit := &vee.Edit{}
	tests := []struct {
		name string
		iv   vee.Interval
		want row
	}{
		{"measured", vee.Interval{Start: start, Wh: 120, Quality: vee.QualityValid},
			row{intervals: 1}},
		{"estimated", vee.Interval{Start: start, Wh: 90, Quality: vee.QualityEstimatedLinear, Estimated: true,
			Flags: []vee.Flag{{Rule: vee.RuleMissing, Severity: vee.SeverityQuestionable, Reason: "gap"}, {Rule: vee.RuleEstimation, Reason: "linear"}}},
			row{quality: 9, estimated: 1, questionable: 1, flags: []string{"missing", "estimation"}, reasons: []string{"missing: gap", "estimation: linear"}}},
		{"edited over a spike", vee.Interval{Start: start, Wh: 100, Quality: vee.QualityManuallyEdited, Edit: edit,
			Flags: []vee.Flag{{Rule: vee.RuleSpike, Severity: vee.SeverityQuestionable, Reason: "a"}, {Rule: vee.RuleSpike, Severity: vee.SeverityQuestionable, Reason: "b"}}},
			row{quality: 7, intervals: 1, edited: 1, questionable: 1, flags: []string{"spike"}, reasons: []string{"spike: a", "spike: b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := intervalRow("m", tt.iv)
			want := tt.want
			want.resolution, want.meter, want.start, want.wh, want.expected = "15m", "m", start, tt.iv.Wh, 1
			if want.flags == nil {
				want.flags, want.reasons = []string{}, []string{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("intervalRow = %+v, want %+v", got, want)
			}
		})
	}
}

func TestRollUp(t *testing.T) {
	q := func(i int, wh int64, quality vee.Quality, flags ...string) row {
		r := row{resolution: "15m", meter: "m", start: ts("2026-01-01T00:00:00Z").Add(time.Duration(i) * Interval), wh: wh,
			quality: uint8(quality), intervals: 1, expected: 1, flags: flags}
		if quality.IsEstimated() {
			r.intervals, r.estimated = 0, 1
		}
		return r
	}
	hour := func(t time.Time) (time.Time, time.Time) {
		return t.Truncate(time.Hour), t.Truncate(time.Hour).Add(time.Hour)
	}
	tests := []struct {
		name string
		rows []row
		want []row
	}{
		{"one full hour of valid data", []row{q(0, 1, 0), q(1, 2, 0), q(2, 3, 0), q(3, 4, 0)},
			[]row{{resolution: "1h", meter: "m", start: ts("2026-01-01T00:00:00Z"), wh: 10, intervals: 4, expected: 4, flags: []string{}, reasons: []string{}}}},
		{"mixed quality, partial second hour", []row{q(0, 1, 0), q(1, 2, 9, "missing"), q(2, 3, 0), q(3, 4, 0, "rollover", "missing"), q(4, 5, 10, "spike")},
			[]row{
				{resolution: "1h", meter: "m", start: ts("2026-01-01T00:00:00Z"), wh: 10, quality: 13, intervals: 3, expected: 4, estimated: 1, flags: []string{"missing", "rollover"}, reasons: []string{}},
				{resolution: "1h", meter: "m", start: ts("2026-01-01T01:00:00Z"), wh: 5, quality: 10, intervals: 1, expected: 4, flags: []string{"spike"}, reasons: []string{}},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rollUp(tt.rows, "1h", hour); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("rollUp =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestParseInts(t *testing.T) {
	tests := []struct {
		in      string
		want    []int64
		wantErr bool
	}{
		{"", nil, false},
		{"[]", nil, false},
		{"[0]", []int64{0}, false},
		{"[1,22,333]", []int64{1, 22, 333}, false},
		{"[-5,7]", []int64{-5, 7}, false},
		{"[9223372036854775807,-9223372036854775808]", []int64{math.MaxInt64, math.MinInt64}, false},
		{"[9223372036854775808]", nil, true},
		{"[99999999999999999999]", nil, true},
		{"[1,,2]", nil, true},
		{"[1,]", nil, true},
		{"[-]", nil, true},
		{"[1.5]", nil, true},
		{"[x]", nil, true},
		{"1,2", nil, true},
		{"[1,2", nil, true},
		{"[", nil, true},
	}
	for _, tt := range tests {
		got, err := parseInts(nil, tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && !slices.Equal(got, tt.want)) {
			t.Errorf("parseInts(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestHistoryBuffer checks that slices taken from one buffer never overlap, not even when
// one is appended to past its capacity, and that a reset buffer reuses its array.
func TestHistoryBuffer(t *testing.T) {
	var b historyBuffer
	b.reserve(6)
	first, second := b.take(3), b.take(3)
	for i := range 3 {
		first = append(first, vee.HistoryInterval{StartUnix: int64(i)})
		second = append(second, vee.HistoryInterval{StartUnix: int64(10 + i)})
	}
	first = append(first, vee.HistoryInterval{StartUnix: 3}) // past its capacity
	third := append(b.take(2), vee.HistoryInterval{StartUnix: 20})
	for i, h := range second {
		if h.StartUnix != int64(10+i) {
			t.Fatalf("second[%d] = %d: another slice wrote over it", i, h.StartUnix)
		}
	}
	if len(first) != 4 || first[3].StartUnix != 3 || third[0].StartUnix != 20 {
		t.Fatalf("first %v, third %v", first, third)
	}
	array := &b.buf[:1][0]
	b.reset()
	if again := b.take(2); cap(again) != 2 || &again[:1][0] != array {
		t.Error("a reset buffer does not carve its array again")
	}
}
