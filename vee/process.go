package vee

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// maxSlots bounds the number of intervals in a window, and how far outside
// the window an anchor reading may lie, so that one call's memory stays bounded.
const maxSlots = 1 << 21

// Reading is one register value reported by a meter.
type Reading struct {
	// TS is the end of the interval the register closes, in UTC.
	TS time.Time
	// RegisterWh is the cumulative import register in Wh.
	RegisterWh int64
	// Arrival is when the reading reached the system; zero when unknown.
	Arrival time.Time
}

// HistoryInterval is one interval of the meter's past, used for statistics
// (spike, daily usage), the like-day profile and flat fill.
type HistoryInterval struct {
	// StartUnix is the start of the interval in Unix seconds. A number rather than a
	// time.Time, whose location pointer would make the garbage collector scan every
	// interval of a batch's history (28 days of 2 000 meters are 5.4 million of them).
	StartUnix int64
	// Wh is the interval's energy.
	Wh int64
	// Quality is the interval's quality; QualityQuestionable intervals are
	// left out of statistics and profiles.
	Quality Quality
}

// Input is one meter's data for a window. Process only reads the slices of an Input,
// so a caller may share them between windows.
type Input struct {
	// MeterID identifies the meter; it is used in messages only.
	MeterID string
	// Known says whether the meter is in the registry.
	Known bool
	// Interval is the nominal interval length, for example 15 minutes.
	Interval time.Duration
	// From and To bound the window [From, To); To − From must be a whole
	// number of intervals. The grid of slot boundaries is From + k × Interval.
	From, To time.Time
	// Location is the customer's time zone, used to find local days for the
	// daily-usage rule and the like-day profile; nil means UTC.
	Location *time.Location
	// RegisterMaxWh, when > 0, overrides the rule set's register modulus for
	// this meter.
	RegisterMaxWh int64
	// Readings should cover [From, To] (both ends, so the window's energy is
	// known) and may include the nearest reading before From and after To,
	// which anchor interpolation of gaps at the window's edges. Readings
	// farther outside are ignored. Order does not matter; several readings
	// may share a timestamp.
	Readings []Reading
	// History holds past intervals (typically the 4 weeks before From); order
	// does not matter.
	History []HistoryInterval
	// Edits are manual overrides, applied last, in order.
	Edits []Edit
	// Relay is the meter's relay history: the change in force before the earliest
	// reading used and every change after it; order does not matter. A slot whose relay
	// was open (disconnected or armed) throughout is estimated as 0 Wh when missing, and
	// flagged by the consumption-while-disconnected rule when energy was recorded in it.
	// Empty means connected throughout.
	Relay []RelayChange
}

// Interval is one nominal slot of the output.
type Interval struct {
	// Start and End bound the slot [Start, End).
	Start, End time.Time
	// Wh is the slot's energy: measured, estimated or edited.
	Wh int64
	// Quality says how Wh was obtained: QualityManuallyEdited when edited,
	// else the estimation quality when estimated, else QualityQuestionable
	// when a questionable flag is present, else QualityValid.
	Quality Quality
	// Flags are the annotations of the rules, in the order they were raised.
	Flags []Flag
	// Estimated reports whether the value before any edit was estimated.
	Estimated bool
	// OriginalWh is the value before any manual edit (measured or estimated);
	// it equals Wh when the interval was not edited.
	OriginalWh int64
	// Edit is the edit that set Wh, or nil.
	Edit *Edit
}

// Questionable reports whether any of the interval's flags is questionable.
func (iv *Interval) Questionable() bool {
	for _, f := range iv.Flags {
		if f.Severity == SeverityQuestionable {
			return true
		}
	}
	return false
}

// Output is the result of Process.
type Output struct {
	// MeterID echoes Input.MeterID.
	MeterID string
	// Intervals holds one entry per nominal slot of [From, To), in order.
	Intervals []Interval
	// Flags are meter-level flags: unknown meter, meter replacement, reading
	// spacing that differs from the nominal interval, and rules skipped for
	// lack of history.
	Flags []Flag
}

