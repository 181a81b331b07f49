package forecast

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Day-ahead fleet forecasting.
//
// A fleet has too many meters to fit one model each (a 200-coefficient least-squares fit
// per meter is about 50 TFLOP for a million meters), so the day-ahead model is shared by a
// class of meters: every series is divided by its own level (its mean hourly load over the
// week before the issue), one model maps the scaled recent past to the scaled next local
// day, and each meter's forecast is the shared forecast times its level. Fitting costs one
// QR factorisation per class on a sample of its meters; forecasting a meter is one
// vector–matrix product of about 100 × 24.
//
// Series are kept by local clock hour (24 values per local day, whatever the daylight-saving
// change): ClockHours folds a day's 23 or 25 UTC hours onto the 24 clock hours and UTCHours
// spreads a forecast back, so one coefficient column serves each clock hour all year.

// HoursPerDay is the number of clock hours of a local day in a DaySeries.
const HoursPerDay = 24

// DayType is what kind of day a local date is, as a forecast distinguishes it.
type DayType uint8

const (
	// DayWorking is a working day (Monday to Friday without a holiday, or a substituted
	// working day on a weekend).
	DayWorking DayType = iota
	// DayWeekend is a Saturday or Sunday that is not worked.
	DayWeekend
	// DayHoliday is a public holiday or special non-working day.
	DayHoliday
)

// ErrNoHistory reports a series whose recent history lacks what a model needs (missing
// hours or a zero level); the caller falls back to a baseline and says so.
var ErrNoHistory = errors.New("forecast: not enough history")

// DaySeries is one meter's or group's load by local day and clock hour.
type DaySeries struct {
	// Load holds 24 values per local day, day 0 first, in Wh per clock hour; NaN marks a
	// missing hour. It may stop at the issue day (whose hours from the issue on are NaN or
	// absent) or hold later days for training.
	Load []float64
	// Temp is nil or holds 24 temperatures per day aligned with Load, reaching at least the
	// target day; NaN marks a missing hour. For the past it holds what the model was
	// trained on; for the target day of a production forecast, the weather forecast issued
	// before the issue time.
	Temp []float64
	// Types holds each day's type, reaching at least the target day.
	Types []DayType
}

// days returns the number of days of load.
func (s *DaySeries) days() int { return len(s.Load) / HoursPerDay }

// Panel is a set of series over the same local dates: day d of every series is the date
// First + d days.
type Panel struct {
	// First is the date of day 0 (its year, month and day; the clock and zone are ignored).
	First time.Time
	// Days is the number of days the panel's load covers.
	Days int
	// Series are the panel's members.
	Series []*DaySeries
}

// weekday returns the day of the week of day d.
func (p *Panel) weekday(d int) time.Weekday {
	return time.Date(p.First.Year(), p.First.Month(), p.First.Day()+d, 12, 0, 0, 0, time.UTC).Weekday()
}

// DayAheadSpec is the structure of a day-ahead model issued at a fixed local hour of day D
// for the 24 clock hours of day D+1 (each target is 15 to 38 hours ahead for a 10:00 issue).
type DayAheadSpec struct {
	// IssueHour is the local clock hour of the issue (0–23): hours of day D before it are
	// known, hours from it on are not.
	IssueHour int `json:"issue_hour"`
	// Lags is the number of hourly values read before the issue (1–168).
	Lags int `json:"lags"`
	// Week adds the target day's 24 hours one week earlier (day D−6): seasonal naive's input.
	Week bool `json:"week"`
	// Yesterday adds the last complete day before the issue day (day D−1).
	Yesterday bool `json:"yesterday"`
	// DayType adds the target day's weekday (six indicators), holiday and
	// substituted-working-day flags, and holiday flags of days D and D−1; with one
	// coefficient per target hour these are hour-of-day × day-type terms.
	DayType bool `json:"day_type"`
	// Temp adds the target day's 24 hourly temperatures and their squares (of values
	// standardised on the fit rows): a curved response to heating and cooling.
	Temp bool `json:"temp"`
	// Lambda is the ridge strength relative to the number of samples, on standardised
	// design columns (the intercept not penalised).
	Lambda float64 `json:"lambda"`
}

