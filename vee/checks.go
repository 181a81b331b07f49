package vee

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meterhouse/meterhouse/calendar"
)

// The rule checks that run on a processor's slots, in the order run calls them.

// timestampFlags applies the timestamp rule to one reading.
func (p *processor) timestampFlags(r Reading) []Flag {
	t := p.rules.Timestamp
	if !t.Enabled {
		return nil
	}
	var fl []Flag
	add := func(format string, args ...any) {
		fl = append(fl, Flag{Rule: RuleTimestamp, Severity: SeverityQuestionable, Reason: fmt.Sprintf(format, args...)})
	}
	if ahead := r.TS.Sub(p.now); ahead > t.FutureTolerance {
		add("reading at %s is %s in the future of now %s (tolerance %s)", stamp(r.TS), ahead, stamp(p.now), t.FutureTolerance)
	}
	if !r.Arrival.IsZero() {
		if ahead := r.TS.Sub(r.Arrival); ahead > t.FutureTolerance {
			add("reading at %s is stamped %s after its arrival at %s (tolerance %s)", stamp(r.TS), ahead, stamp(r.Arrival), t.FutureTolerance)
		}
		if late := r.Arrival.Sub(r.TS); late > t.MaxLateness {
			add("reading at %s arrived at %s, %s late (limit %s)", stamp(r.TS), stamp(r.Arrival), late, t.MaxLateness)
		}
	}
	return fl
}

// dedupe merges readings at the same grid index, flagging conflicting values.
func (p *processor) dedupe(pts []point) []point {
	out := pts[:0]
	for i := 0; i < len(pts); {
		j := i + 1
		for j < len(pts) && pts[j].k == pts[i].k {
			j++
		}
		chosen := pts[j-1] // latest arrival, then largest register
		if j-i > 1 {
			var fl []Flag
			conflict := false
			for _, q := range pts[i:j] {
				fl = append(fl, q.flags...)
				conflict = conflict || q.reg != chosen.reg
			}
			if conflict && p.rules.Duplicate.Enabled {
				vals := make([]string, 0, j-i)
				for _, q := range pts[i:j] {
					vals = append(vals, strconv.FormatInt(q.reg, 10))
				}
				fl = append(fl, Flag{Rule: RuleDuplicate, Severity: SeverityQuestionable, Reason: fmt.Sprintf(
					"%d readings at %s with conflicting registers %s Wh; used %d Wh (latest arrival)",
					j-i, stamp(p.slotStart(chosen.k)), strings.Join(vals, ", "), chosen.reg)})
			}
			chosen.flags = fl
		}
		out = append(out, chosen)
		i = j
	}
	return out
}

// checkSpacing raises a meter flag when the readings inside the window are
// usually farther apart than the nominal interval.
func (p *processor) checkSpacing(pts []point) {
	if !p.rules.IntervalSize.Enabled {
		return
	}
	var steps []int64
	ones := 0
	for i := 1; i < len(pts); i++ {
		if pts[i-1].k >= 0 && pts[i].k <= p.n {
			s := pts[i].k - pts[i-1].k
			if s == 1 {
				ones++
			}
			steps = append(steps, s)
		}
	}
	if len(steps) < 2 || 2*ones > len(steps) {
		return
	}
	slices.Sort(steps)
	mode, best := steps[0], 0
	for i := 0; i < len(steps); {
		j := i
		for j < len(steps) && steps[j] == steps[i] {
			j++
		}
		if j-i > best {
			mode, best = steps[i], j-i
		}
		i = j
	}
	if mode > 1 {
		p.meter = append(p.meter, Flag{Rule: RuleIntervalSize, Severity: SeverityQuestionable, Reason: fmt.Sprintf(
			"readings are usually %s apart (%d of %d steps), not the nominal %s",
			time.Duration(mode)*p.d, best, len(steps), p.d)})
	}
}

// checkSpikes applies the spike rule to measured slots.
func (p *processor) checkSpikes() {
	s := p.rules.Spike
	if !s.Enabled {
		return
	}
	limit := s.LookbackIntervals
	if limit == 0 {
		limit = len(p.history)
	}
	vals := make([]int64, 0, min(limit, len(p.history)))
	for i := len(p.history) - 1; i >= 0 && len(vals) < limit; i-- {
		if h := p.history[i]; h.Quality != QualityQuestionable {
			vals = append(vals, h.Wh)
		}
	}
	if len(vals) < s.MinHistory {
		p.meter = append(p.meter, Flag{Rule: RuleSpike, Severity: SeverityInfo, Reason: fmt.Sprintf(
			"spike check skipped: %d usable history intervals, need %d", len(vals), s.MinHistory)})
		return
	}
	stat, _ := percentile(vals, s.Percentile)
	thr := max(s.Factor*float64(stat), float64(s.MinWh))
	thrText := strconv.FormatFloat(thr, 'f', -1, 64)
	for j := range p.n {
		if p.kind[j] == slotMeasured && float64(p.iv[j].Wh) > thr {
			p.flag(j, SeverityQuestionable, RuleSpike, fmt.Sprintf(
				"%d Wh exceeds the spike threshold %s Wh (%g × p%g %d Wh of %d history intervals, minimum %d Wh)",
				p.iv[j].Wh, thrText, s.Factor, s.Percentile, stat, len(vals), s.MinWh))
		}
	}
}

