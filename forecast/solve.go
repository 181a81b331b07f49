package forecast

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"
)

// MaxCondition is the largest condition number (1-norm estimate of the triangular factor)
// that Solve accepts: beyond it the least-squares solution has fewer than about four
// correct digits in float64, and Solve returns ErrIllConditioned instead.
const MaxCondition = 1e12

// ErrIllConditioned reports a least-squares problem whose design is rank deficient or so
// badly conditioned that its coefficients would be noise; a ridge penalty usually cures it.
var ErrIllConditioned = errors.New("forecast: design matrix is rank deficient or ill-conditioned")

// ErrTooFewSamples reports a design with fewer rows (samples) than columns (coefficients).
var ErrTooFewSamples = errors.New("forecast: fewer samples than coefficients")

// Factorization is the QR factorisation X = QR of a design matrix together with QᵀY for
// its right-hand sides (one column per horizon step). It is computed once and then solved
// for any ridge strength at O(p³) cost, without touching the n rows again.
type Factorization struct {
	r *mat.Dense // p×p, upper triangular
	c *mat.Dense // p×k: the first p rows of QᵀY
}

// Factor computes the Householder QR factorisation of x (n×p, n ≥ p) and applies Qᵀ to
// every column of y (n×k) at once. x and y are not modified.
func Factor(x, y *mat.Dense) (*Factorization, error) {
	n, p := x.Dims()
	ny, _ := y.Dims()
	if ny != n {
		return nil, fmt.Errorf("forecast: design has %d rows but the targets %d", n, ny)
	}
	if n < p {
		return nil, fmt.Errorf("%w: %d samples, %d coefficients", ErrTooFewSamples, n, p)
	}
	return factorInPlace(mat.DenseCopyOf(x), mat.DenseCopyOf(y)), nil
}

// factorInPlace is Factor overwriting x and y (n ≥ p checked by the caller).
func factorInPlace(x, y *mat.Dense) *Factorization {
	r, c := qrApply(x.RawMatrix(), y.RawMatrix())
	return &Factorization{r: r, c: c}
}

// qrApply factors a in place and returns R (p×p) and the first p rows of Qᵀb.
func qrApply(a, b blas64.General) (*mat.Dense, *mat.Dense) {
	p := a.Cols
	tau := make([]float64, p)
	work := make([]float64, 1)
	lapack64.Geqrf(a, tau, work, -1)
	lwork := int(work[0])
	work2 := make([]float64, 1)
	lapack64.Ormqr(blas.Left, blas.Trans, a, tau, b, work2, -1)
	lwork = max(lwork, int(work2[0]), 1)
	work = make([]float64, lwork)
	lapack64.Geqrf(a, tau, work, lwork)
	lapack64.Ormqr(blas.Left, blas.Trans, a, tau, b, work, lwork)
	r := mat.NewDense(p, p, nil)
	for i := range p {
		for j := i; j < p; j++ {
			r.Set(i, j, a.Data[i*a.Stride+j])
		}
	}
	c := mat.NewDense(p, b.Cols, nil)
	for i := range p {
		copy(c.RawRowView(i), b.Data[i*b.Stride:i*b.Stride+b.Cols])
	}
	return r, c
}

// Solve returns the coefficients B (p×k) minimising ‖XB − Y‖² + λ·Σⱼ‖Bⱼ‖², the sum over
// every row j of B except the first free ones (the intercept is not penalised). λ = 0 is
// plain least squares. The ridge problem is solved as the least-squares problem of the
// augmented matrix [R; √λ·I] by a second QR, never through XᵀX (which squares the
// condition number) and never by an inverse. It returns ErrIllConditioned when the
// (augmented) triangular factor's condition number exceeds MaxCondition.
func (f *Factorization) Solve(lambda float64, free int) (*mat.Dense, error) {
	p, _ := f.r.Dims()
	if lambda < 0 || math.IsNaN(lambda) || math.IsInf(lambda, 0) {
		return nil, fmt.Errorf("forecast: ridge strength %v: want a finite λ ≥ 0", lambda)
	}
	r, c := f.r, f.c
	if lambda > 0 {
		_, k := c.Dims()
		aug := mat.NewDense(2*p, p, nil)
		aug.Slice(0, p, 0, p).(*mat.Dense).Copy(f.r)
		s := math.Sqrt(lambda)
		for j := free; j < p; j++ {
			aug.Set(p+j, j, s)
		}
		rhs := mat.NewDense(2*p, k, nil)
		rhs.Slice(0, p, 0, k).(*mat.Dense).Copy(f.c)
		r, c = qrApply(aug.RawMatrix(), rhs.RawMatrix())
	}
	return triSolve(r, c)
}

// triSolve solves R·B = C for upper triangular R after checking R's condition number.
func triSolve(r, c *mat.Dense) (*mat.Dense, error) {
	p, _ := r.Dims()
	rr := r.RawMatrix()
	tri := blas64.Triangular{Uplo: blas.Upper, Diag: blas.NonUnit, N: p, Stride: rr.Stride, Data: rr.Data}
	for i := range p {
		if rr.Data[i*rr.Stride+i] == 0 {
			return nil, fmt.Errorf("%w: column %d is a linear combination of the others", ErrIllConditioned, i)
		}
	}
	rcond := lapack64.Trcon(lapack.MaxColumnSum, tri, make([]float64, 3*p), make([]int, p))
	if !(rcond*MaxCondition >= 1) {
		return nil, fmt.Errorf("%w: condition number about %.3g exceeds %.0g (add a ridge penalty or drop collinear features)", ErrIllConditioned, 1/rcond, MaxCondition)
	}
	b := mat.DenseCopyOf(c)
	blas64.Trsm(blas.Left, blas.NoTrans, 1, tri, b.RawMatrix())
	return b, nil
}

// Solve fits B minimising ‖XB − Y‖² + λ·Σⱼ‖Bⱼ‖² (rows j ≥ free penalised) in one QR
// factorisation for all k right-hand sides; see Factorization.Solve.
func Solve(x, y *mat.Dense, lambda float64, free int) (*mat.Dense, error) {
	f, err := Factor(x, y)
	if err != nil {
		return nil, err
	}
	return f.Solve(lambda, free)
}