// String names the spec's features, like "issue=10h lags=24 week yesterday daytype λ=0.01".
func (s DayAheadSpec) String() string {
	f := []string{fmt.Sprintf("issue=%dh", s.IssueHour), fmt.Sprintf("lags=%d", s.Lags)}
	for _, x := range []struct {
		on   bool
		name string
	}{{s.Week, "week"}, {s.Yesterday, "yesterday"}, {s.DayType, "daytype"}, {s.Temp, "temp"}} {
		if x.on {
			f = append(f, x.name)
		}
	}
	return fmt.Sprintf("%s λ=%g", strings.Join(f, " "), s.Lambda)
}

// dayTypeCols is the number of DayType columns: six weekday indicators (Sunday dropped
// against the intercept), target holiday, target substituted working day, holiday on D and
// on D−1.
const dayTypeCols = 10

// Width returns the number of coefficients per target hour, the intercept included.
func (s DayAheadSpec) Width() int {
	p := 1 + s.Lags
	if s.Week {
		p += HoursPerDay
	}
	if s.Yesterday {
		p += HoursPerDay
	}
	if s.DayType {
		p += dayTypeCols
	}
	if s.Temp {
		p += 2 * HoursPerDay
	}
	return p
}

// Check validates the spec.
func (s DayAheadSpec) Check() error {
	if s.IssueHour < 0 || s.IssueHour >= HoursPerDay {
		return fmt.Errorf("forecast: issue hour %d: want 0–23", s.IssueHour)
	}
	if s.Lags < 1 || s.Lags > 7*HoursPerDay {
		return fmt.Errorf("forecast: lags %d: want 1–168", s.Lags)
	}
	if s.Lambda < 0 || math.IsNaN(s.Lambda) || math.IsInf(s.Lambda, 0) {
		return fmt.Errorf("forecast: ridge strength %v: want a finite λ ≥ 0", s.Lambda)
	}
	return nil
}

// firstIssueDay is the earliest issue day a series can be forecast from: the level and the
// week input reach back to day D−7.
const firstIssueDay = 7

// Level returns the series' level at issue day d: the mean hourly load over days d−7 …
// d−1, the scale a shared model's forecast is multiplied by. It returns ErrNoHistory when
// fewer than five of those seven days' hours are known or the mean is not positive.
func (s *DaySeries) Level(d int) (float64, error) {
	if d < firstIssueDay || d > s.days() {
		return 0, fmt.Errorf("%w: issue day %d needs the 7 days before it", ErrNoHistory, d)
	}
	var sum float64
	n := 0
	for _, v := range s.Load[(d-7)*HoursPerDay : d*HoursPerDay] {
		if !math.IsNaN(v) {
			sum += v
			n++
		}
	}
	if n < 5*HoursPerDay {
		return 0, fmt.Errorf("%w: %d of the 168 hours before the issue day are known", ErrNoHistory, n)
	}
	if !(sum > 0) {
		return 0, fmt.Errorf("%w: no consumption in the week before the issue day", ErrNoHistory)
	}
	return sum / float64(n), nil
}

