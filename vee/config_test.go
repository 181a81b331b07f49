package vee

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	if err := DefaultRuleSet().Validate(); err != nil {
		t.Fatalf("DefaultRuleSet().Validate() = %v", err)
	}
}

func TestConfigFor(t *testing.T) {
	c := DefaultConfig()
	res := DefaultRuleSet()
	res.Spike.Factor = 5
	c.Classes = map[string]RuleSet{"residential": res}
	if got := c.For("residential").Spike.Factor; got != 5 {
		t.Errorf("For(residential).Spike.Factor = %v, want 5", got)
	}
	if got := c.For("industrial").Spike.Factor; got != 3 {
		t.Errorf("For(industrial).Spike.Factor = %v, want the default 3", got)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*RuleSet)
		want   []string // every message expected, in order
	}{
		{"spike factor", func(r *RuleSet) { r.Spike.Factor = 1 }, []string{"spike.factor: must be > 1"}},
		{"spike percentile zero", func(r *RuleSet) { r.Spike.Percentile = 0 }, []string{"spike.percentile: must be in (0, 100]"}},
		{"spike percentile above 100", func(r *RuleSet) { r.Spike.Percentile = 101 }, []string{"spike.percentile: must be in (0, 100]"}},
		{"spike min wh", func(r *RuleSet) { r.Spike.MinWh = -1 }, []string{"spike.min_wh: must be >= 0"}},
		{"spike lookback", func(r *RuleSet) { r.Spike.LookbackIntervals = -1 }, []string{"spike.lookback_intervals: must be >= 0"}},
		{"spike min history", func(r *RuleSet) { r.Spike.MinHistory = 0 }, []string{"spike.min_history: must be >= 1"}},
		{"disabled spike is not checked", func(r *RuleSet) { r.Spike = SpikeRule{Factor: -4} }, nil},
		{"daily high", func(r *RuleSet) { r.DailyUsage.HighFactor = 0.5 }, []string{"daily_usage.high_factor: must be > 1"}},
		{"daily low", func(r *RuleSet) { r.DailyUsage.LowFactor = 1 }, []string{"daily_usage.low_factor: must be in [0, 1)"}},
		{"daily lookback", func(r *RuleSet) { r.DailyUsage.LookbackDays = -1 }, []string{"daily_usage.lookback_days: must be >= 0"}},
		{"daily min history", func(r *RuleSet) { r.DailyUsage.MinHistoryDays = 0 }, []string{"daily_usage.min_history_days: must be >= 1"}},
		{"zero run", func(r *RuleSet) { r.ZeroRun.MinDuration = 0 }, []string{"zero_run.min_duration: must be > 0"}},
		{"snap tolerance", func(r *RuleSet) { r.IntervalSize.SnapTolerance = -time.Second }, []string{"interval_size.snap_tolerance: must be >= 0"}},
		{"register max", func(r *RuleSet) { r.Rollover.RegisterMaxWh = 0 }, []string{"rollover.register_max_wh: must be > 0"}},
		{"max power", func(r *RuleSet) { r.Rollover.MaxPowerW = -5 }, []string{"rollover.max_power_w: must be > 0"}},
		{"replacement", func(r *RuleSet) { r.Replacement.MaxStartWh = -1 }, []string{"replacement.max_start_wh: must be >= 0"}},
		{"future tolerance", func(r *RuleSet) { r.Timestamp.FutureTolerance = -1 }, []string{"timestamp.future_tolerance: must be >= 0"}},
		{"lateness", func(r *RuleSet) { r.Timestamp.MaxLateness = 0 }, []string{"timestamp.max_lateness: must be > 0"}},
		{"relay tolerance", func(r *RuleSet) { r.ConsumptionWhileDisconnected.ToleranceWh = -1 },
			[]string{"consumption_while_disconnected.tolerance_wh: must be >= 0"}},
		{"linear max", func(r *RuleSet) { r.Estimation.LinearMaxIntervals = -1 }, []string{"estimation.linear_max_intervals: must be >= 0"}},
		{"like-day weeks", func(r *RuleSet) { r.Estimation.LikeDayWeeks = 521 }, []string{"estimation.like_day_weeks: must be in [0, 520]"}},
		{"flat window", func(r *RuleSet) { r.Estimation.FlatWindow = 0 }, []string{"estimation.flat_window: must be >= 1"}},
		{"several at once", func(r *RuleSet) { r.Spike.Factor = 0; r.ZeroRun.MinDuration = -1 },
			[]string{"spike.factor: must be > 1", "zero_run.min_duration: must be > 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := DefaultRuleSet()
			tt.modify(&rs)
			checkErrors(t, rs.Validate(), tt.want)

			c := DefaultConfig()
			c.Classes = map[string]RuleSet{"residential": rs}
			want := make([]string, len(tt.want))
			for i, w := range tt.want {
				want[i] = "vee.classes.residential." + w
			}
			checkErrors(t, c.Validate(), want)
		})
	}
}

func TestConfigValidateNamesDefaultAndEmptyClass(t *testing.T) {
	c := DefaultConfig()
	c.Default.Spike.Factor = 0.5
	c.Classes = map[string]RuleSet{"": DefaultRuleSet()}
	checkErrors(t, c.Validate(), []string{
		"vee.default.spike.factor: must be > 1",
		"vee.classes: class name must not be empty",
	})
}

// checkErrors asserts that err joins exactly the *FieldError messages want.
func checkErrors(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("error = %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("error = nil, want %q", want)
	}
	if got := strings.Split(err.Error(), "\n"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("error = %q, want %q", got, want)
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Errorf("error %v does not hold a *FieldError", err)
	}
}
