package job

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/table"
)

// Errors are the accuracy measures of one forecast over its target hours that have
// complete actuals (a row of forecast_accuracy, see
// schema/migrations/0033_forecast_accuracy.sql).
type Errors struct {
	// Hours counts the hours measured: those with a complete actual.
	Hours int
	// ActualWh and ForecastWh sum the actuals and the forecasts over those hours.
	ActualWh, ForecastWh float64
	// MAE is the mean absolute error and RMSE the root mean squared error, in Wh per hour.
	MAE, RMSE float64
	// MAPE is the mean of |error| / actual over the hours with a positive actual; NaN when
	// there is none.
	MAPE float64
	// Bias is the mean of forecast − actual.
	Bias float64
	// MASE is MAE divided by the forecast's naive MAE; NaN when that is NaN or 0.
	MASE float64
}

// Measure compares forecast with actual over the hours i where complete[i] is true (the
// three slices have the same length; a shorter actual or complete leaves the hours past
// its end unmeasured). naiveMAE is the MASE denominator. With no complete hour, Hours is
// 0 and every measure NaN.
func Measure(forecast, actual []float64, complete []bool, naiveMAE float64) Errors {
	var e Errors
	var absSum, sqSum, errSum, apeSum float64
	apeN := 0
	for i, f := range forecast {
		if i >= len(actual) || i >= len(complete) || !complete[i] {
			continue
		}
		a := actual[i]
		d := f - a
		e.Hours++
		e.ActualWh += a
		e.ForecastWh += f
		absSum += math.Abs(d)
		sqSum += d * d
		errSum += d
		if a > 0 {
			apeSum += math.Abs(d) / a
			apeN++
		}
	}
	if e.Hours == 0 {
		nan := math.NaN()
		e.MAE, e.RMSE, e.MAPE, e.Bias, e.MASE = nan, nan, nan, nan, nan
		return e
	}
	n := float64(e.Hours)
	e.MAE, e.RMSE, e.Bias = absSum/n, math.Sqrt(sqSum/n), errSum/n
	e.MAPE = math.NaN()
	if apeN > 0 {
		e.MAPE = apeSum / float64(apeN)
	}
	e.MASE = math.NaN()
	if !math.IsNaN(naiveMAE) && naiveMAE != 0 {
		e.MASE = e.MAE / naiveMAE
	}
	return e
}

// ScoreResult says what Score wrote.
type ScoreResult struct {
	// Rows counts the forecast_accuracy rows written, per scope (meter, feeder, …).
	Rows map[string]int
	// Pending counts the forecasts read that have no complete hour yet and got no row.
	Pending int
}

// Complete hours. A meter's hour counts when its profile holds all four 15-minute
// intervals (measured or estimated, as consumption_profiles counts them); a group's when
// every interval of its members' rows is there, measured or estimated (intervals +
// estimated = expected_intervals > 0): group_consumption counts estimated intervals apart
// from the measured ones, and an hour holding one estimate is validated all the same.
const hourIntervals = 4

func groupHourComplete(intervals, expected, estimated uint32) bool {
	return expected > 0 && intervals+estimated >= expected
}

// The SQL of Score. Forecasts and profiles of meters are streamed in meter order and
// merge-joined; the groups' forecasts and hours are few and read whole.
const (
	meterBoundsSQL = `SELECT min(start), max(start), count()
FROM forecasts FINAL
WHERE scope = 'meter' AND issued >= ? AND issued < ?`

	meterForecastsSQL = `SELECT id, issued, start, wh, method, model_version, naive_mae
FROM forecasts FINAL
WHERE scope = 'meter' AND issued >= ? AND issued < ?
ORDER BY id, issued`

	// The days bound the primary key (day is the meter's local date of start, so it is
	// start's UTC date or the next); start bounds the rows.
	meterProfilesSQL = `SELECT meter_id, start, wh, intervals
FROM consumption_profiles FINAL
WHERE day >= toDate(?) AND day <= toDate(?) AND start > ? AND start < ?
  AND meter_id IN (SELECT id FROM forecasts WHERE scope = 'meter' AND issued >= ? AND issued < ?)
ORDER BY meter_id, start`

	groupForecastsSQL = `SELECT scope, id, issued, start, wh, method, model_version, naive_mae
FROM forecasts FINAL
WHERE scope != 'meter' AND issued >= ? AND issued < ?
ORDER BY scope, id, issued`

	groupHoursSQL = `SELECT group_kind, group_id, start, wh, intervals, expected_intervals, estimated
FROM group_consumption FINAL
WHERE resolution = '1h' AND start >= ? AND start < ? AND group_id IN (SELECT arrayJoin(?))`
)