// Process validates one meter's readings over in's window, estimates missing
// intervals, applies manual edits, and returns one Interval per nominal slot.
// now is the current time, against which future timestamps are judged.
// Process returns an error only for an invalid rule set or input (wrapping
// *FieldError values); bad readings are flagged, never rejected.
func Process(in Input, rules RuleSet, now time.Time) (Output, error) {
	if err := rules.Validate(); err != nil {
		return Output{}, fmt.Errorf("vee: invalid rule set: %w", err)
	}
	if err := in.validate(rules); err != nil {
		return Output{}, fmt.Errorf("vee: meter %q: invalid input: %w", in.MeterID, err)
	}
	p := newProcessor(in, rules, now)
	p.run()
	out := Output{MeterID: in.MeterID, Intervals: p.iv, Flags: p.meter}
	if err := ApplyEdits(out.Intervals, in.Edits); err != nil {
		return Output{}, fmt.Errorf("vee: meter %q: invalid input: %w", in.MeterID, err)
	}
	return out, nil
}

func (in *Input) validate(rules RuleSet) error {
	switch {
	case in.Interval <= 0:
		return &FieldError{Field: "interval", Message: "must be > 0"}
	case in.From.IsZero():
		return &FieldError{Field: "from", Message: "must be set"}
	case !in.To.After(in.From):
		return &FieldError{Field: "to", Message: "must be after from"}
	case in.To.Sub(in.From)/in.Interval > maxSlots:
		return &FieldError{Field: "to", Message: fmt.Sprintf("window holds more than %d intervals", maxSlots)}
	case in.To.Sub(in.From)%in.Interval != 0:
		return &FieldError{Field: "to", Message: fmt.Sprintf("window must be a whole number of %s intervals", in.Interval)}
	case in.RegisterMaxWh < 0:
		return &FieldError{Field: "register_max_wh", Message: "must be >= 0"}
	case !relayValid(in.Relay):
		return &FieldError{Field: "relay.state", Message: "must be connected, disconnected or armed"}
	case rules.IntervalSize.Enabled && 2*rules.IntervalSize.SnapTolerance >= in.Interval:
		return &FieldError{Field: "interval_size.snap_tolerance",
			Message: fmt.Sprintf("%s must be less than half the %s interval", rules.IntervalSize.SnapTolerance, in.Interval)}
	}
	return nil
}

// slotKind records where a slot's value came from.
type slotKind uint8

const (
	slotUnset     slotKind = iota
	slotMeasured           // difference of two consecutive grid readings
	slotConserved          // estimated between two known registers
	slotFilled             // flat-filled, known on one side at most
	slotOpen               // estimated as 0 Wh: the relay was open throughout
)

// point is a usable reading snapped to grid index k.
type point struct {
	k       int64
	reg     int64
	arrival time.Time
	flags   []Flag
}

type processor struct {
	in      Input
	rules   RuleSet
	now     time.Time
	d       time.Duration
	n       int64
	loc     *time.Location
	regMax  int64
	iv      []Interval
	kind    []slotKind
	meter   []Flag
	history []HistoryInterval
	gaps    []gap
	relay   relayTimeline
	// open says which slots of the window had the relay open throughout.
	open []bool
}

func newProcessor(in Input, rules RuleSet, now time.Time) *processor {
	p := &processor{in: in, rules: rules, now: now, d: in.Interval, loc: in.Location}
	if p.loc == nil {
		p.loc = time.UTC
	}
	p.regMax = rules.Rollover.RegisterMaxWh
	if in.RegisterMaxWh > 0 {
		p.regMax = in.RegisterMaxWh
	}
	p.n = int64(in.To.Sub(in.From) / in.Interval)
	p.history = in.History
	byStart := func(a, b HistoryInterval) int { return cmp.Compare(a.StartUnix, b.StartUnix) }
	if !slices.IsSortedFunc(p.history, byStart) {
		p.history = slices.Clone(p.history)
		slices.SortFunc(p.history, byStart)
	}
	p.iv = make([]Interval, p.n)
	p.kind = make([]slotKind, p.n)
	for j := range p.iv {
		s := in.From.Add(time.Duration(j) * in.Interval)
		p.iv[j].Start, p.iv[j].End = s, s.Add(in.Interval)
	}
	p.relay = newRelayTimeline(in.Relay)
	p.open = make([]bool, p.n)
	if len(in.Relay) > 0 {
		for j := range p.n {
			_, p.open[j] = p.openSlot(j)
		}
	}
	return p
}

