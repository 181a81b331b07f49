// Package forecast fits and evaluates direct multi-horizon linear load forecasts.
//
// A model maps the lookback window x[o−L … o−1] of a series (plus an intercept, optional
// calendar terms and exogenous regressors) to the next H values y[o … o+H−1] with one
// coefficient matrix B (p × H): column h of B is the linear model of horizon step h. All H
// steps share one design matrix, so one QR factorisation fits them all (many right-hand
// sides; see Factor and Solve).
//
// The models are direct rather than recursive: a recursive model fitted for one step and
// fed its own predictions compounds its one-step error over 48 or more steps and is fitted
// to a loss (one step ahead) that is not the one evaluated, while a direct model fits each
// step's own least-squares problem, so its in-sample error is by construction the lowest a
// linear map of the same inputs can reach at that step. With a shared design the cost is
// the same as one model.
//
// For a fleet, DayAheadModel (dayahead.go, fitted in dayfit.go) is the same kind of direct
// model shared by a class of meters: series by local clock hour, each divided by its own
// level, forecast for the next local day from a fixed issue hour, with day types and
// forecast temperatures; SelectDayAhead chooses its features and ridge strength on
// validation days, and the baselines (seasonal naive by week and by day, last value)
// stand in for a series without the history a model needs.
//
// The package needs no services: Evaluate runs the documented evaluation protocol
// (training, validation and test rows; selection on validation only; rolling windows over
// the test rows; baselines on the same windows) on series read by ReadCSV.
package forecast

import (
	"fmt"
	"time"
)

// Data is a set of aligned, regularly spaced series: the target columns to forecast and
// optional timestamps, holiday flags and exogenous regressors (e.g. temperature).
type Data struct {
	// Names are the target columns' names; Values[c][t] is column c at row t.
	Names  []string
	Values [][]float64
	// Times are the rows' timestamps (wall clock), or nil. With them the calendar terms use
	// the day of the week and the time of day; without them, the row number modulo Season.
	Times []time.Time
	// Holiday flags each row whose local day is a public holiday, or is nil.
	Holiday []bool
	// ExogNames and Exog are the exogenous regressors, aligned with the rows; at
	// prediction time the model reads them at the target rows (in an evaluation on
	// observations this is a "perfect forecast" of them).
	ExogNames []string
	Exog      [][]float64
	// Season is the number of rows in one seasonal period (one week: 336 for half-hourly
	// data). The seasonal-naive baseline, MASE and the calendar terms use it.
	Season int
}

// Rows returns the number of rows.
func (d *Data) Rows() int {
	if len(d.Values) == 0 {
		return 0
	}
	return len(d.Values[0])
}

// head returns the first n rows of d (sharing storage), so that code given it cannot
// read any later row.
func (d *Data) head(n int) *Data {
	h := *d
	h.Values = make([][]float64, len(d.Values))
	for c, v := range d.Values {
		h.Values[c] = v[:n:n]
	}
	if d.Times != nil {
		h.Times = d.Times[:n:n]
	}
	if d.Holiday != nil {
		h.Holiday = d.Holiday[:n:n]
	}
	h.Exog = make([][]float64, len(d.Exog))
	for c, v := range d.Exog {
		h.Exog[c] = v[:n:n]
	}
	return &h
}

// dayRows is the number of rows in one day: Season/7.
func (d *Data) dayRows() int { return max(d.Season/7, 1) }

// seasonPos is row t's position in the season (0 … Season−1): the day of the week
// (Monday first) times the rows per day plus the row of the day when Times are known,
// else t modulo Season.
func (d *Data) seasonPos(t int) int {
	if d.Times == nil {
		return t % d.Season
	}
	tm := d.Times[t]
	spd := d.dayRows()
	dow := (int(tm.Weekday()) + 6) % 7
	slot := (tm.Hour()*3600 + tm.Minute()*60 + tm.Second()) * spd / 86400
	return (dow*spd + slot) % d.Season
}

// check validates d's shape.
func (d *Data) check() error {
	if len(d.Values) == 0 {
		return fmt.Errorf("forecast: no target columns")
	}
	n := d.Rows()
	for c, v := range d.Values {
		if len(v) != n {
			return fmt.Errorf("forecast: column %q has %d rows, want %d", d.Names[c], len(v), n)
		}
	}
	if d.Times != nil && len(d.Times) != n {
		return fmt.Errorf("forecast: %d timestamps for %d rows", len(d.Times), n)
	}
	if d.Holiday != nil && len(d.Holiday) != n {
		return fmt.Errorf("forecast: %d holiday flags for %d rows", len(d.Holiday), n)
	}
	for c, v := range d.Exog {
		if len(v) != n {
			return fmt.Errorf("forecast: exogenous column %q has %d rows, want %d", d.ExogNames[c], len(v), n)
		}
	}
	if d.Season < 1 {
		return fmt.Errorf("forecast: season %d: want ≥ 1", d.Season)
	}
	return nil
}