const insertAccuracy = `INSERT INTO forecast_accuracy (scope, id, issued, start, hours, actual_wh, forecast_wh, mae, rmse, mape, bias, mase, method, model_version, computed_at)`

// Score writes a forecast_accuracy row for every forecast issued in [issuedFrom,
// issuedTo) that has at least one target hour with a complete actual (see Measure and
// groupHourComplete), with computed_at computedAt: scoring an issue again, once late
// actuals or edits arrived, replaces its rows. Actuals are consumption_profiles for
// meters and group_consumption (1h) for groups, both read FINAL.
//
// Memory is bounded whatever the number of meters: the meters' forecasts and the
// profiles of their target days are streamed in meter order and merge-joined, so Score
// holds one meter's forecasts and profiles at a time, plus at most FlushRows accuracy
// rows (about 10 MB) before it sends them. What grows is the groups' part, which is read
// whole: every group forecast of the range and its target hours, about 1 KB per group
// and issue (10 MB for 10 000 group forecasts).
func (s *Store) Score(ctx context.Context, issuedFrom, issuedTo, computedAt time.Time) (ScoreResult, error) {
	for _, t := range []struct {
		name string
		t    time.Time
	}{{"from", issuedFrom}, {"to", issuedTo}, {"computed_at", computedAt}} {
		if err := schema.CheckTime(t.name, t.t); err != nil {
			return ScoreResult{}, fmt.Errorf("score forecasts: %w", err)
		}
	}
	if !issuedFrom.Before(issuedTo) {
		return ScoreResult{}, fmt.Errorf("score forecasts: %w", fault.Invalid("to", "%s is not after from %s",
			issuedTo.UTC().Format(time.RFC3339), issuedFrom.UTC().Format(time.RFC3339)))
	}
	from, to := issuedFrom.UTC(), issuedTo.UTC()
	res := ScoreResult{Rows: map[string]int{}}
	w := newAccuracyWriter(ctx, s, computedAt.UTC().Truncate(time.Second))
	if err := s.scoreMeters(ctx, w, &res, from, to); err != nil {
		return res, err
	}
	if err := s.scoreGroups(ctx, w, &res, from, to); err != nil {
		return res, err
	}
	if err := w.flush(); err != nil {
		return res, err
	}
	for scope, n := range w.rows {
		res.Rows[scope] = n
	}
	return res, nil
}

// scored is what Score keeps of a forecast.
type scored struct {
	scope, id, method, version string
	issued, start              time.Time
	wh                         []float64
	naive                      float64
}

// profile is one consumption_profiles row.
type profile struct {
	meter     string
	start     time.Time
	wh        []int64
	intervals []uint8
}

// meterActuals fills actual and complete for f's hours from the profiles of its meter.
func (f *scored) meterActuals(ps []profile, actual []float64, complete []bool) {
	for i := range f.wh {
		t := f.start.Add(time.Duration(i) * time.Hour)
		actual[i], complete[i] = 0, false
		for _, p := range ps {
			d := t.Sub(p.start)
			if d < 0 || d%time.Hour != 0 {
				continue
			}
			if j := int(d / time.Hour); j < len(p.wh) && j < len(p.intervals) {
				actual[i], complete[i] = float64(p.wh[j]), p.intervals[j] >= hourIntervals
				break
			}
		}
	}
}