func (p *processor) run() {
	pts := p.dedupe(p.collect())
	p.checkSpacing(pts)
	p.link(pts)
	p.checkSpikes()
	p.estimate()
	p.checkConsumptionWhileDisconnected()
	p.checkZeroRuns()
	p.checkDailyUsage()
	p.checkUnknownMeter()
	for j := range p.iv {
		iv := &p.iv[j]
		if !iv.Estimated {
			iv.Quality = QualityValid
			if iv.Questionable() {
				iv.Quality = QualityQuestionable
			}
		}
		iv.OriginalWh = iv.Wh
	}
}

// slotStart returns the start of grid slot k (which may lie outside the window).
func (p *processor) slotStart(k int64) time.Time {
	return p.in.From.Add(time.Duration(k) * p.d)
}

// clip returns the part of grid slots [a, b) inside the window.
func (p *processor) clip(a, b int64) (int64, int64) {
	return max(a, 0), min(b, p.n)
}

func (p *processor) flag(j int64, sev Severity, rule, reason string) {
	if j >= 0 && j < p.n {
		p.iv[j].Flags = append(p.iv[j].Flags, Flag{Rule: rule, Severity: sev, Reason: reason})
	}
}

func (p *processor) flagRange(a, b int64, sev Severity, rule, reason string) {
	lo, hi := p.clip(a, b)
	for j := lo; j < hi; j++ {
		p.flag(j, sev, rule, reason)
	}
}

// good reports whether slot j holds a measured value that no rule questions, recorded
// while the relay was closed (an open relay's zeros say nothing of the meter's load).
func (p *processor) good(j int64) bool {
	return p.kind[j] == slotMeasured && p.iv[j].Wh >= 0 && !p.iv[j].Questionable() && !p.open[j]
}

// collect snaps readings to the grid, flags off-grid and badly timed ones,
// and keeps those in [From, To] plus the nearest on each side, sorted by
// grid index, arrival and register.
func (p *processor) collect() []point {
	tol := time.Duration(0)
	if p.rules.IntervalSize.Enabled {
		tol = p.rules.IntervalSize.SnapTolerance
	}
	pts := make([]point, 0, len(p.in.Readings))
	for _, r := range p.in.Readings {
		off := r.TS.Sub(p.in.From)
		k, rem := floorDiv(off, p.d)
		delta := rem
		if rem > p.d/2 {
			k, delta = k+1, rem-p.d
		}
		if delta > tol || -delta > tol {
			if p.rules.IntervalSize.Enabled {
				p.flag(k-boolInt(delta < 0), SeverityQuestionable, RuleIntervalSize, fmt.Sprintf(
					"reading at %s (register %d Wh) is %s off the %s grid (tolerance %s); not used as a register boundary",
					stamp(r.TS), r.RegisterWh, absDur(delta), p.d, tol))
			}
			continue
		}
		if k < -maxSlots || k > p.n+maxSlots {
			continue
		}
		pts = append(pts, point{k: k, reg: r.RegisterWh, arrival: r.Arrival, flags: p.timestampFlags(r)})
	}
	byGrid := func(a, b point) int {
		if c := cmp.Compare(a.k, b.k); c != 0 {
			return c
		}
		if c := a.arrival.Compare(b.arrival); c != 0 {
			return c
		}
		return cmp.Compare(a.reg, b.reg)
	}
	if !slices.IsSortedFunc(pts, byGrid) { // readings from storage usually come sorted
		slices.SortFunc(pts, byGrid)
	}
	// Keep [last index before 0, first index after n].
	lo, hi := 0, len(pts)
	for i, pt := range pts {
		if pt.k < 0 {
			lo = i
		}
		if pt.k > p.n {
			hi = i + 1
			for hi < len(pts) && pts[hi].k == pt.k {
				hi++
			}
			break
		}
	}
	if lo < len(pts) && pts[lo].k < 0 {
		for lo > 0 && pts[lo-1].k == pts[lo].k {
			lo--
		}
	}
	return pts[lo:hi]
}

