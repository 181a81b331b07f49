package forecast

import (
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// Spec is one model's structure and ridge strength.
type Spec struct {
	// Lookback is the number of past rows the model reads (L ≥ 1).
	Lookback int `json:"lookback"`
	// Horizon is the number of future rows it forecasts (H ≥ 1), one coefficient column each.
	Horizon int `json:"horizon"`
	// Offset fits on x − x_last (the last observed value) and adds x_last back.
	Offset bool `json:"offset"`
	// Calendar adds position-in-season indicators of the forecast origin (time of day ×
	// day of week for a weekly season, one level dropped against the intercept). Because
	// each horizon step has its own coefficients, an origin's position fixes every target's
	// time of day and day type, so these are hour-of-day × day-type terms of the targets.
	Calendar bool `json:"calendar"`
	// Holiday adds one flag per local day the horizon touches (day of the first target,
	// the next, …): 1 when that day is a holiday and holds a target row.
	Holiday bool `json:"holiday"`
	// Exog adds every exogenous regressor at each target row, and its square (of the value
	// standardised on the fit rows), for a curved response such as demand to temperature.
	Exog bool `json:"exog"`
	// SeasonLags adds, for k = 1 … SeasonLags, the values one to SeasonLags seasons before
	// every target row (y[o+h−k·Season]) that lie before the lookback window: the same time
	// of day and day of week in earlier weeks, without a lookback of several weeks.
	SeasonLags int `json:"season_lags"`
	// Lambda is the ridge strength, relative to the number of samples: the penalty is
	// Lambda·n·‖B‖² on standardised design columns (the intercept not penalised).
	Lambda float64 `json:"lambda"`
}

// String names the spec's features, like "L=336 offset+calendar λ=0.01".
func (s Spec) String() string {
	var f []string
	for _, x := range []struct {
		on   bool
		name string
	}{{s.Offset, "offset"}, {s.Calendar, "calendar"}, {s.Holiday, "holiday"}, {s.Exog, "exog"}, {s.SeasonLags > 0, fmt.Sprintf("%d-season-lags", s.SeasonLags)}} {
		if x.on {
			f = append(f, x.name)
		}
	}
	if len(f) == 0 {
		f = append(f, "lags")
	}
	return fmt.Sprintf("L=%d %s λ=%g", s.Lookback, strings.Join(f, "+"), s.Lambda)
}

// holidayDays is the number of day flags: every local day a horizon can touch.
func (s Spec) holidayDays(d *Data) int { return (s.Horizon+d.dayRows()-1)/d.dayRows() + 1 }

// seasonLagCount is the number of SeasonLags columns: the rows o+h−k·Season older than
// the lookback window.
func (s Spec) seasonLagCount(d *Data) int {
	c := 0
	for k := 1; k <= s.SeasonLags; k++ {
		for h := range s.Horizon {
			if k*d.Season-h > s.Lookback {
				c++
			}
		}
	}
	return c
}

// need is the number of rows a forecast origin needs before it.
func (s Spec) need(d *Data) int { return max(s.Lookback, s.SeasonLags*d.Season) }

// width is the number of design columns (coefficients), the intercept included.
func (s Spec) width(d *Data) int {
	p := 1 + s.Lookback + s.seasonLagCount(d)
	if s.Calendar {
		p += d.Season - 1
	}
	if s.Holiday && d.Holiday != nil {
		p += s.holidayDays(d)
	}
	if s.Exog {
		p += 2 * len(d.Exog) * s.Horizon
	}
	return p
}

// check validates s against d.
func (s Spec) check(d *Data) error {
	if s.Lookback < 1 {
		return fmt.Errorf("forecast: lookback %d: want ≥ 1", s.Lookback)
	}
	if s.SeasonLags < 0 {
		return fmt.Errorf("forecast: season lags %d: want ≥ 0", s.SeasonLags)
	}
	if s.Horizon < 1 {
		return fmt.Errorf("forecast: horizon %d: want ≥ 1", s.Horizon)
	}
	if s.Lambda < 0 || math.IsNaN(s.Lambda) || math.IsInf(s.Lambda, 0) {
		return fmt.Errorf("forecast: ridge strength %v: want a finite λ ≥ 0", s.Lambda)
	}
	if s.Exog && len(d.Exog) == 0 {
		return fmt.Errorf("forecast: exogenous terms asked for but the data has no exogenous column")
	}
	return nil
}

// scale is a mean and standard deviation.
type scale struct{ mean, sd float64 }

func (z scale) apply(x float64) float64 { return (x - z.mean) / z.sd }

// fitScale returns the mean and standard deviation of v at the given rows (sd 1 when v is
// constant there).
func fitScale(v []float64, rows func(yield func(int) bool)) scale {
	var n, s, ss float64
	for t := range rows {
		n++
		s += v[t]
	}
	if n == 0 {
		return scale{0, 1}
	}
	m := s / n
	for t := range rows {
		ss += (v[t] - m) * (v[t] - m)
	}
	sd := math.Sqrt(ss / n)
	if sd == 0 || math.IsNaN(sd) {
		sd = 1
	}
	return scale{m, sd}
}

// Model is a fitted direct multi-horizon linear model.
type Model struct {
	// Spec is the model's structure and ridge strength.
	Spec  Spec
	coef  *mat.Dense // p×H
	cols  []scale    // design columns' standardisation (index 0, the intercept, unused)
	exogZ []scale    // exogenous regressors' standardisation before squaring
}

// Coefficients returns a copy of the coefficient matrix (p × Horizon) on the standardised
// design columns: row 0 is the intercept, then the lags oldest first, the season lags, then the calendar,
// holiday and exogenous terms in that order.
func (m *Model) Coefficients() *mat.Dense { return mat.DenseCopyOf(m.coef) }

// designRow writes origin o's raw design row into dst (len width) and returns the offset
// (x_last when Spec.Offset, else 0) subtracted from lags and targets.
func (s Spec) designRow(d *Data, v []float64, o int, exogZ []scale, dst []float64) float64 {
	off := 0.0
	if s.Offset {
		off = v[o-1]
	}
	dst[0] = 1
	k := 1
	for i := o - s.Lookback; i < o; i++ {
		dst[k] = v[i] - off
		k++
	}
	for j := 1; j <= s.SeasonLags; j++ {
		for h := range s.Horizon {
			if j*d.Season-h > s.Lookback {
				dst[k] = v[o+h-j*d.Season] - off
				k++
			}
		}
	}
	if s.Calendar {
		pos := d.seasonPos(o)
		for j := 1; j < d.Season; j++ {
			dst[k] = 0
			if j == pos {
				dst[k] = 1
			}
			k++
		}
	}
	if s.Holiday && d.Holiday != nil {
		spd := d.dayRows()
		dayStart := o - d.seasonPos(o)%spd
		for day := range s.holidayDays(d) {
			q := dayStart + day*spd
			dst[k] = 0
			if q <= o+s.Horizon-1 && d.Holiday[max(q, 0)] {
				dst[k] = 1
			}
			k++
		}
	}
	if s.Exog {
		for e, x := range d.Exog {
			for h := range s.Horizon {
				z := exogZ[e].apply(x[o+h])
				dst[k] = z
				dst[k+s.Horizon] = z * z
				k++
			}
			k += s.Horizon
		}
	}
	return off
}

// sample is one training or prediction origin: column c of the data, first target row o.
type sample struct{ col, o int }

// design builds the raw design rows and offsets of the samples.
func (s Spec) design(d *Data, samples []sample, exogZ []scale) (*mat.Dense, []float64) {
	p := s.width(d)
	x := mat.NewDense(len(samples), p, nil)
	offs := make([]float64, len(samples))
	for i, sm := range samples {
		offs[i] = s.designRow(d, d.Values[sm.col], sm.o, exogZ, x.RawRowView(i))
	}
	return x, offs
}

// prepared is a factorised training problem, solvable for any ridge strength.
type prepared struct {
	spec  Spec
	fac   *Factorization
	cols  []scale
	exogZ []scale
	n     int
}

// prepare builds and factorises the training problem of spec s (Lambda ignored) on the
// samples: every target d.Values[col][o … o+H−1] must exist.
func prepare(d *Data, samples []sample, s Spec) (*prepared, error) {
	if err := s.check(d); err != nil {
		return nil, err
	}
	exogZ := make([]scale, len(d.Exog))
	for e, x := range d.Exog {
		exogZ[e] = fitScale(x, func(yield func(int) bool) {
			for _, sm := range samples {
				if !yield(sm.o) {
					return
				}
			}
		})
	}
	x, offs := s.design(d, samples, exogZ)
	n, p := x.Dims()
	y := mat.NewDense(n, s.Horizon, nil)
	for i, sm := range samples {
		v := d.Values[sm.col]
		row := y.RawRowView(i)
		for h := range s.Horizon {
			row[h] = v[sm.o+h] - offs[i]
		}
	}
	cols := make([]scale, p)
	for j := 1; j < p; j++ {
		cols[j] = fitScale(x.RawMatrix().Data[j:], func(yield func(int) bool) {
			for i := range n {
				if !yield(i * x.RawMatrix().Stride) {
					return
				}
			}
		})
	}
	standardise(x, cols)
	if n < p {
		return nil, fmt.Errorf("%s: %w: %d samples, %d coefficients", s, ErrTooFewSamples, n, p)
	}
	fac := factorInPlace(x, y) // x and y are ours: no copy of the design

	return &prepared{spec: s, fac: fac, cols: cols, exogZ: exogZ, n: n}, nil
}

// standardise applies the column scales to x (column 0, the intercept, untouched).
func standardise(x *mat.Dense, cols []scale) {
	n, p := x.Dims()
	for i := range n {
		row := x.RawRowView(i)
		for j := 1; j < p; j++ {
			row[j] = cols[j].apply(row[j])
		}
	}
}

// solve returns the model for ridge strength lambda (relative to the number of samples).
func (pr *prepared) solve(lambda float64) (*Model, error) {
	s := pr.spec
	s.Lambda = lambda
	b, err := pr.fac.Solve(lambda*float64(pr.n), 1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	return &Model{Spec: s, coef: b, cols: pr.cols, exogZ: pr.exogZ}, nil
}

// Fit fits spec s on the given origins of the given columns of d (shared weights when more
// than one column: each column's windows are samples of the same model). Every origin o
// needs rows o−max(Lookback, SeasonLags·Season) … o+Horizon−1.
func Fit(d *Data, cols, origins []int, s Spec) (*Model, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	var samples []sample
	for _, c := range cols {
		if c < 0 || c >= len(d.Values) {
			return nil, fmt.Errorf("forecast: column %d out of range", c)
		}
		for _, o := range origins {
			if o < s.need(d) || o+s.Horizon > d.Rows() {
				return nil, fmt.Errorf("forecast: origin %d needs rows %d … %d of %d", o, o-s.need(d), o+s.Horizon-1, d.Rows())
			}
			samples = append(samples, sample{c, o})
		}
	}
	pr, err := prepare(d, samples, s)
	if err != nil {
		return nil, err
	}
	return pr.solve(s.Lambda)
}

// Predict forecasts column col of d from each origin: row i of the result holds the
// forecasts of rows origins[i] … origins[i]+Horizon−1, reading only rows before the
// origin (and the exogenous regressors, holiday flags and timestamps at the target rows,
// which d must then hold: d's rows must reach origin+Horizon−1; without them the rows
// need only reach the origin).
func (m *Model) Predict(d *Data, col int, origins []int) (*mat.Dense, error) {
	if col < 0 || col >= len(d.Values) {
		return nil, fmt.Errorf("forecast: column %d out of range", col)
	}
	s := m.Spec
	last := d.Rows()
	if s.Exog || (s.Holiday && d.Holiday != nil) || (s.Calendar && d.Times != nil) {
		last = d.Rows() - s.Horizon
	}
	samples := make([]sample, len(origins))
	for i, o := range origins {
		if o < s.need(d) || o > last {
			return nil, fmt.Errorf("forecast: origin %d: want %d … %d for %s on %d rows", o, s.need(d), last, s, d.Rows())
		}
		samples[i] = sample{col, o}
	}
	return m.predict(d, samples), nil
}

func (m *Model) predict(d *Data, samples []sample) *mat.Dense {
	x, offs := m.Spec.design(d, samples, m.exogZ)
	standardise(x, m.cols)
	var out mat.Dense
	out.Mul(x, m.coef)
	for i, off := range offs {
		row := out.RawRowView(i)
		for h := range row {
			row[h] += off
		}
	}
	return &out
}
