package forecast

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"slices"
)

// EvalConfig is an evaluation's split and search space. Rows [0, TrainRows) train,
// [TrainRows, TrainRows+ValRows) validate, the next TestRows test; later rows are unused.
type EvalConfig struct {
	// TrainRows, ValRows and TestRows are the sizes of the three consecutive splits.
	TrainRows, ValRows, TestRows int
	// Horizon is the number of steps forecast from every origin.
	Horizon int
	// Lookback, when > 0, is used as is; when 0 it is selected from Lookbacks.
	Lookback int
	// Lookbacks are the lookbacks tried by selection; empty means one day, two days and
	// one season (48, 96 and 336 for half-hourly data with a weekly season).
	Lookbacks []int
	// Lambdas are the relative ridge strengths tried; empty means 0 (plain least squares,
	// skipped where ill-conditioned), 1e-4, 1e-3, 1e-2 and 1e-1.
	Lambdas []float64
	// Normalize z-scores every column with the mean and standard deviation of its
	// training rows; the model is fitted on z-scores and MSE and MAE are reported on them.
	Normalize bool
	// Shared fits one model for all columns (each column's windows are samples of it);
	// otherwise every column gets its own coefficients (with the same selected structure).
	Shared bool
	// Exog includes the data's exogenous regressors (at the target rows) in every
	// candidate; selection covers the other features.
	Exog bool
	// SeasonLags are the numbers of season lags tried (Spec.SeasonLags); empty means 0 and 3.
	SeasonLags []int
	// MaxSamples bounds the training windows of a fit (per model): origins are taken every
	// s-th row, s the smallest stride that fits and is coprime with the season, so that
	// every position of the season is sampled. 0 means 6000.
	MaxSamples int
	// FitMaxSamples bounds the final fit's training windows likewise; 0 means all of them.
	FitMaxSamples int
}

// Metrics are errors averaged over windows, horizon steps and columns.
type Metrics struct {
	// MSE and MAE are in the model's units: z-scores with EvalConfig.Normalize, else
	// original units.
	MSE float64 `json:"mse"`
	MAE float64 `json:"mae"`
	// MAEOrig is the MAE in original units.
	MAEOrig float64 `json:"mae_orig"`
	// MAPE is the mean absolute percentage error in percent (rows whose actual value is 0
	// are left out of it).
	MAPE float64 `json:"mape"`
	// MASE is each column's MAE divided by the in-sample (training rows) MAE of the
	// one-season naive forecast, averaged over columns.
	MASE float64 `json:"mase"`
	// RelMAE is MAEOrig divided by the one-season naive forecast's MAEOrig on the same windows.
	RelMAE float64 `json:"rel_mae"`
}

// Result is one forecaster's metrics on the test windows.
type Result struct {
	Name string `json:"name"`
	Metrics
}

// Candidate is one spec tried by selection, with its validation MAE (model units) or
// the reason it was skipped.
type Candidate struct {
	Spec   Spec    `json:"spec"`
	ValMAE float64 `json:"val_mae,omitempty"`
	Err    string  `json:"error,omitempty"`
}

// Report is an evaluation's outcome.
type Report struct {
	TrainRows int `json:"train_rows"`
	ValRows   int `json:"val_rows"`
	TestRows  int `json:"test_rows"`
	Horizon   int `json:"horizon"`
	Season    int `json:"season"`
	// Windows is the number of test windows per column: TestRows − Horizon + 1.
	Windows int `json:"windows"`
	// Forecasts is the number of forecasts scored per forecaster: windows × horizon × columns.
	Forecasts  int    `json:"forecasts"`
	Normalized bool   `json:"normalized"`
	Mode       string `json:"mode"`
	// PerfectExog names the exogenous regressors read at the target rows from the
	// observations: a perfect forecast of them, which a production forecast does not have.
	PerfectExog []string `json:"perfect_exog_forecast,omitempty"`
	// Chosen is the spec selected on the validation rows; Candidates all that were tried.
	Chosen     Spec        `json:"chosen"`
	Candidates []Candidate `json:"candidates"`
	// FitSamples is the number of training windows of the final fit (per model) and
	// FitStride the stride between their origins.
	FitSamples int `json:"fit_samples"`
	FitStride  int `json:"fit_stride"`
	// Model is the selected model's result; Baselines the baselines' on the same windows.
	Model     Result   `json:"model"`
	Baselines []Result `json:"baselines"`
	// Seconds is the wall time of selection, fitting and testing.
	Seconds float64 `json:"seconds"`
}

