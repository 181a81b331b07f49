package forecast

import (
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// Fitting day-ahead models.
//
// A class model is fitted on about 100 000 (series, day) samples for several specs and
// ridge strengths. Every spec tried in one selection is a subset of the columns of one
// superset spec (the union of their features, the longest lag window), so the samples are
// collected and standardised once, as superset rows, and reduced to Gram matrices XᵀX and
// XᵀY of the training and validation days; each spec's problem is then the submatrix of
// its columns, solved in O(p³) whatever the number of samples. A Householder QR per spec
// and strength measured 1.5 s on this scale (gonum's QR is level-2 BLAS), over a minute
// per class; the Gram matrices take one pass over the samples.
//
// The normal equations square the condition number, so every solve checks it: a Cholesky
// factor of XᵀX + λnI whose condition number exceeds MaxGramCondition is discarded and the
// problem solved by QR on the standardised design rows (kept for that) instead.

// MaxGramCondition is the largest condition number of XᵀX + λnI that the day-ahead fit
// solves by Cholesky: its solution then keeps about four correct digits in float64, the
// same as MaxCondition leaves QR.
const MaxGramCondition = 1e12

// daySamples are collected samples: raw superset design rows, scaled targets and the
// seasonal-naive (week) forecasts of those targets.
type daySamples struct {
	x, y, naive []float64 // n×p, n×24, n×24
	n, series   int
}

// collect gathers the samples of issue days [from, to) of the panel that have every input
// of sp and the target.
func collect(p *Panel, sp DayAheadSpec, from, to int) *daySamples {
	w := sp.Width()
	out := &daySamples{}
	row := make([]float64, w)
	var y, nv [HoursPerDay]float64
	for _, s := range p.Series {
		used := false
		for d := max(from, firstIssueDay); d < to && d+1 < s.days(); d++ {
			level, err := s.Level(d)
			if err != nil || !sp.row(p, s, d, level, row) || !target(s, d, level, y[:]) || !weekNaive(s, d, level, nv[:]) {
				continue
			}
			out.x = append(out.x, row...)
			out.y = append(out.y, y[:]...)
			out.naive = append(out.naive, nv[:]...)
			out.n++
			used = true
		}
		if used {
			out.series++
		}
	}
	return out
}

// weekNaive writes the scaled target day one week earlier (seasonal naive) into dst.
func weekNaive(s *DaySeries, d int, level float64, dst []float64) bool {
	for h, v := range s.Load[(d-6)*HoursPerDay : (d-5)*HoursPerDay] {
		if math.IsNaN(v) {
			return false
		}
		dst[h] = v / level
	}
	return true
}

// squares fills the temperature-square columns of a raw row from its temperature columns.
func (sp DayAheadSpec) squares(r []float64, tempZ scale) {
	if !sp.Temp {
		return
	}
	k := sp.Width() - 2*HoursPerDay
	for h := range HoursPerDay {
		z := tempZ.apply(r[k+h])
		r[k+HoursPerDay+h] = z * z
	}
}

// superset returns the spec whose columns include every spec's: the longest lag window and
// every feature any of them has. All specs must share the issue hour.
func superset(specs []DayAheadSpec) (DayAheadSpec, error) {
	if len(specs) == 0 {
		return DayAheadSpec{}, fmt.Errorf("forecast: no day-ahead spec to fit")
	}
	sup := specs[0]
	for _, s := range specs {
		if err := s.Check(); err != nil {
			return sup, err
		}
		if s.IssueHour != sup.IssueHour {
			return sup, fmt.Errorf("forecast: specs of issue hours %d and %d cannot be fitted together", sup.IssueHour, s.IssueHour)
		}
		sup.Lags = max(sup.Lags, s.Lags)
		sup.Week, sup.Yesterday, sup.DayType, sup.Temp = sup.Week || s.Week, sup.Yesterday || s.Yesterday, sup.DayType || s.DayType, sup.Temp || s.Temp
	}
	sup.Lambda = 0
	return sup, nil
}

// columnsIn returns the indices of s's design columns within the rows of sup (a superset of
// s), in s's own order.
func (s DayAheadSpec) columnsIn(sup DayAheadSpec) []int {
	idx := []int{0}
	for i := sup.Lags - s.Lags; i < sup.Lags; i++ { // the newest s.Lags lags
		idx = append(idx, 1+i)
	}
	k := 1 + sup.Lags
	for _, b := range []struct{ in, sup bool }{{s.Week, sup.Week}, {s.Yesterday, sup.Yesterday}} {
		if b.in {
			for h := range HoursPerDay {
				idx = append(idx, k+h)
			}
		}
		if b.sup {
			k += HoursPerDay
		}
	}
	if sup.DayType {
		if s.DayType {
			for j := range dayTypeCols {
				idx = append(idx, k+j)
			}
		}
		k += dayTypeCols
	}
	if s.Temp {
		for j := range 2 * HoursPerDay {
			idx = append(idx, k+j)
		}
	}
	return idx
}

// gramFit holds a selection's samples reduced to Gram matrices on standardised superset
// columns: of the training days and of the validation days.
type gramFit struct {
	sup        DayAheadSpec
	cols       []scale // the superset columns' standardisation (fitted on training days)
	tempZ      scale
	train, val *daySamples
	gT, gV     *mat.Dense // XᵀX of the training and validation samples (p×p)
	cT, cV     *mat.Dense // XᵀY (p×24)
	stdT, stdV []float64  // the standardised rows, for the QR fallback
	nT, nV     int
}

// newGramFit collects the samples of issue days [from, split) for training and [split,
// to) for validation (none when split == to) with the superset's inputs.
func newGramFit(p *Panel, sup DayAheadSpec, from, split, to int) *gramFit {
	g := &gramFit{sup: sup, train: collect(p, sup, from, split), val: &daySamples{}}
	if split < to {
		g.val = collect(p, sup, split, to)
	}
	w := sup.Width()
	g.nT, g.nV = g.train.n, g.val.n
	if g.nT == 0 {
		return g
	}
	if sup.Temp {
		k := w - 2*HoursPerDay
		g.tempZ = fitScale(g.train.x, func(yield func(int) bool) {
			for i := range g.nT {
				for h := range HoursPerDay {
					if !yield(i*w + k + h) {
						return
					}
				}
			}
		})
		for _, smp := range []*daySamples{g.train, g.val} {
			for i := range smp.n {
				sup.squares(smp.x[i*w:(i+1)*w], g.tempZ)
			}
		}
	}
	g.cols = make([]scale, w)
	for j := 1; j < w; j++ {
		g.cols[j] = fitScale(g.train.x, func(yield func(int) bool) {
			for i := range g.nT {
				if !yield(i*w + j) {
					return
				}
			}
		})
	}
	g.gT, g.cT, g.stdT = g.reduce(g.train)
	g.gV, g.cV, g.stdV = g.reduce(g.val)
	return g
}

// reduce standardises the samples' rows and accumulates XᵀX (upper triangle mirrored) and
// XᵀY over them.
func (g *gramFit) reduce(smp *daySamples) (*mat.Dense, *mat.Dense, []float64) {
	w := g.sup.Width()
	gram := mat.NewDense(w, w, nil)
	xty := mat.NewDense(w, HoursPerDay, nil)
	std := make([]float64, len(smp.x))
	for i := range smp.n {
		r := std[i*w : (i+1)*w]
		copy(r, smp.x[i*w:(i+1)*w])
		for j := 1; j < w; j++ {
			r[j] = g.cols[j].apply(r[j])
		}
		y := smp.y[i*HoursPerDay : (i+1)*HoursPerDay]
		for a, xa := range r {
			if xa == 0 {
				continue
			}
			gr := gram.RawRowView(a)[a:]
			for b, xb := range r[a:] {
				gr[b] += xa * xb
			}
			cr := xty.RawRowView(a)
			for h, yh := range y {
				cr[h] += xa * yh
			}
		}
	}
	for a := range w {
		for b := a + 1; b < w; b++ {
			gram.Set(b, a, gram.At(a, b))
		}
	}
	return gram, xty, std
}

// solve fits spec s (a subset of the superset) with ridge strength lambda on the training
// days, or on the training and validation days together when full is set.
func (g *gramFit) solve(s DayAheadSpec, lambda float64, full bool) (*DayAheadModel, error) {
	idx := s.columnsIn(g.sup)
	w := len(idx)
	n := g.nT
	if full {
		n += g.nV
	}
	if n < w {
		return nil, fmt.Errorf("%s: %w: %d samples, %d coefficients", s, ErrTooFewSamples, n, w)
	}
	a := mat.NewSymDense(w, nil)
	c := mat.NewDense(w, HoursPerDay, nil)
	for i, ii := range idx {
		for j := i; j < w; j++ {
			v := g.gT.At(ii, idx[j])
			if full {
				v += g.gV.At(ii, idx[j])
			}
			if i == j && i > 0 {
				v += lambda * float64(n)
			}
			a.SetSym(i, j, v)
		}
		for h := range HoursPerDay {
			v := g.cT.At(ii, h)
			if full {
				v += g.cV.At(ii, h)
			}
			c.Set(i, h, v)
		}
	}
	var b *mat.Dense
	var ch mat.Cholesky
	if ch.Factorize(a) && ch.Cond() <= MaxGramCondition {
		b = new(mat.Dense)
		if err := ch.SolveTo(b, c); err != nil {
			b = nil
		}
	}
	if b == nil { // ill-conditioned normal equations: QR on the design rows
		var err error
		if b, err = g.solveQR(idx, lambda*float64(n), full); err != nil {
			return nil, fmt.Errorf("%s λ=%g: %w", s, lambda, err)
		}
	}
	s.Lambda = lambda
	m := &DayAheadModel{Spec: s, Samples: n, Series: g.train.series, tempZ: g.tempZ, folded: make([]float64, w*HoursPerDay)}
	// x_std,j = (x_j − mean_j)/sd_j, so Σ x_std,j·B_j = Σ x_j·B_j/sd_j − Σ mean_j·B_j/sd_j:
	// the second sum moves into the intercept row.
	for h := range HoursPerDay {
		m.folded[h] = b.At(0, h)
	}
	for j := 1; j < w; j++ {
		sc := g.cols[idx[j]]
		for h := range HoursPerDay {
			v := b.At(j, h) / sc.sd
			m.folded[j*HoursPerDay+h] = v
			m.folded[h] -= v * sc.mean
		}
	}
	return m, nil
}

// solveQR solves the ridge problem of columns idx by QR of the standardised design rows.
func (g *gramFit) solveQR(idx []int, lambda float64, full bool) (*mat.Dense, error) {
	w, sw := len(idx), g.sup.Width()
	rows := [][]float64{g.stdT}
	ys := [][]float64{g.train.y}
	if full {
		rows, ys = append(rows, g.stdV), append(ys, g.val.y)
	}
	var xd, yd []float64
	for k, std := range rows {
		for i := range len(std) / sw {
			for _, j := range idx {
				xd = append(xd, std[i*sw+j])
			}
			yd = append(yd, ys[k][i*HoursPerDay:(i+1)*HoursPerDay]...)
		}
	}
	n := len(yd) / HoursPerDay
	return Solve(mat.NewDense(n, w, xd), mat.NewDense(n, HoursPerDay, yd), lambda, 1)
}

// mae is the model's mean absolute error on samples of superset rows, in level units.
func (g *gramFit) mae(m *DayAheadModel, smp *daySamples) float64 {
	if smp.n == 0 {
		return math.NaN()
	}
	idx := m.Spec.columnsIn(g.sup)
	sw := g.sup.Width()
	r := make([]float64, len(idx))
	var out [HoursPerDay]float64
	var sum float64
	for i := range smp.n {
		for k, j := range idx {
			r[k] = smp.x[i*sw+j]
		}
		m.product(r, &out)
		for h, v := range smp.y[i*HoursPerDay : (i+1)*HoursPerDay] {
			sum += math.Abs(out[h] - v)
		}
	}
	return sum / float64(smp.n*HoursPerDay)
}

// product computes out = row · folded for a raw row whose squares are filled.
func (m *DayAheadModel) product(row []float64, out *[HoursPerDay]float64) {
	copy(out[:], m.folded[:HoursPerDay])
	for j := 1; j < len(row); j++ {
		x := row[j]
		if x == 0 {
			continue
		}
		c := m.folded[j*HoursPerDay : (j+1)*HoursPerDay]
		for h := range HoursPerDay {
			out[h] += x * c[h]
		}
	}
}

// FitDayAhead fits spec sp on the issue days [from, to) of every series of the panel that
// has the inputs and the target of the day (samples missing any hour are skipped).
func FitDayAhead(p *Panel, sp DayAheadSpec, from, to int) (*DayAheadModel, error) {
	if err := sp.Check(); err != nil {
		return nil, err
	}
	g := newGramFit(p, sp, from, to, to)
	m, err := g.solve(sp, sp.Lambda, false)
	if err != nil {
		return nil, err
	}
	m.FitMAE = g.mae(m, g.train)
	return m, nil
}

// SelectDayAhead chooses among the specs (each with every ridge strength of lambdas) by
// MAE on the last valDays issue days of the panel, fitting on the issue days before them,
// and refits the winner on all issue days. Only the panel's own days are used: test days
// must not be in it. The samples are those with every input of the specs' superset.
func SelectDayAhead(p *Panel, specs []DayAheadSpec, lambdas []float64, valDays int) (*DaySelection, error) {
	last := p.Days - 1 // issue days before it have their target in the panel
	split := last - valDays
	if valDays < 1 || split-firstIssueDay < 1 {
		return nil, fmt.Errorf("forecast: %d days leave no training days before %d validation days (need more than %d)", p.Days, valDays, firstIssueDay+valDays+1)
	}
	sup, err := superset(specs)
	if err != nil {
		return nil, err
	}
	g := newGramFit(p, sup, firstIssueDay, split, last)
	if g.nV == 0 {
		return nil, fmt.Errorf("forecast: no complete validation sample among %d series (%d training samples)", len(p.Series), g.nT)
	}
	sel := &DaySelection{ValidationMAE: math.Inf(1), ValidationDays: valDays, BaselineMAE: naiveMAEOf(g.val)}
	var best DayAheadSpec
	found := false
	for _, sp := range specs {
		for _, l := range lambdas {
			c := sp
			c.Lambda = l
			cand := DayCandidate{Spec: c, ValidationMAE: math.NaN()}
			m, serr := g.solve(sp, l, false)
			if serr != nil {
				cand.Err = serr.Error()
			} else {
				cand.ValidationMAE = g.mae(m, g.val)
				if cand.ValidationMAE < sel.ValidationMAE {
					sel.ValidationMAE, best, found = cand.ValidationMAE, c, true
				}
			}
			sel.Candidates = append(sel.Candidates, cand)
		}
	}
	if !found {
		var errs []string
		for _, c := range sel.Candidates {
			errs = append(errs, c.Err)
		}
		return nil, fmt.Errorf("forecast: no day-ahead spec could be fitted: %s", strings.Join(errs, "; "))
	}
	m, err := g.solve(best, best.Lambda, true)
	if err != nil {
		return nil, err
	}
	m.Series = max(g.train.series, g.val.series)
	var sum float64
	for _, smp := range []*daySamples{g.train, g.val} {
		sum += g.mae(m, smp) * float64(smp.n)
	}
	m.FitMAE = sum / float64(g.nT+g.nV)
	sel.Model = m
	return sel, nil
}

// naiveMAEOf is seasonal naive's (week) MAE on samples, in level units.
func naiveMAEOf(smp *daySamples) float64 {
	var sum float64
	for i, v := range smp.y {
		sum += math.Abs(v - smp.naive[i])
	}
	return sum / float64(len(smp.y))
}
