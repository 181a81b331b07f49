package vee

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"
)

// evenShare returns the i-th of n integer shares of total (0 <= i < n) that
// split it as evenly as possible: each share is total/n, and the first
// |total| mod n shares get one Wh more (in magnitude). The shares sum to total.
func evenShare(total, n, i int64) int64 {
	neg := total < 0
	abs := absU(total)
	v := abs / uint64(n)
	if uint64(i) < abs%uint64(n) {
		v++
	}
	if neg {
		return -int64(v)
	}
	return int64(v)
}

// absU returns |v| as a uint64, correct for math.MinInt64.
func absU(v int64) uint64 {
	if v < 0 {
		return uint64(^v) + 1
	}
	return uint64(v)
}

// distribute writes into out integer shares of total proportional to weights
// (len(weights) == len(out)), summing exactly to total. It uses the largest
// remainder method in exact 128-bit integer arithmetic: each share is first
// floor(|total| × w / W); the Wh left over go one each to the shares with the
// largest remainders, the earlier share winning a tie. A negative total is
// split as its magnitude and negated. When all weights are zero the shares
// are equal, as evenShare makes them.
func distribute(total int64, weights []uint64, out []int64) {
	n := len(out)
	if n == 0 {
		return
	}
	var sum uint64
	for _, w := range weights {
		s, carry := bits.Add64(sum, w, 0)
		if carry != 0 {
			// Weights this large cannot come from the profile; fall back to equal shares.
			sum = 0
			break
		}
		sum = s
	}
	if sum == 0 {
		for i := range out {
			out[i] = evenShare(total, int64(n), int64(i))
		}
		return
	}
	neg := total < 0
	abs := absU(total)
	rem := make([]uint64, n)
	var given uint64
	for i, w := range weights {
		hi, lo := bits.Mul64(abs, w)
		q, r := bits.Div64(hi, lo, sum) // hi < sum because w <= sum
		out[i] = int64(q)
		rem[i] = r
		given += q
	}
	if left := abs - given; left > 0 {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(rem[b], rem[a]) })
		for _, i := range idx[:left] {
			out[i]++
		}
	}
	if neg {
		for i := range out {
			out[i] = -out[i]
		}
	}
}

// gap is a run of grid slots [a, b) whose energy is not measured directly.
// The run may extend beyond the window when an anchor reading lies outside it.
type gap struct {
	a, b int64
	// total is the energy between the registers at a and b when conserved.
	total     int64
	conserved bool
	// left and right say which side has a known register, for flat fill.
	left, right bool
	// replacement marks the boundary of a meter replacement.
	replacement bool
}

// estimate fills every gap: conserved gaps first, so that flat fill, which
// only averages measured intervals, sees the final measured set either way.
func (p *processor) estimate() {
	for _, g := range p.gaps {
		if g.conserved {
			p.estimateConserved(g)
		}
	}
	for _, g := range p.gaps {
		if !g.conserved {
			p.estimateFlat(g)
		}
	}
}

// estimateConserved fills a gap between two known registers so that its
// intervals sum exactly to g.total. Slots whose relay was open throughout get 0 Wh and
// the total goes to the others, unless every slot was open: the registers then recorded
// consumption while disconnected, which is spread as usual (and flagged, see
// checkConsumptionWhileDisconnected) or, when it is 0, written as relay zeros.
func (p *processor) estimateConserved(g gap) {
	lo, hi := p.clip(g.a, g.b)
	if lo >= hi {
		return
	}
	s := g.b - g.a
	// live lists the gap's offsets that share the total; opened the others.
	live := make([]int64, 0, s)
	opened := map[int64]RelayChange{}
	for k := int64(0); k < s; k++ {
		if c, ok := p.openSlot(g.a + k); ok {
			opened[k] = c
			continue
		}
		live = append(live, k)
	}
	if len(live) == 0 && g.total != 0 {
		live, opened = live[:0], nil
		for k := int64(0); k < s; k++ {
			live = append(live, k)
		}
	}
	for k, c := range opened {
		if j := g.a + k; j >= lo && j < hi {
			p.setRelayZero(j, c)
		}
	}
	if len(live) == 0 {
		return
	}
	est := p.rules.Estimation
	between := fmt.Sprintf("%d Wh over %d intervals between the registers at %s and %s",
		g.total, s, stamp(p.slotStart(g.a)), stamp(p.slotStart(g.b)))
	if len(opened) > 0 {
		between += fmt.Sprintf(" (%d of them with the relay open, 0 Wh)", len(opened))
	}
	n := int64(len(live))
	if n > int64(est.LinearMaxIntervals) && g.total >= 0 && est.LikeDayWeeks > 0 {
		if all, ok := p.likeDayWeights(g.a, s); ok {
			weights := make([]uint64, n)
			for i, k := range live {
				weights[i] = all[k]
			}
			shares := make([]int64, n)
			distribute(g.total, weights, shares)
			reason := fmt.Sprintf("like-day profile of the last %d weeks: %s", est.LikeDayWeeks, between)
			for i, k := range live {
				if j := g.a + k; j >= lo && j < hi {
					p.setEstimate(j, shares[i], QualityEstimatedReferenceDay, slotConserved, reason)
				}
			}
			return
		}
		between += " (no like-day history)"
	}
	reason := "linear interpolation: " + between
	for i, k := range live {
		if j := g.a + k; j >= lo && j < hi {
			p.setEstimate(j, evenShare(g.total, n, int64(i)), QualityEstimatedLinear, slotConserved, reason)
		}
	}
}

