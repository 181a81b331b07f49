package forecast

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestSolveHandComputed checks least squares and ridge on a case solved by hand: x = 0, 1, 2
// with y = 1, 2, 4 gives slope Sxy/Sxx = 3/2 and intercept 7/3 − 3/2 = 5/6; ridge with λ = 1
// on the slope only gives Sxy/(Sxx+λ) = 1 and 7/3 − 1 = 4/3. The second right-hand side
// is 2y, solved in the same factorisation.
func TestSolveHandComputed(t *testing.T) {
	x := mat.NewDense(3, 2, []float64{1, 0, 1, 1, 1, 2})
	y := mat.NewDense(3, 2, []float64{1, 2, 2, 4, 4, 8})
	for _, c := range []struct {
		lambda float64
		want   []float64 // intercept, slope of the first right-hand side
	}{{0, []float64{5.0 / 6, 1.5}}, {1, []float64{4.0 / 3, 1}}} {
		b, err := Solve(x, y, c.lambda, 1)
		if err != nil {
			t.Fatalf("λ=%v: %v", c.lambda, err)
		}
		for i, w := range c.want {
			if got := b.At(i, 0); math.Abs(got-w) > 1e-14 {
				t.Errorf("λ=%v: coefficient %d = %.17g, want %.17g", c.lambda, i, got, w)
			}
			if got := b.At(i, 1); math.Abs(got-2*w) > 1e-14 {
				t.Errorf("λ=%v: second right-hand side, coefficient %d = %.17g, want %.17g", c.lambda, i, got, 2*w)
			}
		}
	}
}

// TestSolveRefusesIllConditioned checks that a rank-deficient design (a duplicated column)
// or a nearly collinear one is refused without a penalty and solved with one.
func TestSolveRefusesIllConditioned(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, eps := range []float64{0, 1e-14} {
		x := mat.NewDense(50, 3, nil)
		y := mat.NewDense(50, 1, nil)
		for i := range 50 {
			u := rng.NormFloat64()
			x.SetRow(i, []float64{1, u, u + eps*rng.NormFloat64()})
			y.Set(i, 0, u+rng.NormFloat64())
		}
		if _, err := Solve(x, y, 0, 1); !errors.Is(err, ErrIllConditioned) {
			t.Errorf("eps=%g: least squares: err = %v, want ErrIllConditioned", eps, err)
		}
		b, err := Solve(x, y, 1, 1)
		if err != nil {
			t.Fatalf("eps=%g: ridge: %v", eps, err)
		}
		if d := math.Abs(b.At(1, 0) - b.At(2, 0)); d > 1e-6 {
			t.Errorf("eps=%g: ridge splits the duplicated column unevenly: %v vs %v", eps, b.At(1, 0), b.At(2, 0))
		}
	}
	if _, err := Solve(mat.NewDense(2, 3, []float64{1, 2, 3, 4, 5, 7}), mat.NewDense(2, 1, []float64{1, 2}), 1, 1); !errors.Is(err, ErrTooFewSamples) {
		t.Errorf("2×3 design: err = %v, want ErrTooFewSamples", err)
	}
	if _, err := Solve(mat.NewDense(3, 1, []float64{1, 2, 3}), mat.NewDense(3, 1, []float64{1, 2, 3}), -1, 0); err == nil {
		t.Error("negative λ accepted")
	}
}

// numpyLstsq solves min ‖AB − Y‖ with numpy.linalg.lstsq (an SVD-based solver,
// independent of gonum's QR) and returns B and AB.
func numpyLstsq(t *testing.T, a, y *mat.Dense) (b, fitted *mat.Dense) {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, m *mat.Dense) {
		var buf bytes.Buffer
		r, c := m.Dims()
		for i := range r {
			for j := range c {
				if j > 0 {
					buf.WriteByte(' ')
				}
				buf.WriteString(strconv.FormatFloat(m.At(i, j), 'g', 17, 64))
			}
			buf.WriteByte('\n')
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.txt", a)
	write("y.txt", y)
	script := `import sys, numpy as np
d = sys.argv[1]
a = np.loadtxt(d + "/a.txt", ndmin=2); y = np.loadtxt(d + "/y.txt", ndmin=2)
b = np.linalg.lstsq(a, y, rcond=None)[0]
np.savetxt(d + "/b.txt", b, fmt="%.17g"); np.savetxt(d + "/f.txt", a @ b, fmt="%.17g")`
	cmd := exec.Command("python3", "-c", script, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	read := func(name string, rows, cols int) *mat.Dense {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(raw))
		if len(f) != rows*cols {
			t.Fatalf("%s: %d numbers, want %d×%d", name, len(f), rows, cols)
		}
		m := mat.NewDense(rows, cols, nil)
		for i, s := range f {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatal(err)
			}
			m.RawMatrix().Data[i] = v
		}
		return m
	}
	n, p := a.Dims()
	_, k := y.Dims()
	return read("b.txt", p, k), read("f.txt", n, k)
}