func (s *Store) scoreMeters(ctx context.Context, w *accuracyWriter, res *ScoreResult, from, to time.Time) error {
	var lo, hi time.Time
	var n uint64
	if err := s.conn.QueryRow(ctx, meterBoundsSQL, from, to).Scan(&lo, &hi, &n); err != nil {
		return fmt.Errorf("score meters: %w", err)
	}
	if n == 0 {
		return nil
	}
	// A profile holding a target hour starts at most 25 hours before it; the last target
	// hour is before hi + MaxHours.
	pLo, pHi := lo.UTC().Add(-25*time.Hour), hi.UTC().Add(MaxHours*time.Hour)
	dayLo, dayHi := dateOf(pLo).Format(time.DateOnly), dateOf(pHi).AddDate(0, 0, 1).Format(time.DateOnly)
	fr, err := s.conn.Query(ctx, meterForecastsSQL, from, to)
	if err != nil {
		return fmt.Errorf("score meters: read forecasts: %w", err)
	}
	defer fr.Close()
	pr, err := s.conn.Query(ctx, meterProfilesSQL, dayLo, dayHi, pLo, pHi, from, to)
	if err != nil {
		return fmt.Errorf("score meters: read profiles: %w", err)
	}
	defer pr.Close()

	// next reads the next profile into pending; done when there is none.
	var pending profile
	var done bool
	next := func() error {
		prev := pending.meter
		if !pr.Next() {
			done = true
			if err := pr.Err(); err != nil {
				return fmt.Errorf("score meters: read profiles: %w", err)
			}
			return nil
		}
		pending = profile{}
		if err := pr.Scan(&pending.meter, &pending.start, &pending.wh, &pending.intervals); err != nil {
			return fmt.Errorf("score meters: read profiles: %w", err)
		}
		if pending.meter < prev {
			return fmt.Errorf("score meters: profiles out of meter order (%q after %q)", pending.meter, prev)
		}
		return nil
	}
	if err := next(); err != nil {
		return err
	}
	var fs []scored
	var ps []profile
	var actual []float64
	var complete []bool
	// flushMeter scores the forecasts of one meter (fs) against its profiles.
	flushMeter := func() error {
		if len(fs) == 0 {
			return nil
		}
		id := fs[0].id
		ps = ps[:0]
		for !done && pending.meter <= id {
			if pending.meter == id {
				ps = append(ps, pending)
			}
			if err := next(); err != nil {
				return err
			}
		}
		for i := range fs {
			f := &fs[i]
			actual, complete = actual[:0], complete[:0]
			for range f.wh {
				actual, complete = append(actual, 0), append(complete, false)
			}
			f.meterActuals(ps, actual, complete)
			if err := w.add(f, Measure(f.wh, actual, complete, f.naive), res); err != nil {
				return err
			}
		}
		clear(fs)
		fs = fs[:0]
		return nil
	}
	var prevID string
	for fr.Next() {
		f := scored{scope: ScopeMeter}
		if err := fr.Scan(&f.id, &f.issued, &f.start, &f.wh, &f.method, &f.version, &f.naive); err != nil {
			return fmt.Errorf("score meters: read forecasts: %w", err)
		}
		f.issued, f.start = f.issued.UTC(), f.start.UTC()
		if f.id < prevID {
			return fmt.Errorf("score meters: forecasts out of meter order (%q after %q)", f.id, prevID)
		}
		if f.id != prevID {
			if err := flushMeter(); err != nil {
				return err
			}
			prevID = f.id
		}
		fs = append(fs, f)
	}
	if err := fr.Err(); err != nil {
		return fmt.Errorf("score meters: read forecasts: %w", err)
	}
	return flushMeter()
}