// checkZeroRuns applies the zero-run rule.
func (p *processor) checkZeroRuns() {
	z := p.rules.ZeroRun
	if !z.Enabled {
		return
	}
	minRun := int64((z.MinDuration + p.d - 1) / p.d)
	zero := func(j int64) bool {
		return p.iv[j].Wh == 0 && (p.kind[j] == slotMeasured || p.kind[j] == slotConserved) && !p.open[j]
	}
	for j := int64(0); j < p.n; {
		if !zero(j) {
			j++
			continue
		}
		k := j
		for k < p.n && zero(k) {
			k++
		}
		if k-j >= minRun {
			p.flagRange(j, k, SeverityQuestionable, RuleZeroRun, fmt.Sprintf(
				"zero consumption for %d consecutive intervals from %s to %s (limit %s)",
				k-j, stamp(p.slotStart(j)), stamp(p.slotStart(k)), z.MinDuration))
		}
		j = k
	}
}

// checkDailyUsage applies the daily-usage rule to local days lying entirely
// in the window.
func (p *processor) checkDailyUsage() {
	r := p.rules.DailyUsage
	if !r.Enabled {
		return
	}
	var totals []int64
	// The history is sorted by start: a day's intervals are those before its end, found
	// once per day rather than a date per interval.
	for i := 0; i < len(p.history); {
		y, m, d := time.Unix(p.history[i].StartUnix, 0).In(p.loc).Date()
		end := calendar.DateStart(y, m, d+1, p.loc).Unix()
		var sum, c int64
		j := i
		for ; j < len(p.history) && p.history[j].StartUnix < end; j++ {
			sum += p.history[j].Wh
			c++
		}
		if c == p.slotsInDay(y, m, d) {
			totals = append(totals, sum)
		}
		i = j
	}
	if r.LookbackDays > 0 && len(totals) > r.LookbackDays {
		totals = totals[len(totals)-r.LookbackDays:]
	}
	if len(totals) < r.MinHistoryDays {
		p.meter = append(p.meter, Flag{Rule: RuleDailyUsage, Severity: SeverityInfo, Reason: fmt.Sprintf(
			"daily usage check skipped: %d complete history days, need %d", len(totals), r.MinHistoryDays)})
		return
	}
	days := len(totals)
	med, _ := percentile(totals, 50)
	for j := int64(0); j < p.n; {
		y, m, d := p.iv[j].Start.In(p.loc).Date()
		var sum int64
		opened := false
		k := j
		for ; k < p.n; k++ {
			if y2, m2, d2 := p.iv[k].Start.In(p.loc).Date(); y2 != y || m2 != m || d2 != d {
				break
			}
			sum += p.iv[k].Wh
			opened = opened || p.open[k]
		}
		midnight := calendar.DateStart(y, m, d, p.loc)
		if p.iv[j].Start.Equal(midnight) && k-j == p.slotsInDay(y, m, d) {
			date := midnight.In(p.loc).Format(time.DateOnly)
			switch {
			case float64(sum) > r.HighFactor*float64(med):
				p.flagRange(j, k, SeverityQuestionable, RuleDailyUsage, fmt.Sprintf(
					"daily usage %d Wh on %s is above %g × the median %d Wh of %d history days",
					sum, date, r.HighFactor, med, days))
			case float64(sum) < r.LowFactor*float64(med) && !opened: // a day partly disconnected is low by right
				p.flagRange(j, k, SeverityQuestionable, RuleDailyUsage, fmt.Sprintf(
					"daily usage %d Wh on %s is below %g × the median %d Wh of %d history days",
					sum, date, r.LowFactor, med, days))
			}
		}
		j = k
	}
}

// slotsInDay returns how many nominal intervals the local day holds (92, 96
// or 100 for 15 minutes, depending on daylight saving), or -1 when the day is
// not a whole number of intervals.
func (p *processor) slotsInDay(y int, m time.Month, d int) int64 {
	length := calendar.DateStart(y, m, d+1, p.loc).Sub(calendar.DateStart(y, m, d, p.loc))
	if length%p.d != 0 {
		return -1
	}
	return int64(length / p.d)
}

// checkUnknownMeter applies the unknown-meter rule.
func (p *processor) checkUnknownMeter() {
	if p.in.Known || !p.rules.UnknownMeter.Enabled {
		return
	}
	reason := fmt.Sprintf("meter %q is not in the registry", p.in.MeterID)
	p.meter = append(p.meter, Flag{Rule: RuleUnknownMeter, Severity: SeverityQuestionable, Reason: reason})
	p.flagRange(0, p.n, SeverityQuestionable, RuleUnknownMeter, reason)
}