// requireNumpy skips the test under -short or when python3 with numpy is missing.
func requireNumpy(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("cross-check with numpy skipped under -short")
	}
	if err := exec.Command("python3", "-c", "import numpy").Run(); err != nil {
		t.Skipf("cross-check skipped: python3 with numpy not available (%v); make test-deps installs it", err)
	}
}

// relErr is ‖a − b‖_F / ‖b‖_F.
func relErr(a, b mat.Matrix) float64 {
	var d mat.Dense
	d.Sub(a, b)
	return mat.Norm(&d, 2) / mat.Norm(b, 2)
}

// ridgeAugmented is the ordinary least-squares problem equivalent to ridge: X over
// √λ·I (rows for the penalised columns), Y over zeros.
func ridgeAugmented(x, y *mat.Dense, lambda float64, free int) (*mat.Dense, *mat.Dense) {
	n, p := x.Dims()
	_, k := y.Dims()
	a := mat.NewDense(n+p-free, p, nil)
	a.Slice(0, n, 0, p).(*mat.Dense).Copy(x)
	for j := free; j < p; j++ {
		a.Set(n+j-free, j, math.Sqrt(lambda))
	}
	b := mat.NewDense(n+p-free, k, nil)
	b.Slice(0, n, 0, k).(*mat.Dense).Copy(y)
	return a, b
}

// TestSolveMatchesNumpy cross-checks Solve with numpy's lstsq on the same matrices:
// fitted values always, coefficients on well-conditioned problems, to 1e-8 relative. The
// designs are a random one, a model design of lags and calendar terms on a synthetic load
// series (ridge), and a badly conditioned polynomial one (fitted values only).
func TestSolveMatchesNumpy(t *testing.T) {
	requireNumpy(t)
	rng := rand.New(rand.NewPCG(3, 4))
	random := mat.NewDense(300, 12, nil)
	for i := range 300 {
		random.Set(i, 0, 1)
		for j := 1; j < 12; j++ {
			random.Set(i, j, rng.NormFloat64()*float64(j))
		}
	}
	d := synthetic(2000, 14, rng)
	spec := Spec{Lookback: 10, Horizon: 4, Calendar: true, Exog: true}
	var samples []sample
	for o := 14; o <= 1990; o += 3 {
		samples = append(samples, sample{0, o})
	}
	pr, err := prepare(d, samples, spec)
	if err != nil {
		t.Fatal(err)
	}
	design, _ := spec.design(d, samples, pr.exogZ)
	standardise(design, pr.cols)
	poly := mat.NewDense(200, 9, nil)
	for i := range 200 {
		u := float64(i) / 199
		for j := range 9 {
			poly.Set(i, j, math.Pow(u, float64(j)))
		}
	}
	for _, c := range []struct {
		name    string
		x       *mat.Dense
		lambda  float64
		coefToo bool
	}{
		{"random least squares", random, 0, true},
		{"random ridge", random, 25, true},
		{"model design ridge", design, 0.01 * float64(len(samples)), true},
		{"model design least squares", design, 0, true},
		{"polynomial degree 8 (κ≈1e7) least squares", poly, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, _ := c.x.Dims()
			y := mat.NewDense(n, 3, nil)
			for i := range n {
				for k := range 3 {
					y.Set(i, k, math.Sin(float64(i*(k+1))/7)+rng.NormFloat64())
				}
			}
			b, err := Solve(c.x, y, c.lambda, 1)
			if err != nil {
				t.Fatal(err)
			}
			a, rhs := c.x, y
			if c.lambda > 0 {
				a, rhs = ridgeAugmented(c.x, y, c.lambda, 1)
			}
			nb, _ := numpyLstsq(t, a, rhs)
			var fit, nfit mat.Dense
			fit.Mul(c.x, b)
			nfit.Mul(c.x, nb)
			if e := relErr(&fit, &nfit); e > 1e-8 || math.IsNaN(e) {
				t.Errorf("fitted values differ from numpy's by %.3g relative", e)
			}
			if e := relErr(b, nb); c.coefToo && (e > 1e-8 || math.IsNaN(e)) {
				t.Errorf("coefficients differ from numpy's by %.3g relative", e)
			}
			t.Logf("%s: fitted %.2g, coefficients %.2g relative to numpy", c.name, relErr(&fit, &nfit), relErr(b, nb))
		})
	}
}

// synthetic is a series with a season of the given length (two "days" a week apart in
// shape), an exogenous regressor with a linear and a quadratic effect, and noise.
func synthetic(rows, season int, rng *rand.Rand) *Data {
	y := make([]float64, rows)
	e := make([]float64, rows)
	for t := range rows {
		e[t] = 10 + 5*math.Sin(float64(t)/37) + rng.NormFloat64()
		pos := t % season
		y[t] = 100 + 10*math.Sin(2*math.Pi*float64(pos)/float64(season)) + 2*e[t] + 0.1*(e[t]-10)*(e[t]-10) + rng.NormFloat64()
	}
	return &Data{Names: []string{"y"}, Values: [][]float64{y}, ExogNames: []string{"e"}, Exog: [][]float64{e}, Season: season}
}