// groupHour is one hour of a group's validated consumption.
type groupHour struct {
	wh       float64
	complete bool
}

type groupHourKey struct {
	kind, id string
	hour     int64
}

func (s *Store) scoreGroups(ctx context.Context, w *accuracyWriter, res *ScoreResult, from, to time.Time) error {
	rows, err := s.conn.Query(ctx, groupForecastsSQL, from, to)
	if err != nil {
		return fmt.Errorf("score groups: read forecasts: %w", err)
	}
	var fs []scored
	ids := map[string]bool{}
	var lo, hi time.Time
	for rows.Next() {
		var f scored
		if err := rows.Scan(&f.scope, &f.id, &f.issued, &f.start, &f.wh, &f.method, &f.version, &f.naive); err != nil {
			rows.Close()
			return fmt.Errorf("score groups: read forecasts: %w", err)
		}
		f.issued, f.start = f.issued.UTC(), f.start.UTC()
		end := f.start.Add(time.Duration(len(f.wh)) * time.Hour)
		if len(fs) == 0 || f.start.Before(lo) {
			lo = f.start
		}
		if len(fs) == 0 || end.After(hi) {
			hi = end
		}
		ids[f.id] = true
		fs = append(fs, f)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("score groups: read forecasts: %w", err)
	}
	if len(fs) == 0 {
		return nil
	}
	idList := make([]string, 0, len(ids))
	for id := range ids {
		idList = append(idList, id)
	}
	hours := map[groupHourKey]groupHour{}
	hr, err := s.conn.Query(ctx, groupHoursSQL, lo, hi, idList)
	if err != nil {
		return fmt.Errorf("score groups: read group consumption: %w", err)
	}
	defer hr.Close()
	for hr.Next() {
		var k groupHourKey
		var start time.Time
		var wh int64
		var intervals, expected, estimated uint32
		if err := hr.Scan(&k.kind, &k.id, &start, &wh, &intervals, &expected, &estimated); err != nil {
			return fmt.Errorf("score groups: read group consumption: %w", err)
		}
		k.hour = start.Unix()
		hours[k] = groupHour{wh: float64(wh), complete: groupHourComplete(intervals, expected, estimated)}
	}
	if err := hr.Err(); err != nil {
		return fmt.Errorf("score groups: read group consumption: %w", err)
	}
	for i := range fs {
		f := &fs[i]
		actual, complete := make([]float64, len(f.wh)), make([]bool, len(f.wh))
		for j := range f.wh {
			h := hours[groupHourKey{f.scope, f.id, f.start.Add(time.Duration(j) * time.Hour).Unix()}]
			actual[j], complete[j] = h.wh, h.complete
		}
		if err := w.add(f, Measure(f.wh, actual, complete, f.naive), res); err != nil {
			return err
		}
	}
	return nil
}

// accuracyWriter buffers forecast_accuracy rows and sends them FlushRows at a time.
type accuracyWriter struct {
	s          *Store
	ctx        context.Context
	computedAt time.Time
	rows       map[string]int

	scope, id, method, version                    *table.Col[string]
	issued, start, at                             *table.Col[time.Time]
	actual, forecast, mae, rmse, mape, bias, mase *table.Col[float64]
	hours                                         []uint16
}

func newAccuracyWriter(ctx context.Context, s *Store, computedAt time.Time) *accuracyWriter {
	return &accuracyWriter{s: s, ctx: ctx, computedAt: computedAt, rows: map[string]int{},
		scope: table.Strings("scope", nil), id: table.Strings("id", nil),
		method: table.Strings("method", nil), version: table.Strings("model_version", nil),
		issued: table.Times("issued", nil), start: table.Times("start", nil), at: table.Times("computed_at", nil),
		actual: table.Float64s("actual_wh", nil), forecast: table.Float64s("forecast_wh", nil),
		mae: table.Float64s("mae", nil), rmse: table.Float64s("rmse", nil), mape: table.Float64s("mape", nil),
		bias: table.Float64s("bias", nil), mase: table.Float64s("mase", nil)}
}