// ErrSplit reports a split that does not fit the data, the lookback or the horizon.
var ErrSplit = errors.New("forecast: bad split")

// Evaluate runs the evaluation protocol (see the README's Forecasting section): the spec
// is selected on the validation windows of a model fitted on the training windows, refitted
// on the training and validation windows, and scored with the baselines on every test
// window. Selection and fitting see only the first TrainRows+ValRows rows.
func Evaluate(d *Data, cfg EvalConfig) (*Report, error) {
	start := time.Now()
	if err := d.check(); err != nil {
		return nil, err
	}
	rep, err := cfg.check(d)
	if err != nil {
		return nil, err
	}
	n, v, t, h := cfg.TrainRows, cfg.ValRows, cfg.TestRows, cfg.Horizon
	w, zs := working(d, n, cfg.Normalize)

	known := w.head(n + v)
	chosen, cands, err := selectSpec(known, cfg)
	rep.Candidates = cands
	if err != nil {
		return rep, err
	}
	rep.Chosen = chosen
	final := cfg
	final.MaxSamples = cfg.FitMaxSamples
	if final.MaxSamples == 0 {
		final.MaxSamples = math.MaxInt / 2
	}
	models, samples, stride, err := fitModels(known, final, chosen, chosen.need(known), n+v-h)
	if err != nil {
		return rep, err
	}
	rep.FitSamples, rep.FitStride = samples, stride

	origins := span(n+v, n+v+t-h)
	acc := newAccumulator(d, zs, n, cfg.Normalize)
	for c, sc := range acc.masScale {
		if sc == 0 {
			return rep, fmt.Errorf("forecast: column %q repeats itself exactly every season on the training rows: MASE is undefined", d.Names[c])
		}
	}
	for c := range d.Values {
		p, err := models[modelIndex(cfg, c)].Predict(w, c, origins)
		if err != nil {
			return rep, err
		}
		pr := p.RawMatrix()
		for i, o := range origins {
			row := pr.Data[i*pr.Stride : i*pr.Stride+h]
			for k := range h {
				acc.add("model", c, o+k, zs[c].mean+zs[c].sd*row[k])
			}
		}

	}
	day := max(d.Season/7, 1)
	for c := range d.Values {
		y := d.Values[c]
		for _, o := range origins {
			for k := range h {
				acc.add(snaiveName(d.Season, day, d.Season), c, o+k, y[o+k-d.Season*((k/d.Season)+1)])
				acc.add(snaiveName(day, day, d.Season), c, o+k, y[o+k-day*((k/day)+1)])
				acc.add("last value", c, o+k, y[o-1])
			}
		}
	}
	ref := acc.metrics(snaiveName(d.Season, day, d.Season), 0)
	rep.Model = Result{Name: "linear " + chosen.String(), Metrics: acc.metrics("model", ref.MAEOrig)}
	for _, b := range []string{snaiveName(d.Season, day, d.Season), snaiveName(day, day, d.Season), "last value"} {
		rep.Baselines = append(rep.Baselines, Result{Name: b, Metrics: acc.metrics(b, ref.MAEOrig)})
	}
	for _, es := range acc.sums["model"] {
		rep.Forecasts += int(es.n)
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// snaiveName names the seasonal-naive baseline of period m.
func snaiveName(m, day, season int) string {
	switch {
	case m == season && season == 7*day:
		return fmt.Sprintf("seasonal naive (same time last week, %d rows)", m)
	case m == day && season == 7*day:
		return fmt.Sprintf("seasonal naive (same time yesterday, %d rows)", m)
	}
	return fmt.Sprintf("seasonal naive (%d rows)", m)
}

// check validates the configuration against d and returns the report's skeleton.
func (cfg *EvalConfig) check(d *Data) (*Report, error) {
	n, v, t, h := cfg.TrainRows, cfg.ValRows, cfg.TestRows, cfg.Horizon
	if h < 1 {
		return nil, fmt.Errorf("%w: horizon %d: want ≥ 1", ErrSplit, h)
	}
	if n < 1 || v < 1 || t < 1 {
		return nil, fmt.Errorf("%w: train %d, validation %d and test %d rows: want each ≥ 1", ErrSplit, n, v, t)
	}
	if n+v+t > d.Rows() {
		return nil, fmt.Errorf("%w: train %d + validation %d + test %d rows = %d, but the data has %d rows", ErrSplit, n, v, t, n+v+t, d.Rows())
	}
	if v < h || t < h {
		return nil, fmt.Errorf("%w: validation (%d) and test (%d) rows must each hold one horizon (%d)", ErrSplit, v, t, h)
	}
	if cfg.Lookback < 0 {
		return nil, fmt.Errorf("%w: lookback %d: want ≥ 1 (or 0 to select it)", ErrSplit, cfg.Lookback)
	}
	if len(cfg.Lookbacks) == 0 {
		day := max(d.Season/7, 1)
		cfg.Lookbacks = []int{day, 2 * day, d.Season}
	}
	if cfg.Lookback > 0 {
		cfg.Lookbacks = []int{cfg.Lookback}
	}
	if len(cfg.Lambdas) == 0 {
		cfg.Lambdas = []float64{0, 1e-4, 1e-3, 1e-2, 1e-1}
	}
	if len(cfg.SeasonLags) == 0 {
		cfg.SeasonLags = []int{0, 3}
	}
	if cfg.MaxSamples == 0 {
		cfg.MaxSamples = 6000
	}
	for _, l := range cfg.Lookbacks {
		for _, k := range cfg.SeasonLags {
			if need := max(l, k*d.Season); l < 1 || k < 0 || n-h < need {
				return nil, fmt.Errorf("%w: lookback %d, %d season lags and horizon %d leave no training window in %d training rows", ErrSplit, l, k, h, n)
			}
		}
	}
	if n < d.Season+1 {
		return nil, fmt.Errorf("%w: %d training rows do not cover one season (%d rows) for the seasonal-naive scale of MASE", ErrSplit, n, d.Season)
	}
	if cfg.Exog && len(d.Exog) == 0 {
		return nil, fmt.Errorf("forecast: exogenous terms asked for but the data has no exogenous column")
	}
	rep := &Report{TrainRows: n, ValRows: v, TestRows: t, Horizon: h, Season: d.Season,
		Windows: t - h + 1, Normalized: cfg.Normalize, Mode: "per-column"}
	if cfg.Shared {
		rep.Mode = "shared"
	}
	if cfg.Exog {
		rep.PerfectExog = d.ExogNames
	}
	return rep, nil
}

// working returns the series the models are fitted on (z-scored with the statistics of
// the first n rows when normalize) and each column's scale (identity otherwise).
func working(d *Data, n int, normalize bool) (*Data, []scale) {
	zs := make([]scale, len(d.Values))
	w := *d
	w.Values = make([][]float64, len(d.Values))
	for c, v := range d.Values {
		zs[c] = scale{0, 1}
		w.Values[c] = v
		if normalize {
			zs[c] = fitScale(v, slices.Values(span(0, n-1)))
			z := make([]float64, len(v))
			for i, x := range v {
				z[i] = zs[c].apply(x)
			}
			w.Values[c] = z
		}
	}
	return &w, zs
}

// span returns the rows a … b (inclusive) as a slice.
func span(a, b int) []int {
	s := make([]int, 0, max(b-a+1, 0))
	for i := a; i <= b; i++ {
		s = append(s, i)
	}
	return s
}

// stridedOrigins returns the training origins lookback … last, every s-th, with s the
// smallest stride coprime with the season that keeps perModel·count ≤ maxSamples.
func stridedOrigins(lookback, last, season, columns, maxSamples int) ([]int, int) {
	count := last - lookback + 1
	s := max(1, (count*columns-1)/maxSamples+1)
	for gcd(s, season) != 1 {
		s++
	}
	var o []int
	for i := lookback; i <= last; i += s {
		o = append(o, i)
	}
	return o, s
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// modelIndex is the model that forecasts column c.
func modelIndex(cfg EvalConfig, c int) int {
	if cfg.Shared {
		return 0
	}
	return c
}

// fitModels fits spec s on the origins up to last (targets inside known's rows): one
// shared model or one per column. It returns the models, the samples per model and the stride.
func fitModels(known *Data, cfg EvalConfig, s Spec, lookback, last int) ([]*Model, int, int, error) {
	preps, samples, stride, err := prepareModels(known, cfg, s, lookback, last)
	if err != nil {
		return nil, 0, 0, err
	}
	ms := make([]*Model, len(preps))
	for i, pr := range preps {
		if ms[i], err = pr.solve(s.Lambda); err != nil {
			return nil, 0, 0, err
		}
	}
	return ms, samples, stride, nil
}

func prepareModels(known *Data, cfg EvalConfig, s Spec, lookback, last int) ([]*prepared, int, int, error) {
	groups := [][]int{}
	if cfg.Shared {
		groups = append(groups, span(0, len(known.Values)-1))
	} else {
		for c := range known.Values {
			groups = append(groups, []int{c})
		}
	}
	var preps []*prepared
	var count, stride int
	for _, g := range groups {
		origins, st := stridedOrigins(lookback, last, known.Season, len(g), cfg.MaxSamples)
		var samples []sample
		for _, c := range g {
			for _, o := range origins {
				samples = append(samples, sample{c, o})
			}
		}
		pr, err := prepare(known, samples, s)
		if err != nil {
			return nil, 0, 0, err
		}
		preps = append(preps, pr)
		count, stride = len(samples), st
	}
	return preps, count, stride, nil
}

// selectSpec fits every candidate on the training windows of known (the training and
// validation rows only) and returns the one with the lowest MAE over the validation
// windows, with all candidates tried.
func selectSpec(known *Data, cfg EvalConfig) (Spec, []Candidate, error) {
	n, v, h := cfg.TrainRows, cfg.ValRows, cfg.Horizon
	valOrigins := span(n, n+v-h)
	var cands []Candidate
	best, bestMAE := Spec{}, math.Inf(1)
	for _, l := range cfg.Lookbacks {
		for _, sl := range cfg.SeasonLags {
			for _, offset := range []bool{false, true} {
				for _, cal := range []bool{false, true} {
					s := Spec{Lookback: l, Horizon: h, Offset: offset, Calendar: cal,
						Holiday: cal && known.Holiday != nil, Exog: cfg.Exog, SeasonLags: sl}
					preps, _, _, err := prepareModels(known, cfg, s, s.need(known), n-h)
					if err != nil {
						cands = append(cands, Candidate{Spec: s, Err: err.Error()})
						continue
					}
					for _, lam := range cfg.Lambdas {
						s.Lambda = lam
						mae, err := valMAE(known, cfg, preps, lam, valOrigins)
						if err != nil {
							cands = append(cands, Candidate{Spec: s, Err: err.Error()})
							continue
						}
						cands = append(cands, Candidate{Spec: s, ValMAE: mae})
						if mae < bestMAE {
							best, bestMAE = s, mae
						}
					}
				}
			}
		}
	}
	if math.IsInf(bestMAE, 1) {
		return best, cands, fmt.Errorf("forecast: no candidate model could be fitted (first error: %s)", cands[0].Err)
	}
	return best, cands, nil
}

// valMAE is the MAE (model units) over the validation windows of the models for lambda.
func valMAE(known *Data, cfg EvalConfig, preps []*prepared, lambda float64, origins []int) (float64, error) {
	ms := make([]*Model, len(preps))
	for i, pr := range preps {
		m, err := pr.solve(lambda)
		if err != nil {
			return 0, err
		}
		ms[i] = m
	}
	var sum float64
	var cnt int
	for c, y := range known.Values {
		p, err := ms[modelIndex(cfg, c)].Predict(known, c, origins)
		if err != nil {
			return 0, err
		}
		pr := p.RawMatrix()
		for i, o := range origins {
			for k := range cfg.Horizon {
				sum += math.Abs(pr.Data[i*pr.Stride+k] - y[o+k])
				cnt++
			}
		}
	}
	return sum / float64(cnt), nil
}

// accumulator sums the errors of named forecasters per column.
type accumulator struct {
	d         *Data
	zs        []scale
	normalize bool
	masScale  []float64
	sums      map[string][]errSums
}

type errSums struct{ n, nPct, abs, sq, absOrig, pct float64 }

func newAccumulator(d *Data, zs []scale, trainRows int, normalize bool) *accumulator {
	a := &accumulator{d: d, zs: zs, normalize: normalize, sums: map[string][]errSums{}}
	m := d.Season
	for _, y := range d.Values {
		var s float64
		for t := m; t < trainRows; t++ {
			s += math.Abs(y[t] - y[t-m])
		}
		a.masScale = append(a.masScale, s/float64(trainRows-m))
	}
	return a
}

// add records forecaster name's forecast f (original units) of column c at row t.
func (a *accumulator) add(name string, c, t int, f float64) {
	s, ok := a.sums[name]
	if !ok {
		s = make([]errSums, len(a.d.Values))
		a.sums[name] = s
	}
	y := a.d.Values[c][t]
	e := f - y
	em := e / a.zs[c].sd
	es := &s[c]
	es.n++
	es.abs += math.Abs(em)
	es.sq += em * em
	es.absOrig += math.Abs(e)
	if y != 0 {
		es.nPct++
		es.pct += math.Abs(e / y)
	}
}

// metrics pools forecaster name's sums; ref is the seasonal-naive MAE in original units
// (0 to report a relative MAE of 1, for the reference itself).
func (a *accumulator) metrics(name string, ref float64) Metrics {
	var t errSums
	var mase float64
	for c, s := range a.sums[name] {
		t.n += s.n
		t.nPct += s.nPct
		t.abs += s.abs
		t.sq += s.sq
		t.absOrig += s.absOrig
		t.pct += s.pct
		mase += s.absOrig / s.n / a.masScale[c]
	}
	m := Metrics{MSE: t.sq / t.n, MAE: t.abs / t.n, MAEOrig: t.absOrig / t.n,
		MASE: mase / float64(len(a.sums[name]))}
	if t.nPct > 0 {
		m.MAPE = 100 * t.pct / t.nPct
	}
	m.RelMAE = 1
	if ref > 0 {
		m.RelMAE = m.MAEOrig / ref
	}
	return m
}

// WriteText prints the report as a table.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "split: train %d, validation %d, test %d rows; horizon %d; season %d; %d test windows per column; %s", r.TrainRows, r.ValRows, r.TestRows, r.Horizon, r.Season, r.Windows, r.Mode)
	if r.Normalized {
		fmt.Fprint(w, "; MSE/MAE on train z-scores")
	}
	fmt.Fprintln(w)
	if len(r.PerfectExog) > 0 {
		fmt.Fprintf(w, "exogenous %s read from the observations at the target rows: a PERFECT FORECAST of them\n", strings.Join(r.PerfectExog, ", "))
	}
	fmt.Fprintf(w, "chosen on validation: %s (%d candidates; final fit on %d windows, stride %d)\n", r.Chosen, len(r.Candidates), r.FitSamples, r.FitStride)
	fmt.Fprintf(w, "%-52s %12s %10s %10s %8s %7s %7s\n", "forecaster", "MSE", "MAE", "MAE orig", "MAPE %", "MASE", "relMAE")
	for _, x := range append([]Result{r.Model}, r.Baselines...) {
		fmt.Fprintf(w, "%-52s %12.5g %10.5g %10.5g %8.3f %7.4f %7.4f\n", x.Name, x.MSE, x.MAE, x.MAEOrig, x.MAPE, x.MASE, x.RelMAE)
	}
	fmt.Fprintf(w, "%.1f s\n", r.Seconds)
}