// row writes the raw (unstandardised) design row of issue day d of series s into dst (len
// Width), with load values divided by level, and reports whether every input is known.
func (sp DayAheadSpec) row(p *Panel, s *DaySeries, d int, level float64, dst []float64) bool {
	dst[0] = 1
	k := 1
	issue := d*HoursPerDay + sp.IssueHour // index of the first unknown hour
	for i := issue - sp.Lags; i < issue; i++ {
		v := s.Load[i]
		if math.IsNaN(v) {
			return false
		}
		dst[k] = v / level
		k++
	}
	for _, on := range []struct {
		on  bool
		day int
	}{{sp.Week, d - 6}, {sp.Yesterday, d - 1}} {
		if !on.on {
			continue
		}
		for _, v := range s.Load[on.day*HoursPerDay : (on.day+1)*HoursPerDay] {
			if math.IsNaN(v) {
				return false
			}
			dst[k] = v / level
			k++
		}
	}
	if sp.DayType {
		if len(s.Types) <= d+1 {
			return false
		}
		wd := p.weekday(d + 1)
		for w := time.Monday; w <= time.Saturday; w++ {
			dst[k] = b2f(wd == w)
			k++
		}
		weekend := wd == time.Saturday || wd == time.Sunday
		dst[k] = b2f(s.Types[d+1] == DayHoliday)
		dst[k+1] = b2f(weekend && s.Types[d+1] == DayWorking)
		dst[k+2] = b2f(s.Types[d] == DayHoliday)
		dst[k+3] = b2f(s.Types[d-1] == DayHoliday)
		k += 4
	}
	if sp.Temp {
		if len(s.Temp) < (d+2)*HoursPerDay {
			return false
		}
		for h, v := range s.Temp[(d+1)*HoursPerDay : (d+2)*HoursPerDay] {
			if math.IsNaN(v) {
				return false
			}
			dst[k+h] = v // the squares, at k+24 …, are filled in by squares
		}
	}
	return true
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// target writes the scaled 24 hours of day d+1 into dst and reports whether all are known.
func target(s *DaySeries, d int, level float64, dst []float64) bool {
	if (d+2)*HoursPerDay > len(s.Load) {
		return false
	}
	for h, v := range s.Load[(d+1)*HoursPerDay : (d+2)*HoursPerDay] {
		if math.IsNaN(v) {
			return false
		}
		dst[h] = v / level
	}
	return true
}

// DayAheadModel is a fitted shared day-ahead model. It is read-only after fitting, so
// Predict is safe for concurrent use.
type DayAheadModel struct {
	// Spec is the model's structure and ridge strength.
	Spec DayAheadSpec
	// Samples and Series count the (series, issue day) samples and series it was fitted on.
	Samples, Series int
	// FitMAE is the mean absolute error on its own samples, in units of each series' level.
	FitMAE float64
	// folded are the coefficients on raw design values: row j, column h (len Width·24),
	// with the standardisation folded in, so that prediction is one product.
	folded []float64
	// tempZ standardises the temperature before squaring (when Spec.Temp).
	tempZ scale
}

// Predict forecasts the 24 clock hours of day d+1 of s from issue day d in Wh, reading only
// the hours before the issue hour of day d, the day types and (with Temp) the target day's
// temperatures. buf is scratch space (allocated when shorter than Width). It returns an
// error wrapping ErrNoHistory when an input is missing; the caller then uses a baseline.
func (m *DayAheadModel) Predict(p *Panel, s *DaySeries, d int, buf []float64) ([HoursPerDay]float64, error) {
	var out [HoursPerDay]float64
	w := m.Spec.Width()
	if len(buf) < w {
		buf = make([]float64, w)
	}
	level, err := s.Level(d)
	if err != nil {
		return out, err
	}
	if len(s.Load) < d*HoursPerDay+m.Spec.IssueHour || !m.Spec.row(p, s, d, level, buf[:w]) {
		return out, fmt.Errorf("%w: an input hour, day type or target-day temperature is missing", ErrNoHistory)
	}
	m.Spec.squares(buf[:w], m.tempZ)
	m.product(buf[:w], &out)
	for h := range out {
		out[h] *= level
	}
	return out, nil
}

// Baseline names a day-ahead baseline forecast.
type Baseline string

const (
	// BaselineWeek is seasonal naive: the target day's hours one week earlier.
	BaselineWeek Baseline = "seasonal-naive-week"
	// BaselineDay is seasonal naive over a day: each clock hour's latest value known at the
	// issue (day D before the issue hour, day D−1 after it).
	BaselineDay Baseline = "seasonal-naive-day"
	// BaselineLast repeats the last known hour.
	BaselineLast Baseline = "last-value"
)

// Baselines lists the baselines in the order PredictBaseline tries them.
func Baselines() []Baseline { return []Baseline{BaselineWeek, BaselineDay, BaselineLast} }

// PredictBaseline forecasts day d+1 of s from issue day d with baseline b, issued at
// issueHour. It returns an error wrapping ErrNoHistory when b's inputs are missing.
func PredictBaseline(s *DaySeries, d, issueHour int, b Baseline) ([HoursPerDay]float64, error) {
	var out [HoursPerDay]float64
	known := func(i int) (float64, bool) {
		if i < 0 || i >= len(s.Load) || i >= d*HoursPerDay+issueHour || math.IsNaN(s.Load[i]) {
			return 0, false
		}
		return s.Load[i], true
	}
	for h := range HoursPerDay {
		var i int
		switch b {
		case BaselineWeek:
			i = (d-6)*HoursPerDay + h
		case BaselineDay:
			i = d*HoursPerDay + h
			if h >= issueHour {
				i -= HoursPerDay
			}
		case BaselineLast:
			i = d*HoursPerDay + issueHour - 1
		default:
			return out, fmt.Errorf("forecast: unknown baseline %q", b)
		}
		v, ok := known(i)
		if !ok {
			return out, fmt.Errorf("%w for %s: hour %d of day %d is missing", ErrNoHistory, b, i%HoursPerDay, i/HoursPerDay)
		}
		out[h] = v
	}
	return out, nil
}

// FallbackBaseline returns the first baseline of Baselines whose inputs s has at issue day
// d, with its forecast, or an error wrapping ErrNoHistory when none has.
func FallbackBaseline(s *DaySeries, d, issueHour int) (Baseline, [HoursPerDay]float64, error) {
	var errs []error
	for _, b := range Baselines() {
		f, err := PredictBaseline(s, d, issueHour, b)
		if err == nil {
			return b, f, nil
		}
		errs = append(errs, err)
	}
	return "", [HoursPerDay]float64{}, errors.Join(errs...)
}

// NaiveMAE returns the in-sample mean absolute error of seasonal naive (same hour one week
// earlier) over the known hours of s before issue day d's issue hour: the denominator of
// MASE. It returns NaN when no hour has both values.
func NaiveMAE(s *DaySeries, d, issueHour int) float64 {
	end := min(d*HoursPerDay+issueHour, len(s.Load))
	var sum float64
	n := 0
	for i := 7 * HoursPerDay; i < end; i++ {
		a, b := s.Load[i], s.Load[i-7*HoursPerDay]
		if !math.IsNaN(a) && !math.IsNaN(b) {
			sum += math.Abs(a - b)
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// DayCandidate is one spec tried in SelectDayAhead with its validation error.
type DayCandidate struct {
	// Spec is the structure and ridge strength tried.
	Spec DayAheadSpec `json:"spec"`
	// ValidationMAE is its MAE on the validation days in level units (NaN when it could not
	// be fitted; Err says why).
	ValidationMAE float64 `json:"validation_mae"`
	// Err is why the spec could not be fitted, or empty.
	Err string `json:"error,omitempty"`
}

// DaySelection is the outcome of SelectDayAhead.
type DaySelection struct {
	// Model is the chosen spec refitted on the training and validation days together.
	Model *DayAheadModel
	// ValidationMAE is the chosen spec's MAE on the validation days, and BaselineMAE that of
	// seasonal naive (week) on the same samples, both in level units.
	ValidationMAE, BaselineMAE float64
	// ValidationDays is the number of issue days held out.
	ValidationDays int
	// Candidates lists every spec tried, in order.
	Candidates []DayCandidate
}

// ClockHours folds one local day's UTC-hour values onto its 24 clock hours: wh[i] is the
// hour starting at start + i hours (start being the local midnight in loc) and known[i]
// whether it is known (nil: all are). A clock hour that occurs twice (the day the clocks go
// back) gets the mean of its two hours; one that does not occur (the day they go forward)
// gets the mean of its neighbours. Unknown hours are NaN. Zones whose offset is not a whole
// number of hours fold by the clock hour each UTC hour starts in.
func ClockHours(dst *[HoursPerDay]float64, start time.Time, loc *time.Location, wh []float64, known []bool) {
	var sum [HoursPerDay]float64
	var cnt [HoursPerDay]int
	var seen [HoursPerDay]bool
	for i, v := range wh {
		h := start.Add(time.Duration(i) * time.Hour).In(loc).Hour()
		seen[h] = true
		if known != nil && !known[i] || math.IsNaN(v) {
			continue
		}
		sum[h] += v
		cnt[h]++
	}
	for h := range HoursPerDay {
		dst[h] = math.NaN()
		if cnt[h] > 0 {
			dst[h] = sum[h] / float64(cnt[h])
		}
	}
	for h := range HoursPerDay {
		if !seen[h] && h > 0 && h < HoursPerDay-1 {
			dst[h] = (dst[h-1] + dst[h+1]) / 2 // NaN when a neighbour is unknown
		}
	}
}

// UTCHours spreads a forecast by clock hour over the n UTC hours of a local day starting at
// start (n = 23, 24 or 25): hour i gets the forecast of the clock hour it starts in, so
// the repeated clock hour of a 25-hour day is forecast twice and the skipped one of a
// 23-hour day not at all. dst is appended to and returned.
func UTCHours(dst []float64, start time.Time, loc *time.Location, n int, f *[HoursPerDay]float64) []float64 {
	for i := range n {
		dst = append(dst, f[start.Add(time.Duration(i)*time.Hour).In(loc).Hour()])
	}
	return dst
}
