package vee

import (
	"math"
	"slices"
	"time"
)

// Names of the rules, used in Flag.Rule and as the keys of a RuleSet's fields.
const (
	RuleMissing      = "missing"
	RuleIntervalSize = "interval_size"
	RuleSpike        = "spike"
	RuleDailyUsage   = "daily_usage"
	RuleNegative     = "negative"
	RuleZeroRun      = "zero_run"
	RuleRollover     = "rollover"
	RuleReplacement  = "replacement"
	RuleTimestamp    = "timestamp"
	RuleDuplicate    = "duplicate"
	RuleUnknownMeter = "unknown_meter"
	// RuleConsumptionWhileDisconnected flags energy recorded while the meter's relay was
	// open: a tamper or bypass alarm.
	RuleConsumptionWhileDisconnected = "consumption_while_disconnected"
	// RuleEstimation names the informational flag describing how an interval
	// was estimated; it is not a validation rule.
	RuleEstimation = "estimation"
)

// Severity says whether a flag makes its interval questionable.
type Severity uint8

const (
	// SeverityInfo flags record something notable (a register rollover, how an
	// interval was estimated) without casting doubt on the value.
	SeverityInfo Severity = iota
	// SeverityQuestionable flags make a non-estimated, non-edited interval
	// QualityQuestionable.
	SeverityQuestionable
)

// String returns "info" or "questionable".
func (s Severity) String() string {
	if s == SeverityInfo {
		return "info"
	}
	return "questionable"
}

// Flag is an annotation raised by a rule on an interval or on the meter.
type Flag struct {
	// Rule is the name of the rule that raised the flag, one of the Rule* constants.
	Rule string
	// Severity says whether the flag makes the interval questionable.
	Severity Severity
	// Reason explains the flag in words, with the numbers involved.
	Reason string
}

// MissingRule flags nominal intervals whose energy cannot be computed from two
// readings (gaps). It has no parameters; gaps are estimated whether or not the
// rule is enabled. Default: enabled.
type MissingRule struct {
	// Enabled turns the rule on.
	Enabled bool `json:"enabled"`
}

// Name returns RuleMissing.
func (MissingRule) Name() string { return RuleMissing }

// IntervalSizeRule checks readings against the nominal grid (From + k ×
// interval). A reading within SnapTolerance of a grid point is moved to it
// silently; a reading farther away is flagged on the interval containing it
// and is not used as a register boundary (its energy is still accounted for
// by the readings around it). The rule also raises a meter flag when the
// readings' usual spacing is a multiple of the nominal interval.
type IntervalSizeRule struct {
	// Enabled turns the rule on.
	Enabled bool `json:"enabled"`
	// SnapTolerance is the largest clock offset snapped to the grid. It must be
	// less than half the interval. Default 30s.
	SnapTolerance time.Duration `json:"snap_tolerance"`
}

// Name returns RuleIntervalSize.
func (IntervalSizeRule) Name() string { return RuleIntervalSize }

// SpikeRule flags a measured interval whose energy exceeds
// max(Factor × P, MinWh), where P is the Percentile (nearest rank) of the
// meter's last LookbackIntervals history intervals that are not questionable.
// The rule is skipped, with a meter-level info flag, when fewer than
// MinHistory such intervals exist.
type SpikeRule struct {
	// Enabled turns the rule on.
	Enabled bool `json:"enabled"`
	// Factor multiplies the history statistic; must be > 1. Default 3.
	Factor float64 `json:"factor"`
	// Percentile picks the history statistic, 50 for the median; in (0, 100]. Default 95.
	Percentile float64 `json:"percentile"`
	// MinWh is the smallest threshold, so near-idle meters do not flag every
	// kettle; >= 0. Default 1000.
	MinWh int64 `json:"min_wh"`
	// LookbackIntervals bounds how many recent history intervals are used; 0
	// uses all. Default 2688 (28 days of 15 minutes).
	LookbackIntervals int `json:"lookback_intervals"`
	// MinHistory is the least number of history intervals needed; >= 1. Default 96.
	MinHistory int `json:"min_history"`
}

// Name returns RuleSpike.
func (SpikeRule) Name() string { return RuleSpike }

// DailyUsageRule compares the total of each local day that lies entirely in
// the window with the median total of the meter's complete history days (the
// last LookbackDays of them). A day above HighFactor × median or below
// LowFactor × median flags each of its intervals; a day with an interval during all of
// which the relay was open is not checked against LowFactor. Day totals include estimated
// intervals. The rule is skipped, with a meter-level info flag, when fewer
// than MinHistoryDays complete history days exist.
type DailyUsageRule struct {
	// Enabled turns the rule on.
	Enabled bool `json:"enabled"`
	// HighFactor must be > 1. Default 3.
	HighFactor float64 `json:"high_factor"`
	// LowFactor must be in [0, 1); 0 disables the low check. Default 0.1.
	LowFactor float64 `json:"low_factor"`
	// LookbackDays bounds how many recent complete days are used; 0 uses all. Default 28.
	LookbackDays int `json:"lookback_days"`
	// MinHistoryDays must be >= 1. Default 7.
	MinHistoryDays int `json:"min_history_days"`
}