// setRelayZero estimates slot j, whose relay was open throughout since c, as 0 Wh.
func (p *processor) setRelayZero(j int64, c RelayChange) {
	p.setEstimate(j, 0, QualityOther, slotOpen, relayReason(c)+": no power flows, estimated 0 Wh")
}

// estimateFlat fills a gap known on one side only with the mean of recent
// good intervals.
func (p *processor) estimateFlat(g gap) {
	lo, hi := p.clip(g.a, g.b)
	if lo >= hi {
		return
	}
	wh, src := p.flatMean(g, lo, hi)
	reason := fmt.Sprintf("flat fill with %d Wh, the mean of %s", wh, src)
	for j := lo; j < hi; j++ {
		if c, ok := p.openSlot(j); ok {
			p.setRelayZero(j, c)
			continue
		}
		p.setEstimate(j, wh, QualityOther, slotFilled, reason)
	}
}

func (p *processor) setEstimate(j, wh int64, q Quality, k slotKind, reason string) {
	iv := &p.iv[j]
	iv.Wh = wh
	iv.Quality = q
	iv.Estimated = true
	iv.Flags = append(iv.Flags, Flag{Rule: RuleEstimation, Severity: SeverityInfo, Reason: reason})
	p.kind[j] = k
}

// flatMean returns the rounded mean of up to FlatWindow good measured
// intervals next to the gap (before it when its left side is known, else
// after it), or of the last FlatWindow good history intervals, and a
// description of where the values came from.
func (p *processor) flatMean(g gap, lo, hi int64) (int64, string) {
	limit := p.rules.Estimation.FlatWindow
	var sum, c int64
	if g.left {
		for j := lo - 1; j >= 0 && c < int64(limit); j-- {
			if p.good(j) {
				sum += p.iv[j].Wh
				c++
			}
		}
		if c > 0 {
			return roundDiv(sum, c), fmt.Sprintf("%d good intervals before %s", c, stamp(p.slotStart(lo)))
		}
	}
	if g.right {
		for j := hi; j < p.n && c < int64(limit); j++ {
			if p.good(j) {
				sum += p.iv[j].Wh
				c++
			}
		}
		if c > 0 {
			return roundDiv(sum, c), fmt.Sprintf("%d good intervals from %s", c, stamp(p.slotStart(hi)))
		}
	}
	for i := len(p.history) - 1; i >= 0 && c < int64(limit); i-- {
		if h := p.history[i]; h.Quality != QualityQuestionable && h.Wh >= 0 {
			sum += h.Wh
			c++
		}
	}
	if c > 0 {
		return roundDiv(sum, c), fmt.Sprintf("the last %d good history intervals", c)
	}
	return 0, "no data (nothing measured nearby and no history)"
}

// roundDiv returns sum/c rounded half away from zero, for c > 0.
func roundDiv(sum, c int64) int64 {
	if sum < 0 {
		return -((-sum + c/2) / c)
	}
	return (sum + c/2) / c
}

// likeDayWeights returns, for the s slots from grid index a, the mean energy in
// mWh of the same local weekday and clock time in each of the last
// LikeDayWeeks weeks. Slots without any like-day value get the mean weight of
// those with one. It returns false when no slot has a like-day value.
func (p *processor) likeDayWeights(a, s int64) ([]uint64, bool) {
	const unknown = math.MaxUint64
	weeks := p.rules.Estimation.LikeDayWeeks
	w := make([]uint64, s)
	var known, sumKnown uint64
	for j := range w {
		t := p.slotStart(a + int64(j)).In(p.loc)
		var sum, c int64
		for k := 1; k <= weeks; k++ {
			if v, ok := p.likeDayValue(t.AddDate(0, 0, -7*k)); ok {
				sum += v
				c++
			}
		}
		if c == 0 {
			w[j] = unknown
			continue
		}
		v := uint64(roundDiv(sum*1000, c))
		w[j] = v
		known++
		sumKnown += v
	}
	if known == 0 {
		return nil, false
	}
	fill := sumKnown / known
	for j := range w {
		if w[j] == unknown {
			w[j] = fill
		}
	}
	return w, true
}

// maxProfileWh bounds the interval values the like-day profile uses (about
// 1 GWh), so that sums of weights in mWh cannot overflow.
const maxProfileWh = 1 << 30

// likeDayValue returns the energy of the interval starting at t, taken from
// the window's good measured intervals or else from the good history
// intervals (found by binary search, history being sorted by start).
func (p *processor) likeDayValue(t time.Time) (int64, bool) {
	if off := t.Sub(p.in.From); off >= 0 && off%p.d == 0 {
		if j := int64(off / p.d); j < p.n && p.good(j) && p.iv[j].Wh <= maxProfileWh {
			return p.iv[j].Wh, true
		}
	}
	at := t.Unix()
	i, found := slices.BinarySearchFunc(p.history, at, func(h HistoryInterval, at int64) int { return cmp.Compare(h.StartUnix, at) })
	for ; found && i < len(p.history) && p.history[i].StartUnix == at; i++ {
		if h := p.history[i]; h.Quality != QualityQuestionable && h.Wh >= 0 && h.Wh <= maxProfileWh {
			return h.Wh, true
		}
	}
	return 0, false
}
