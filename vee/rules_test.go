package vee

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	one20 := func() []int64 {
		v := make([]int64, 20)
		for i := range v {
			v[i] = int64(20 - i) // 20..1, unsorted on purpose
		}
		return v
	}
	tests := []struct {
		name   string
		vals   []int64
		p      float64
		want   int64
		wantOK bool
	}{
		{"empty", nil, 50, 0, false},
		{"single", []int64{7}, 95, 7, true},
		{"p95 of 1..20 is rank ceil(19) = 19", one20(), 95, 19, true},
		{"p50 of 1..20 is rank 10", one20(), 50, 10, true},
		{"p100 is the max", one20(), 100, 20, true},
		{"tiny p is the min", one20(), 0.1, 1, true},
		{"median of 4 is the lower middle", []int64{40, 10, 30, 20}, 50, 20, true},
		{"median of 5", []int64{5, 1, 4, 2, 3}, 50, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := percentile(tt.vals, tt.p)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("percentile = %d, %v; want %d, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestClassifyLink(t *testing.T) {
	rules := DefaultRuleSet() // 100 kW max power, replacement at most 10 000 Wh
	noRollover := DefaultRuleSet()
	noRollover.Rollover.Enabled = false
	noReplacement := DefaultRuleSet()
	noReplacement.Replacement.Enabled = false
	const q = 15 * time.Minute // 100 kW over 15 min = 25 000 Wh
	tests := []struct {
		name       string
		prev, next int64
		span       time.Duration
		regMax     int64
		rules      RuleSet
		wantKind   dropKind
		wantWh     int64
	}{
		{"rise", 1000, 1250, q, 1_000_000, rules, linkNormal, 250},
		{"flat", 1000, 1000, q, 1_000_000, rules, linkNormal, 0},
		// 1 000 000 − 999 900 + 30 = 130 Wh ≤ 25 000.
		{"rollover", 999_900, 30, q, 1_000_000, rules, linkRollover, 130},
		// 1 000 000 − 990 000 + 20 000 = 30 000 > 25 000 in 15 min, fine in 30 min.
		{"rollover too large for one interval", 990_000, 20_000, q, 1_000_000, rules, linkNegative, -970_000},
		{"rollover over two intervals", 990_000, 20_000, 2 * q, 1_000_000, rules, linkRollover, 30_000},
		// 10^9 − 500 000 + 20 is implausible: a drop to 20 ≤ 10 000 is a replacement.
		{"replacement", 500_000, 20, q, 1_000_000_000, rules, linkReplacement, 0},
		{"replacement at the limit", 500_000, 10_000, q, 1_000_000_000, rules, linkReplacement, 0},
		{"small backwards step", 500_000, 499_990, q, 1_000_000_000, rules, linkNegative, -10},
		{"backwards to above max start", 500_000, 10_001, q, 1_000_000_000, rules, linkNegative, -489_999},
		{"rollover disabled", 999_900, 30, q, 1_000_000, noRollover, linkReplacement, 0},
		{"replacement disabled", 500_000, 20, q, 1_000_000_000, noReplacement, linkNegative, -499_980},
		{"no register max", 999_900, 30, q, 0, rules, linkReplacement, 0},
		{"prev above register max is not a rollover", 1_200_000, 30, q, 1_000_000, rules, linkReplacement, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, wh := classifyLink(tt.prev, tt.next, tt.span, tt.regMax, tt.rules)
			if kind != tt.wantKind || wh != tt.wantWh {
				t.Errorf("classifyLink(%d, %d) = %d, %d; want %d, %d", tt.prev, tt.next, kind, wh, tt.wantKind, tt.wantWh)
			}
		})
	}
}

func TestRuleNames(t *testing.T) {
	named := []interface{ Name() string }{
		MissingRule{}, IntervalSizeRule{}, SpikeRule{}, DailyUsageRule{}, NegativeRule{}, ZeroRunRule{},
		RolloverRule{}, ReplacementRule{}, TimestampRule{}, DuplicateRule{}, UnknownMeterRule{},
	}
	want := []string{"missing", "interval_size", "spike", "daily_usage", "negative", "zero_run",
		"rollover", "replacement", "timestamp", "duplicate", "unknown_meter"}
	for i, r := range named {
		if r.Name() != want[i] {
			t.Errorf("%T.Name() = %q, want %q", r, r.Name(), want[i])
		}
	}
	if SeverityInfo.String() != "info" || SeverityQuestionable.String() != "questionable" {
		t.Errorf("Severity strings = %q, %q", SeverityInfo, SeverityQuestionable)
	}
}

// TestNthSmallest compares the selection with sorting on random, constant, sorted and
// reversed inputs of many lengths, for every rank.
func TestNthSmallest(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 7))
	inputs := map[string]func(n int) []int64{
		"random": func(n int) []int64 {
			v := make([]int64, n)
			for i := range v {
				v[i] = r.Int64N(50) - 10
			}
			return v
		},
		"constant": func(n int) []int64 { return make([]int64, n) },
		"sorted": func(n int) []int64 {
			v := make([]int64, n)
			for i := range v {
				v[i] = int64(i)
			}
			return v
		},
		"reversed": func(n int) []int64 {
			v := make([]int64, n)
			for i := range v {
				v[i] = int64(n - i)
			}
			return v
		},
	}
	for name, gen := range inputs {
		for _, n := range []int{1, 2, 3, 16, 17, 18, 33, 100, 2688} {
			vals := gen(n)
			sorted := slices.Clone(vals)
			slices.Sort(sorted)
			for k := 0; k < n; k += max(1, n/50) {
				if got := nthSmallest(slices.Clone(vals), k); got != sorted[k] {
					t.Fatalf("%s, n=%d: nthSmallest(k=%d) = %d, want %d", name, n, k, got, sorted[k])
				}
			}
		}
	}
}