// link turns consecutive readings into measured slots and gaps, classifying
// each register step, and attaches reading flags to the slots they bound.
func (p *processor) link(pts []point) {
	if len(pts) == 0 {
		p.addGap(gap{a: 0, b: p.n})
		return
	}
	if first := pts[0].k; first > 0 {
		p.addGap(gap{a: 0, b: first, right: true})
	}
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		span := b.k - a.k
		kind, total := classifyLink(a.reg, b.reg, time.Duration(span)*p.d, p.regMax, p.rules)
		ta := func() string { return stamp(p.slotStart(a.k)) }
		tb := func() string { return stamp(p.slotStart(b.k)) }
		switch kind {
		case linkReplacement:
			reason := fmt.Sprintf("register dropped from %d Wh at %s to %d Wh at %s (at most %d Wh) and is not a rollover: "+
				"meter replaced, new register baseline, no energy computed across the boundary",
				a.reg, ta(), b.reg, tb(), p.rules.Replacement.MaxStartWh)
			if lo, hi := p.clip(a.k, b.k); lo < hi {
				p.meter = append(p.meter, Flag{Rule: RuleReplacement, Severity: SeverityQuestionable, Reason: reason})
				p.flagRange(a.k, b.k, SeverityQuestionable, RuleReplacement, reason)
			}
			p.gaps = append(p.gaps, gap{a: a.k, b: b.k, left: true, right: true, replacement: true})
			continue
		case linkRollover:
			p.flagRange(a.k, b.k, SeverityInfo, RuleRollover, fmt.Sprintf(
				"register rolled over from %d Wh at %s to %d Wh at %s (register max %d Wh): %d Wh consumed",
				a.reg, ta(), b.reg, tb(), p.regMax, total))
		case linkNegative:
			if p.rules.Negative.Enabled {
				p.flagRange(a.k, b.k, SeverityQuestionable, RuleNegative, fmt.Sprintf(
					"register went backwards from %d Wh at %s to %d Wh at %s (%d Wh)", a.reg, ta(), b.reg, tb(), total))
			}
		}
		if span == 1 {
			if a.k >= 0 && a.k < p.n {
				p.iv[a.k].Wh = total
				p.kind[a.k] = slotMeasured
			}
			continue
		}
		p.addGap(gap{a: a.k, b: b.k, total: total, conserved: true, left: true, right: true})
	}
	if last := pts[len(pts)-1].k; last < p.n {
		p.addGap(gap{a: last, b: p.n, left: true})
	}
	for _, pt := range pts {
		for _, f := range pt.flags {
			p.flag(pt.k-1, f.Severity, f.Rule, f.Reason)
			p.flag(pt.k, f.Severity, f.Rule, f.Reason)
		}
	}
}

// addGap records a gap to estimate and flags its slots as missing.
func (p *processor) addGap(g gap) {
	lo, hi := p.clip(g.a, g.b)
	if lo >= hi {
		return
	}
	p.gaps = append(p.gaps, g)
	if p.rules.Missing.Enabled {
		from, to := "the window start", "the window end"
		if g.left {
			from = stamp(p.slotStart(g.a))
		}
		if g.right {
			to = stamp(p.slotStart(g.b))
		}
		p.flagRange(g.a, g.b, SeverityQuestionable, RuleMissing, fmt.Sprintf(
			"no usable reading between %s and %s (%d intervals missing in the window)", from, to, hi-lo))
	}
}

// floorDiv returns q and r with off = q×d + r and 0 <= r < d.
func floorDiv(off, d time.Duration) (int64, time.Duration) {
	q, r := off/d, off%d
	if r < 0 {
		q--
		r += d
	}
	return int64(q), r
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		if d == math.MinInt64 {
			return math.MaxInt64
		}
		return -d
	}
	return d
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// stamp formats t for messages, in UTC.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