// add buffers f's row, or counts f as pending when it has no complete hour.
func (w *accuracyWriter) add(f *scored, e Errors, res *ScoreResult) error {
	if e.Hours == 0 {
		res.Pending++
		return nil
	}
	w.scope.Append(f.scope)
	w.id.Append(f.id)
	w.issued.Append(f.issued)
	w.start.Append(f.start)
	w.hours = append(w.hours, uint16(e.Hours))
	w.actual.Append(e.ActualWh)
	w.forecast.Append(e.ForecastWh)
	w.mae.Append(e.MAE)
	w.rmse.Append(e.RMSE)
	w.mape.Append(e.MAPE)
	w.bias.Append(e.Bias)
	w.mase.Append(e.MASE)
	w.method.Append(f.method)
	w.version.Append(f.version)
	w.at.Append(w.computedAt)
	if w.scope.Len() >= FlushRows {
		return w.flush()
	}
	return nil
}

// flush sends the buffered rows and empties the buffers, keeping their memory.
func (w *accuracyWriter) flush() error {
	n := w.scope.Len()
	err := w.s.insertColumns(w.ctx, insertAccuracy, "forecast accuracy rows", n, w.scope.Values, w.id.Values,
		w.issued.Values, w.start.Values, w.hours, w.actual.Values, w.forecast.Values, w.mae.Values, w.rmse.Values,
		w.mape.Values, w.bias.Values, w.mase.Values, w.method.Values, w.version.Values, w.at.Values)
	if err != nil {
		return err
	}
	for _, s := range w.scope.Values {
		w.rows[s]++
	}
	for _, c := range []table.Column{w.scope, w.id, w.method, w.version, w.issued, w.start, w.at,
		w.actual, w.forecast, w.mae, w.rmse, w.mape, w.bias, w.mase} {
		c.Reset()
	}
	w.hours = w.hours[:0]
	return nil
}

// MaxAccuracyRange is the longest range of issues one accuracy read may span.
const MaxAccuracyRange = 366 * 24 * time.Hour

const accuracySeriesSQL = `SELECT issued, start, hours, actual_wh, forecast_wh, mae, rmse, mape, bias, mase, method, model_version
FROM forecast_accuracy FINAL
WHERE scope = ? AND id = ? AND issued >= ? AND issued < ?
ORDER BY issued`

// The medians sample at most 8192 series per issue, deterministically by id (exact up to
// that many), so that memory stays bounded for a million meters over a year of issues.
const accuracySummarySQL = `SELECT issued, count(),
    quantileDeterministic(0.5)(mae, cityHash64(id)), avg(mae),
    countIf(isFinite(mase)), quantileDeterministicIf(0.5)(mase, cityHash64(id), isFinite(mase)), avgIf(mase, isFinite(mase)),
    avg(bias), sum(hours)
FROM forecast_accuracy FINAL
WHERE scope = ? AND issued >= ? AND issued < ?
GROUP BY issued
ORDER BY issued`

// checkIssueRange refuses a range of issues that is empty, reversed, longer than
// MaxAccuracyRange or outside what the store holds.
func checkIssueRange(from, to time.Time) error {
	if err := schema.CheckTime("from", from); err != nil {
		return err
	}
	if err := schema.CheckTime("to", to); err != nil {
		return err
	}
	if !to.After(from) {
		return fault.Invalid("to", "must be after from")
	}
	if to.Sub(from) > MaxAccuracyRange {
		return fault.Invalid("to", "the range spans %s; at most 366 days are allowed", to.Sub(from))
	}
	return nil
}

