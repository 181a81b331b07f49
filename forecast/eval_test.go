package forecast

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/meterhouse/meterhouse/internal/testenv"
)

// smallConfig is a fast evaluation of the synthetic series.
func smallConfig() EvalConfig {
	return EvalConfig{TrainRows: 600, ValRows: 200, TestRows: 150, Horizon: 5,
		Lookbacks: []int{4, 14}, Lambdas: []float64{0, 1e-3, 1e-1}, SeasonLags: []int{0, 1}, Exog: true}
}

// TestEvaluateCountsWindowsAndNeverReadsTestRows checks the protocol: one window per test
// start point (test rows − horizon + 1, each scored at every step), and selection and
// fitting that give the same choice, candidates and model when every test row is replaced
// by other values (targets and the exogenous regressor alike), while the test scores change.
func TestEvaluateCountsWindowsAndNeverReadsTestRows(t *testing.T) {
	cfg := smallConfig()
	d := synthetic(1000, 14, rand.New(rand.NewPCG(5, 6)))
	a, err := Evaluate(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := cfg.TestRows - cfg.Horizon + 1; a.Windows != want || a.Forecasts != want*cfg.Horizon {
		t.Errorf("windows %d, forecasts %d; want %d and %d", a.Windows, a.Forecasts, want, want*cfg.Horizon)
	}
	changed := *d
	changed.Values = [][]float64{append([]float64(nil), d.Values[0]...)}
	changed.Exog = [][]float64{append([]float64(nil), d.Exog[0]...)}
	for r := cfg.TrainRows + cfg.ValRows; r < d.Rows(); r++ {
		changed.Values[0][r] = 1e6 * float64(r%3)
		changed.Exog[0][r] = -1e3
	}
	b, err := Evaluate(&changed, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Candidates, b.Candidates) || a.Chosen != b.Chosen {
		t.Errorf("selection depends on the test rows: chose %v, then %v", a.Chosen, b.Chosen)
	}
	if a.FitSamples != b.FitSamples || a.Model.MAE == b.Model.MAE {
		t.Errorf("test rows changed but the test MAE did not (%v): the test is not sensitive", a.Model.MAE)
	}
	if len(a.Candidates) != 2*2*2*2*3 {
		t.Errorf("%d candidates, want 48 (2 lookbacks × 2 season lags × offset × calendar × 3 λ)", len(a.Candidates))
	}
	// A lookback given is used as is.
	cfg.Lookback = 9
	c, err := Evaluate(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Chosen.Lookback != 9 {
		t.Errorf("lookback 9 given, chosen %d", c.Chosen.Lookback)
	}
}

// TestEvaluateBaselinesHandComputed checks the baselines and MASE on y = 2t: the last value
// misses step k (0-based) by 2(k+1), so its MAE is (H+1) = 5 and MSE 4·(1+4+9+16)/4 = 30;
// seasonal naive of m rows repeats the last m rows, missing step k by 2m(⌊k/m⌋+1): 28 at
// every step for m = 14 (MSE 784), 4, 4, 8, 8 for m = 2 (MAE 6, MSE 40). The training
// seasonal-naive MAE (MASE's scale) is 2·14 = 28.
func TestEvaluateBaselinesHandComputed(t *testing.T) {
	y := make([]float64, 400)
	e := make([]float64, 400)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range y {
		y[i] = 2 * float64(i)
		e[i] = rng.NormFloat64()
	}
	d := &Data{Names: []string{"y"}, Values: [][]float64{y}, Season: 14, Exog: [][]float64{e}, ExogNames: []string{"e"}}
	cfg := EvalConfig{TrainRows: 200, ValRows: 100, TestRows: 100, Horizon: 4, Lookbacks: []int{3}, Lambdas: []float64{1e-3}, SeasonLags: []int{0}}
	r, err := Evaluate(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Metrics{
		snaiveName(14, 2, 14): {MAE: 28, MSE: 784, MASE: 1, RelMAE: 1},
		snaiveName(2, 2, 14):  {MAE: 6, MSE: 40, MASE: 6.0 / 28, RelMAE: 6.0 / 28},
		"last value":          {MAE: 5, MSE: 30, MASE: 5.0 / 28, RelMAE: 5.0 / 28},
	}
	for _, b := range r.Baselines {
		w, ok := want[b.Name]
		if !ok {
			t.Errorf("unexpected baseline %q", b.Name)
			continue
		}
		for _, c := range [][2]float64{{b.MAE, w.MAE}, {b.MAEOrig, w.MAE}, {b.MSE, w.MSE}, {b.MASE, w.MASE}, {b.RelMAE, w.RelMAE}} {
			if math.Abs(c[0]-c[1]) > 1e-9*math.Max(1, c[1]) {
				t.Errorf("%s: %+v, want MAE %v MASE %v relMAE %v", b.Name, b.Metrics, w.MAE, w.MASE, w.RelMAE)
				break
			}
		}
	}
	// The model fits a trend exactly: far below seasonal naive.
	if r.Model.RelMAE > 1e-3 {
		t.Errorf("model relative MAE %v on a straight line", r.Model.RelMAE)
	}
}

// TestModelRecoversCalendarAndExog checks the alignment of calendar and exogenous terms:
// y = profile(position in season) + 3·e at the same row, without noise, is forecast
// exactly by least squares with calendar and exogenous terms at every step.
func TestModelRecoversCalendarAndExog(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const season = 21
	y, e := make([]float64, 900), make([]float64, 900)
	profile := make([]float64, season)
	for i := range profile {
		profile[i] = rng.Float64() * 50
	}
	for i := range y {
		e[i] = rng.NormFloat64()
		y[i] = profile[i%season] + 3*e[i]
	}
	d := &Data{Names: []string{"y"}, Values: [][]float64{y}, Exog: [][]float64{e}, ExogNames: []string{"e"}, Season: season}
	s := Spec{Lookback: 2, Horizon: 6, Calendar: true, Exog: true}
	m, err := Fit(d, []int{0}, span(2, 700), s)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Predict(d, 0, span(701, 894))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []int{1, 895} {
		if _, err := m.Predict(d, 0, []int{bad}); err == nil {
			t.Errorf("origin %d accepted (exogenous values needed up to row %d of 900)", bad, bad+5)
		}
	}
	for i, o := range span(701, 894) {
		for h := range 6 {
			if diff := math.Abs(p.At(i, h) - y[o+h]); diff > 1e-8 {
				t.Fatalf("origin %d step %d: forecast %v, actual %v", o, h, p.At(i, h), y[o+h])
			}
		}
	}
	if _, err := Fit(d, []int{0}, []int{1}, s); err == nil {
		t.Error("origin 1 with lookback 2 accepted")
	}
}

// TestEvaluateRejectsBadSplits checks that splits which do not fit are refused by name.
func TestEvaluateRejectsBadSplits(t *testing.T) {
	d := synthetic(1000, 14, rand.New(rand.NewPCG(1, 1)))
	for _, c := range []struct {
		name string
		mod  func(*EvalConfig)
		want string
	}{
		{"too many rows", func(c *EvalConfig) { c.TestRows = 500 }, "the data has 1000 rows"},
		{"test shorter than horizon", func(c *EvalConfig) { c.Horizon = 160 }, "must each hold one horizon"},
		{"lookback too long", func(c *EvalConfig) { c.Lookback = 598 }, "leave no training window"},
		{"no horizon", func(c *EvalConfig) { c.Horizon = 0 }, "horizon 0"},
	} {
		cfg := smallConfig()
		c.mod(&cfg)
		_, err := Evaluate(d, cfg)
		if !errors.Is(err, ErrSplit) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want ErrSplit with %q", c.name, err, c.want)
		}
	}
}

// TestReadCSV checks the columns read, the season inferred from half-hourly timestamps and
// the errors of bad files.
func TestReadCSV(t *testing.T) {
	good := "\"\",\"Time\",\"Demand\",\"Temperature\",\"Holiday\"\n" +
		"1,2012-01-01,4382.8,21.4,TRUE\n2,2012-01-01 00:30:00,4263.4,21.05,TRUE\n3,2012-01-01 01:00:00,4048.9,20.7,FALSE\n"
	d, err := ReadCSV(strings.NewReader(good), CSVOptions{Columns: []string{"Demand"}, TimeCol: "Time", HolidayCol: "Holiday", Exog: []string{"Temperature"}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Season != 336 || d.Rows() != 3 || d.Values[0][1] != 4263.4 || d.Exog[0][2] != 20.7 || !d.Holiday[0] || d.Holiday[2] || d.seasonPos(2) != 6*48+2 {
		t.Errorf("read %+v", d)
	}
	for _, c := range []struct {
		name, file string
		opt        CSVOptions
		want       string
	}{
		{"missing column", good, CSVOptions{Columns: []string{"Load"}, Season: 48}, `no column "Load"`},
		{"non-numeric", "a,b\n1,x\n", CSVOptions{Columns: []string{"b"}, Season: 2}, `line 2, column "b": "x" is not a number`},
		{"NaN", "a\n1\nNaN\n", CSVOptions{Columns: []string{"a"}, Season: 2}, `line 3, column "a": NaN is not a finite number`},
		{"bad holiday", "a,h\n1,maybe\n", CSVOptions{Columns: []string{"a"}, HolidayCol: "h", Season: 2}, `"maybe" is not TRUE/FALSE/1/0`},
		{"bad time", "t,a\nnoon,1\n", CSVOptions{Columns: []string{"a"}, TimeCol: "t"}, `"noon" is not a timestamp`},
		{"no season", "a\n1\n", CSVOptions{Columns: []string{"a"}}, "give a season"},
		{"no rows", "a\n", CSVOptions{Columns: []string{"a"}, Season: 2}, "no data rows"},
	} {
		_, err := ReadCSV(strings.NewReader(c.file), c.opt)
		if !errors.Is(err, ErrCSV) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want ErrCSV with %q", c.name, err, c.want)
		}
	}
}

// TestEvaluateVicElecSlice runs the evaluation on the first 34 weeks of vic_elec
// (in ../shared/data beside the repository, or the folder MH_SHARED_DATA names; it is not
// part of the repository): the model must beat seasonal naive.
func TestEvaluateVicElecSlice(t *testing.T) {
	dir := os.Getenv("MH_SHARED_DATA")
	if dir == "" {
		dir = filepath.Join(testenv.RepoRoot(), "..", "shared", "data")
	}
	path := filepath.Join(dir, "vic_elec.csv")
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("vic_elec not available (%v)", err)
	}
	defer f.Close()
	if testing.Short() {
		t.Skip("skipped under -short")
	}
	d, err := ReadCSV(f, CSVOptions{Columns: []string{"Demand"}, TimeCol: "Time", HolidayCol: "Holiday", Exog: []string{"Temperature"}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Evaluate(d, EvalConfig{TrainRows: 26 * 336, ValRows: 4 * 336, TestRows: 4 * 336, Horizon: 48,
		Lookbacks: []int{336}, Lambdas: []float64{1e-2}, SeasonLags: []int{0}, Exog: true, MaxSamples: 2500, FitMaxSamples: 4000, Normalize: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: relative MAE %.3f, MASE %.3f (%.1f s)", r.Model.Name, r.Model.RelMAE, r.Model.MASE, r.Seconds)
	if r.Model.RelMAE >= 1 || r.Windows != 4*336-47 {
		t.Errorf("relative MAE %v over %d windows: want < 1 over %d", r.Model.RelMAE, r.Windows, 4*336-47)
	}
}