// Name returns RuleDailyUsage.
func (DailyUsageRule) Name() string { return RuleDailyUsage }

// NegativeRule flags intervals where the register went backwards by a drop
// that is neither a rollover nor a meter replacement. The negative value is
// kept, so the window still sums to the register difference. Default: enabled.
type NegativeRule struct {
	// Enabled turns the rule on.
	Enabled bool `json:"enabled"`
}

// Name returns RuleNegative.
func (NegativeRule) Name() string { return RuleNegative }

// ZeroRunRule flags runs of consecutive zero-consumption intervals lasting at
// least MinDuration. Intervals measured or estimated between two known
// registers count; flat-filled intervals, and intervals during all of which the relay
// was open (no supply, so zero is expected), break a run.
type ZeroRunRule struct {
	// Enabled turns the rule on.
	Enabled bool `json:"enabled"`
	// MinDuration must be > 0; it is rounded up to whole intervals. Default 24h.
	MinDuration time.Duration `json:"min_duration"`
}

// Name returns RuleZeroRun.
func (ZeroRunRule) Name() string { return RuleZeroRun }

// RolloverRule recognizes a register that wrapped past its maximum. The
// register counts from 0 to RegisterMaxWh − 1 (for example 10^9 for six kWh
// digits), so a drop from prev to next is a rollover when the wrapped
// consumption RegisterMaxWh − prev + next is at most MaxPowerW × the time
// between the readings. The interval then gets that consumption and an info flag.
type RolloverRule struct {
	// Enabled turns the rule on.
	Enabled bool `json:"enabled"`
	// RegisterMaxWh is the register modulus; Input.RegisterMaxWh overrides it
	// per meter. Must be > 0. Default 1 000 000 000.
	RegisterMaxWh int64 `json:"register_max_wh"`
	// MaxPowerW is the largest plausible average power in W; must be > 0. Default 100 000.
	MaxPowerW int64 `json:"max_power_w"`
}

// Name returns RuleRollover.
func (RolloverRule) Name() string { return RuleRollover }

// ReplacementRule recognizes a meter replacement: a drop of the register to a
// value of at most MaxStartWh that is not a rollover. The new value starts a
// new register baseline; no energy is computed across the boundary, whose
// intervals are flat-filled (QualityOther) and flagged.
type ReplacementRule struct {
	// Enabled turns the rule on.
	Enabled bool `json:"enabled"`
	// MaxStartWh is the largest register a new meter starts from; >= 0. Default 10 000.
	MaxStartWh int64 `json:"max_start_wh"`
}

// Name returns RuleReplacement.
func (ReplacementRule) Name() string { return RuleReplacement }

// TimestampRule flags readings stamped in the future (later than now +
// FutureTolerance, or later than their own arrival + FutureTolerance) and
// readings that arrived more than MaxLateness after their timestamp. Readings
// without an arrival time are not checked for lateness. The flag goes on the
// intervals the reading bounds; the reading is still used.
type TimestampRule struct {
	// Enabled turns the rule on.
	Enabled bool `json:"enabled"`
	// FutureTolerance allows for clock skew; >= 0. Default 5m.
	FutureTolerance time.Duration `json:"future_tolerance"`
	// MaxLateness must be > 0. Default 72h.
	MaxLateness time.Duration `json:"max_lateness"`
}

// Name returns RuleTimestamp.
func (TimestampRule) Name() string { return RuleTimestamp }

// DuplicateRule flags a timestamp reported with conflicting register values.
// The value with the latest arrival is used (the larger register when arrivals
// tie); every value appears in the flag. Duplicates with equal values are
// merged silently. Default: enabled.
type DuplicateRule struct {
	// Enabled turns the rule on.
	Enabled bool `json:"enabled"`
}

// Name returns RuleDuplicate.
func (DuplicateRule) Name() string { return RuleDuplicate }

// UnknownMeterRule flags the meter and every interval when the caller says the
// meter is not in the registry. Default: enabled.
type UnknownMeterRule struct {
	// Enabled turns the rule on.
	Enabled bool `json:"enabled"`
}

// Name returns RuleUnknownMeter.
func (UnknownMeterRule) Name() string { return RuleUnknownMeter }

// ConsumptionWhileDisconnectedRule flags an interval during all of which the meter's relay
// was open (disconnected or armed, from Input.Relay) and whose energy, measured or
// conserved from the registers across a gap, exceeds ToleranceWh: no power should flow,
// so the energy points to tampering or a bypass of the relay. The flag is questionable
// and its reason names the relay state and since when. An interval in which the relay
// opened or closed is not checked: part of it was legitimately supplied. Whether the rule
// is enabled or not, a missing interval whose relay was open throughout is estimated as
// 0 Wh (QualityOther), and such intervals are left out of zero runs, of the low
// daily-usage check, and of the values flat fill and the like-day profile average.
// Default: enabled, tolerance 0 Wh.
type ConsumptionWhileDisconnectedRule struct {
	// Enabled turns the rule on.
	Enabled bool `json:"enabled"`
	// ToleranceWh is the largest energy per interval that is not flagged, for meters
	// that register a few Wh of their own consumption or noise with the relay open; >= 0.
	// Default 0.
	ToleranceWh int64 `json:"tolerance_wh"`
}

