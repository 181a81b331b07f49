package vee

import (
	"errors"
	"slices"
	"time"
)

// Config holds the VEE rules: a default rule set, and a full rule set for each
// customer class that needs different parameters.
type Config struct {
	// Default applies to meters whose class has no entry in Classes.
	Default RuleSet `json:"default"`
	// Classes maps a customer class (for example "residential") to its rules.
	Classes map[string]RuleSet `json:"classes,omitempty"`
}

// DefaultConfig returns a Config whose default rule set is DefaultRuleSet and
// which has no per-class rule sets.
func DefaultConfig() Config {
	return Config{Default: DefaultRuleSet()}
}

// For returns the rule set of the customer class, or the default rule set
// when the class has none.
func (c Config) For(class string) RuleSet {
	if rs, ok := c.Classes[class]; ok {
		return rs
	}
	return c.Default
}

// Validate checks every rule set of c. The error joins one *FieldError per bad
// parameter, each naming the field by its full path, for example
// "vee.classes.residential.spike.factor: must be > 1".
func (c Config) Validate() error {
	errs := c.Default.validate("vee.default.", nil)
	names := make([]string, 0, len(c.Classes))
	for name := range c.Classes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if name == "" {
			errs = append(errs, &FieldError{Field: "vee.classes", Message: "class name must not be empty"})
			continue
		}
		errs = c.Classes[name].validate("vee.classes."+name+".", errs)
	}
	return errors.Join(errs...)
}

// FieldError reports a bad configuration or input field.
type FieldError struct {
	// Field is the dotted path of the field, for example "spike.factor".
	Field string
	// Message says what is wrong, for example "must be > 1".
	Message string
}

// Error returns "field: message".
func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// RuleSet holds the validation rules and estimation parameters applied to one
// customer class. A rule whose Enabled field is false raises no flags, and its
// parameters are not validated.
type RuleSet struct {
	// Missing flags gaps.
	Missing MissingRule `json:"missing"`
	// IntervalSize checks readings against the nominal grid.
	IntervalSize IntervalSizeRule `json:"interval_size"`
	// Spike flags intervals far above the meter's history.
	Spike SpikeRule `json:"spike"`
	// DailyUsage flags days far above or below the meter's history.
	DailyUsage DailyUsageRule `json:"daily_usage"`
	// Negative flags a register going backwards.
	Negative NegativeRule `json:"negative"`
	// ZeroRun flags long runs of zero consumption.
	ZeroRun ZeroRunRule `json:"zero_run"`
	// Rollover recognizes a register wrapping past its maximum.
	Rollover RolloverRule `json:"rollover"`
	// Replacement recognizes a meter replacement.
	Replacement ReplacementRule `json:"replacement"`
	// Timestamp flags readings from the future or arriving too late.
	Timestamp TimestampRule `json:"timestamp"`
	// Duplicate flags a timestamp reported with conflicting values.
	Duplicate DuplicateRule `json:"duplicate"`
	// UnknownMeter flags meters missing from the registry.
	UnknownMeter UnknownMeterRule `json:"unknown_meter"`
	// ConsumptionWhileDisconnected flags energy recorded while the relay was open.
	ConsumptionWhileDisconnected ConsumptionWhileDisconnectedRule `json:"consumption_while_disconnected"`
	// Estimation sets how missing intervals are filled.
	Estimation EstimationConfig `json:"estimation"`
}