// Accuracy returns the forecast_accuracy rows of one series whose issue is in [from, to),
// oldest first: issued, start, hours, actual_wh, forecast_wh, mae, rmse, mape, bias,
// mase, method, model_version (NaN measures are nulls in JSON).
func (s *Store) Accuracy(ctx context.Context, scope, id string, from, to time.Time) (*table.Table, error) {
	if err := CheckSeries("scope", scope, "id", id); err != nil {
		return nil, err
	}
	if err := checkIssueRange(from, to); err != nil {
		return nil, err
	}
	rows, err := s.conn.Query(ctx, accuracySeriesSQL, scope, id, from.UTC(), to.UTC())
	if err != nil {
		return nil, fmt.Errorf("read forecast accuracy: %w", err)
	}
	defer rows.Close()
	issued, start := table.Times("issued", nil), table.Times("start", nil)
	hours := table.Int64s("hours", nil)
	floats := []*table.Col[float64]{table.Float64s("actual_wh", nil), table.Float64s("forecast_wh", nil),
		table.Float64s("mae", nil), table.Float64s("rmse", nil), table.Float64s("mape", nil),
		table.Float64s("bias", nil), table.Float64s("mase", nil)}
	method, version := table.Strings("method", nil), table.Strings("model_version", nil)
	for rows.Next() {
		var is, st time.Time
		var h uint16
		var v [7]float64
		var m, mv string
		if err := rows.Scan(&is, &st, &h, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &m, &mv); err != nil {
			return nil, fmt.Errorf("read forecast accuracy: %w", err)
		}
		issued.Append(is.UTC())
		start.Append(st.UTC())
		hours.Append(int64(h))
		for i, c := range floats {
			c.Append(v[i])
		}
		method.Append(m)
		version.Append(mv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read forecast accuracy: %w", err)
	}
	cols := []table.Column{issued, start, hours}
	for _, c := range floats {
		cols = append(cols, c)
	}
	return table.New(append(cols, method, version)...), nil
}

// AccuracySummary returns, per issue in [from, to), the accuracy over every series of
// scope, oldest first: issued, series (how many were scored), median_mae, mean_mae,
// median_mase, mean_mase (over the series with a MASE; null when none has), mean_bias and
// hours (summed): what shows whether a model drifts.
func (s *Store) AccuracySummary(ctx context.Context, scope string, from, to time.Time) (*table.Table, error) {
	if scope != ScopeMeter {
		if _, err := schema.ParseGroupKind(scope); err != nil {
			return nil, fault.Invalid("scope", "%q is not meter or a group kind (feeder, region, customer_class, tariff, fleet)", scope)
		}
	}
	if err := checkIssueRange(from, to); err != nil {
		return nil, err
	}
	rows, err := s.conn.Query(ctx, accuracySummarySQL, scope, from.UTC(), to.UTC())
	if err != nil {
		return nil, fmt.Errorf("read forecast accuracy: %w", err)
	}
	defer rows.Close()
	issued := table.Times("issued", nil)
	series, hours := table.UInt64s("series", nil), table.UInt64s("hours", nil)
	medMAE, meanMAE := table.Float64s("median_mae", nil), table.Float64s("mean_mae", nil)
	medMASE, meanMASE := table.Float64s("median_mase", nil), table.Float64s("mean_mase", nil)
	bias := table.Float64s("mean_bias", nil)
	for rows.Next() {
		var is time.Time
		var n, withMASE, h uint64
		var mm, am, mq, aq, b float64
		if err := rows.Scan(&is, &n, &mm, &am, &withMASE, &mq, &aq, &b, &h); err != nil {
			return nil, fmt.Errorf("read forecast accuracy: %w", err)
		}
		if withMASE == 0 {
			mq, aq = math.NaN(), math.NaN()
		}
		issued.Append(is.UTC())
		series.Append(n)
		medMAE.Append(mm)
		meanMAE.Append(am)
		medMASE.Append(mq)
		meanMASE.Append(aq)
		bias.Append(b)
		hours.Append(h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read forecast accuracy: %w", err)
	}
	return table.New(issued, series, medMAE, meanMAE, medMASE, meanMASE, bias, hours), nil
}