// Name returns RuleConsumptionWhileDisconnected.
func (ConsumptionWhileDisconnectedRule) Name() string { return RuleConsumptionWhileDisconnected }

// EstimationConfig sets how missing intervals are estimated.
//
// A gap between two known registers is always filled so that it sums exactly
// to the register difference: by linear interpolation (equal shares,
// QualityEstimatedLinear) when it spans at most LinearMaxIntervals intervals or
// when its total is negative, otherwise by the like-day profile
// (QualityEstimatedReferenceDay): the same local weekday and clock time in each
// of the last LikeDayWeeks weeks, averaged, scaled to the total. When no
// like-day data exists, linear interpolation is used instead.
//
// Intervals with a known register on one side only (before the first reading,
// after the last one, or across a meter replacement) are flat-filled with the
// rounded mean of the nearest FlatWindow good measured intervals on the known
// side (or of the last FlatWindow history intervals when the window has none).
// Flat fill is neither a reference-day nor an interpolation method, so it gets
// QualityOther (16).
type EstimationConfig struct {
	// LinearMaxIntervals must be >= 0. Default 4.
	LinearMaxIntervals int `json:"linear_max_intervals"`
	// LikeDayWeeks is how many past weeks form the profile; 0 disables the
	// profile. Must be in [0, 520]. Default 4.
	LikeDayWeeks int `json:"like_day_weeks"`
	// FlatWindow must be >= 1. Default 96.
	FlatWindow int `json:"flat_window"`
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of vals,
// sorting vals in place. It returns false for an empty slice.
func percentile(vals []int64, p float64) (int64, bool) {
	if len(vals) == 0 {
		return 0, false
	}
	rank := int(math.Ceil(p / 100 * float64(len(vals))))
	rank = min(max(rank, 1), len(vals))
	return nthSmallest(vals, rank-1), true
}

// nthSmallest returns the value that vals[k] would hold if vals were sorted, reordering
// vals: a selection in linear expected time (Hoare's, the pivot the median of three),
// where sorting 28 days of history intervals was a tenth of the VEE job's time.
func nthSmallest(vals []int64, k int) int64 {
	lo, hi := 0, len(vals)-1
	for hi-lo > 16 {
		mid := lo + (hi-lo)/2
		// The median of vals[lo], vals[mid], vals[hi] goes to mid.
		if vals[mid] < vals[lo] {
			vals[mid], vals[lo] = vals[lo], vals[mid]
		}
		if vals[hi] < vals[lo] {
			vals[hi], vals[lo] = vals[lo], vals[hi]
		}
		if vals[hi] < vals[mid] {
			vals[hi], vals[mid] = vals[mid], vals[hi]
		}
		pivot := vals[mid]
		i, j := lo, hi
		for i <= j {
			for vals[i] < pivot {
				i++
			}
			for vals[j] > pivot {
				j--
			}
			if i <= j {
				vals[i], vals[j] = vals[j], vals[i]
				i, j = i+1, j-1
			}
		}
		// vals[lo:j+1] <= pivot <= vals[i:hi+1], and vals[j+1:i] == pivot.
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return vals[k]
		}
	}
	slices.Sort(vals[lo : hi+1])
	return vals[k]
}

// dropKind classifies the link between two consecutive readings.
type dropKind uint8

const (
	linkNormal dropKind = iota
	linkRollover
	linkReplacement
	linkNegative
)

// classifyLink decides what a step of the register from prev to next over
// span of time means, and returns the energy attributed to it (zero for a
// replacement). regMax <= 0 disables rollover detection.
func classifyLink(prev, next int64, span time.Duration, regMax int64, rules RuleSet) (dropKind, int64) {
	if next >= prev {
		return linkNormal, next - prev
	}
	if ro := rules.Rollover; ro.Enabled && regMax > 0 && prev < regMax && next >= 0 {
		wrapped := regMax - prev + next
		if wrapped <= maxEnergy(ro.MaxPowerW, span) {
			return linkRollover, wrapped
		}
	}
	if rules.Replacement.Enabled && next <= rules.Replacement.MaxStartWh {
		return linkReplacement, 0
	}
	return linkNegative, next - prev
}

// maxEnergy returns the energy in Wh that powerW delivers over span, saturating.
func maxEnergy(powerW int64, span time.Duration) int64 {
	secs := int64(span / time.Second)
	if powerW > 0 && secs > math.MaxInt64/powerW {
		return math.MaxInt64
	}
	return powerW * secs / 3600
}