// DefaultRuleSet returns a rule set with every rule enabled and the default
// parameters documented on each rule type.
func DefaultRuleSet() RuleSet {
	return RuleSet{
		Missing:      MissingRule{Enabled: true},
		IntervalSize: IntervalSizeRule{Enabled: true, SnapTolerance: 30 * time.Second},
		Spike: SpikeRule{
			Enabled: true, Factor: 3, Percentile: 95, MinWh: 1000,
			LookbackIntervals: 28 * 96, MinHistory: 96,
		},
		DailyUsage: DailyUsageRule{
			Enabled: true, HighFactor: 3, LowFactor: 0.1, LookbackDays: 28, MinHistoryDays: 7,
		},
		Negative:                     NegativeRule{Enabled: true},
		ZeroRun:                      ZeroRunRule{Enabled: true, MinDuration: 24 * time.Hour},
		Rollover:                     RolloverRule{Enabled: true, RegisterMaxWh: 1_000_000_000, MaxPowerW: 100_000},
		Replacement:                  ReplacementRule{Enabled: true, MaxStartWh: 10_000},
		Timestamp:                    TimestampRule{Enabled: true, FutureTolerance: 5 * time.Minute, MaxLateness: 72 * time.Hour},
		Duplicate:                    DuplicateRule{Enabled: true},
		UnknownMeter:                 UnknownMeterRule{Enabled: true},
		ConsumptionWhileDisconnected: ConsumptionWhileDisconnectedRule{Enabled: true},
		Estimation:                   EstimationConfig{LinearMaxIntervals: 4, LikeDayWeeks: 4, FlatWindow: 96},
	}
}

// Validate checks the parameters of r. The error joins one *FieldError per bad
// parameter, naming the field relative to the rule set, for example
// "spike.factor: must be > 1".
func (r RuleSet) Validate() error {
	return errors.Join(r.validate("", nil)...)
}

func (r RuleSet) validate(prefix string, errs []error) []error {
	bad := func(field, msg string) {
		errs = append(errs, &FieldError{Field: prefix + field, Message: msg})
	}
	if r.IntervalSize.Enabled && r.IntervalSize.SnapTolerance < 0 {
		bad("interval_size.snap_tolerance", "must be >= 0")
	}
	if s := r.Spike; s.Enabled {
		if !(s.Factor > 1) {
			bad("spike.factor", "must be > 1")
		}
		if !(s.Percentile > 0 && s.Percentile <= 100) {
			bad("spike.percentile", "must be in (0, 100]")
		}
		if s.MinWh < 0 {
			bad("spike.min_wh", "must be >= 0")
		}
		if s.LookbackIntervals < 0 {
			bad("spike.lookback_intervals", "must be >= 0")
		}
		if s.MinHistory < 1 {
			bad("spike.min_history", "must be >= 1")
		}
	}
	if d := r.DailyUsage; d.Enabled {
		if !(d.HighFactor > 1) {
			bad("daily_usage.high_factor", "must be > 1")
		}
		if !(d.LowFactor >= 0 && d.LowFactor < 1) {
			bad("daily_usage.low_factor", "must be in [0, 1)")
		}
		if d.LookbackDays < 0 {
			bad("daily_usage.lookback_days", "must be >= 0")
		}
		if d.MinHistoryDays < 1 {
			bad("daily_usage.min_history_days", "must be >= 1")
		}
	}
	if r.ZeroRun.Enabled && r.ZeroRun.MinDuration <= 0 {
		bad("zero_run.min_duration", "must be > 0")
	}
	if ro := r.Rollover; ro.Enabled {
		if ro.RegisterMaxWh <= 0 {
			bad("rollover.register_max_wh", "must be > 0")
		}
		if ro.MaxPowerW <= 0 {
			bad("rollover.max_power_w", "must be > 0")
		}
	}
	if r.Replacement.Enabled && r.Replacement.MaxStartWh < 0 {
		bad("replacement.max_start_wh", "must be >= 0")
	}
	if t := r.Timestamp; t.Enabled {
		if t.FutureTolerance < 0 {
			bad("timestamp.future_tolerance", "must be >= 0")
		}
		if t.MaxLateness <= 0 {
			bad("timestamp.max_lateness", "must be > 0")
		}
	}
	if c := r.ConsumptionWhileDisconnected; c.Enabled && c.ToleranceWh < 0 {
		bad("consumption_while_disconnected.tolerance_wh", "must be >= 0")
	}
	e := r.Estimation
	if e.LinearMaxIntervals < 0 {
		bad("estimation.linear_max_intervals", "must be >= 0")
	}
	if e.LikeDayWeeks < 0 || e.LikeDayWeeks > 520 {
		bad("estimation.like_day_weeks", "must be in [0, 520]")
	}
	if e.FlatWindow < 1 {
		bad("estimation.flat_window", "must be >= 1")
	}
	return errs
}
