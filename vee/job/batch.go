package job

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/meterhouse/meterhouse/calendar"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/vee"
)

// entry is what the job needs of a meter's registry entry.
type entry struct {
	known                         bool
	class, feeder, region, tariff string
	loc                           *time.Location
}

// group returns the meter's group of a kind, and false when it has none.
func (e entry) group(kind schema.GroupKind) (string, bool) {
	switch kind {
	case schema.KindFeeder:
		return e.feeder, e.known
	case schema.KindRegion:
		return e.region, e.known
	case schema.KindCustomerClass:
		return e.class, e.known
	case schema.KindTariff:
		return e.tariff, e.known
	}
	return schema.FleetID, true
}

// registry loads the entries of ids. A meter missing from the registry gets an unknown
// entry in UTC; a meter whose time zone does not load is computed in UTC, with a warning.
func (j *Job) registry(ctx context.Context, ids []string) (map[string]entry, error) {
	out := make(map[string]entry, len(ids))
	zones := map[string]*time.Location{}
	// A fleet has few distinct groups: each entry shares one copy of its group names
	// instead of holding four strings of its own (about 64 bytes a meter).
	names := map[string]string{}
	intern := func(s string) string {
		if v, ok := names[s]; ok {
			return v
		}
		names[s] = s
		return s
	}
	// One list per statement: up to 200 KiB of ids fit in max_query_size (256 KiB).
	for _, chunk := range chunksOf(ids, 10*j.cfg.BatchMeters, 200<<10, func(id string) string { return id }) {
		rows, err := j.conn.Query(ctx, registrySQL, chunk)
		if err != nil {
			return nil, fmt.Errorf("read registry: %w", err)
		}
		for rows.Next() {
			var id, tz string
			e := entry{known: true}
			if err := rows.Scan(&id, &e.class, &e.feeder, &e.region, &e.tariff, &tz); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read registry: %w", err)
			}
			loc, ok := zones[tz]
			if !ok {
				var err error
				if loc, err = time.LoadLocation(tz); err != nil {
					j.log.Warn("meter time zone unknown; using UTC", "meter", id, "time_zone", tz, "err", err)
					loc = time.UTC
				}
				zones[tz] = loc
			}
			e.loc = loc
			e.class, e.feeder, e.region, e.tariff = intern(e.class), intern(e.feeder), intern(e.region), intern(e.tariff)
			out[id] = e
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read registry: %w", err)
		}
	}
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			out[id] = entry{loc: time.UTC}
		}
	}
	return out, nil
}

// anchors finds the readings around each span, in the order of spans. It looks a day
// around the spans first, which finds the neighbours of nearly every span cheaply, and
// searches up to the maximum gap only for the spans still missing one, on the missing
// side alone: a span of the newest readings has no reading after it, and looking for one
// must not read the maximum gap of history before it.
func (j *Job) anchors(ctx context.Context, spans []span) ([]anchors, error) {
	near := min(j.cfg.MaxGap, nearGap)
	out, err := j.anchorsWithin(ctx, spans, near, sideBoth)
	if err != nil || near == j.cfg.MaxGap {
		return out, err
	}
	for _, side := range []anchorSide{sidePrev, sideNext} {
		if err := j.farAnchors(ctx, spans, out, side); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// farAnchors searches up to the maximum gap on one side for the spans whose anchors in
// out, in the order of spans, have no neighbour on that side, and sets what it finds.
func (j *Job) farAnchors(ctx context.Context, spans []span, out []anchors, side anchorSide) error {
	return fillMissing(ctx, spans, out, side, func(ctx context.Context, missing []span, side anchorSide) ([]anchors, error) {
		return j.anchorsWithin(ctx, missing, j.cfg.MaxGap, side)
	})
}

// fillMissing calls find, once, with the spans whose anchors in out (in the order of
// spans) have no neighbour on side, and sets that side of their anchors to what it finds.
// find returns one anchors per span it is given, in order; only its side is read.
func fillMissing(ctx context.Context, spans []span, out []anchors, side anchorSide,
	find func(context.Context, []span, anchorSide) ([]anchors, error)) error {
	var idx []int
	var missing []span
	for i, a := range out {
		if (side == sidePrev && !a.hasPrev) || (side == sideNext && !a.hasNext) {
			idx, missing = append(idx, i), append(missing, spans[i])
		}
	}
	if len(missing) == 0 {
		return nil
	}
	found, err := find(ctx, missing, side)
	if err != nil {
		return err
	}
	for k, i := range idx {
		if side == sidePrev {
			out[i].prev, out[i].hasPrev = found[k].prev, found[k].hasPrev
		} else {
			out[i].next, out[i].hasNext = found[k].next, found[k].hasNext
		}
	}
	return nil
}

// anchorSide says which neighbours anchorsWithin looks for: both, or only the reading
// before (after) each span, which bounds its scan by the latest start (earliest end).
type anchorSide int

const (
	sideBoth anchorSide = iota
	sidePrev
	sideNext
)

// nearGap is how far anchors searches first.
const nearGap = 26 * time.Hour

// anchorsWithin finds the readings around each span no farther than gap, on side. For
// one side only, the other side's result is not meaningful.
func (j *Job) anchorsWithin(ctx context.Context, spans []span, gap time.Duration, side anchorSide) ([]anchors, error) {
	ms := make([]string, len(spans))
	los := make([]int64, len(spans))
	his := make([]int64, len(spans))
	lo, hi := spans[0].lo, spans[0].hi
	maxLo, minHi := spans[0].lo, spans[0].hi
	for i, s := range spans {
		ms[i], los[i], his[i] = s.meter, s.lo.Unix(), s.hi.Unix()
		lo, hi = minTime(lo, s.lo), maxTime(hi, s.hi)
		maxLo, minHi = maxTime(maxLo, s.lo), minTime(minHi, s.hi)
	}
	scanLo, scanHi := lo.Add(-gap), hi.Add(gap)
	switch side {
	case sidePrev:
		scanHi = maxLo
	case sideNext:
		scanLo = minHi
	}
	secs := int64(gap / time.Second)
	rows, err := j.conn.Query(ctx, anchorsSQL, clampTime(scanLo), clampTime(scanHi), uniq(ms), ms, los, his, secs, secs)
	if err != nil {
		return nil, fmt.Errorf("find anchors: %w", err)
	}
	defer rows.Close()
	type key struct {
		m      string
		lo, hi int64
	}
	found := map[key]anchors{}
	for rows.Next() {
		var m string
		var l, h, prev, next time.Time
		var np, nn uint64
		if err := rows.Scan(&m, &l, &h, &prev, &np, &next, &nn); err != nil {
			return nil, fmt.Errorf("find anchors: %w", err)
		}
		found[key{m, l.Unix(), h.Unix()}] = anchors{prev: prev.UTC(), next: next.UTC(), hasPrev: np > 0, hasNext: nn > 0}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find anchors: %w", err)
	}
	out := make([]anchors, len(spans))
	for i := range spans {
		out[i] = found[key{ms[i], los[i], his[i]}]
	}
	return out, nil
}

// anchorEdge is how far around a batch's range processBatch loads readings to find its
// windows' anchors among them.
const anchorEdge = time.Hour

// loadAnchors returns the anchors of ws, in order: the last reading before each window's
// start and the first after its end, no farther than the maximum gap, as anchors finds
// them. loaded holds by meter every stored reading of a range around the windows; a
// neighbour found in it is the anchor, since the readings between it and the window would
// be in it too. The windows without a neighbour there, on either side, are searched on
// that side alone.
func (j *Job) loadAnchors(ctx context.Context, ws []window, loaded map[string][]vee.Reading) ([]anchors, error) {
	out := make([]anchors, len(ws))
	spans := make([]span, len(ws))
	for i, w := range ws {
		spans[i] = span{meter: w.meter, lo: w.from, hi: w.to}
		a := &out[i]
		for _, r := range loaded[w.meter] {
			if r.TS.Before(w.from) && (!a.hasPrev || r.TS.After(a.prev)) {
				a.prev, a.hasPrev = r.TS, true
			}
			if r.TS.After(w.to) && (!a.hasNext || r.TS.Before(a.next)) {
				a.next, a.hasNext = r.TS, true
			}
		}
		if a.hasPrev && w.from.Sub(a.prev) > j.cfg.MaxGap {
			a.prev, a.hasPrev = time.Time{}, false
		}
		if a.hasNext && a.next.Sub(w.to) > j.cfg.MaxGap {
			a.next, a.hasNext = time.Time{}, false
		}
	}
	for _, side := range []anchorSide{sidePrev, sideNext} {
		if err := fillMissing(ctx, spans, out, side, j.sideAnchors); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sideAnchors finds each span's neighbour on one side, as anchors does: a day away
// first, then up to the maximum gap for the spans still without one. Only that side of
// the result is meaningful.
func (j *Job) sideAnchors(ctx context.Context, spans []span, side anchorSide) ([]anchors, error) {
	near := min(j.cfg.MaxGap, nearGap)
	out, err := j.anchorsWithin(ctx, spans, near, side)
	if err != nil || near == j.cfg.MaxGap {
		return out, err
	}
	return out, j.farAnchors(ctx, spans, out, side)
}

func uniq(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// batchInput is what one batch of windows loads.
type batchInput struct {
	readings map[string][]vee.Reading
	history  map[string][]vee.HistoryInterval
	edits    map[string][]vee.Edit
	relay    map[string][]vee.RelayChange
}

// processBatch loads, processes and writes one batch of windows: 15m rows, then the 1h,
// 1d and 1mo rows of their periods. It returns the windows it computed (clipped), the
// windows that failed (nothing is written for them; see processWindow) and the number of
// 15-minute intervals written. An error is one of the store's, for the whole batch.
func (j *Job) processBatch(ctx context.Context, ws []window, reg map[string]entry, now, computedAt time.Time) ([]window, []Failure, int64, error) {
	ids := make([]string, 0, len(ws))
	from, to := ws[0].from, ws[0].to
	for _, w := range ws {
		ids = append(ids, w.meter)
		from, to = minTime(from, w.from), maxTime(to, w.to)
	}
	ids = uniq(ids)
	in := batchInput{readings: map[string][]vee.Reading{}, history: map[string][]vee.HistoryInterval{}, edits: map[string][]vee.Edit{},
		relay: map[string][]vee.RelayChange{}}
	// The readings of [from, to] widened by anchorEdge on both sides: the anchors of the
	// windows (the readings just before and after each, for the intervals between midnight
	// and the day's first reading) are nearly always among them, which spares a search
	// over the batch's readings; only the windows without one there are searched (see
	// loadAnchors), and in a daily run that is the reading after the newest day, which
	// that search does not find.
	edge := min(j.cfg.MaxGap, anchorEdge)
	loaded := map[string][]vee.Reading{}
	if err := j.loadReadings(ctx, loaded, readingsSQL, clampTime(from.Add(-edge)), clampTime(to.Add(edge)), ids); err != nil {
		return nil, nil, 0, err
	}
	as, err := j.loadAnchors(ctx, ws, loaded)
	if err != nil {
		return nil, nil, 0, err
	}
	// What vee gets of a meter: its readings of [from, to] and its windows' anchors (every
	// stored version of each), as if loaded by themselves. An anchor outside what was
	// loaded comes from a point query.
	outside := map[string][]time.Time{}
	for i, w := range ws {
		for _, a := range []struct {
			at  time.Time
			has bool
		}{{as[i].prev, as[i].hasPrev}, {as[i].next, as[i].hasNext}} {
			if a.has && (a.at.Before(from) || a.at.After(to)) {
				outside[w.meter] = append(outside[w.meter], a.at)
			}
		}
	}
	var pm []string
	var pt []int64
	for _, id := range ids {
		ats := outside[id]
		found := make([]bool, len(ats))
		for _, r := range loaded[id] {
			keep := !r.TS.Before(from) && !r.TS.After(to)
			for k, at := range ats {
				if r.TS.Equal(at) {
					keep, found[k] = true, true
				}
			}
			if keep {
				in.readings[id] = append(in.readings[id], r)
			}
		}
		for k, at := range ats {
			if !found[k] {
				pm, pt = append(pm, id), append(pt, at.Unix())
			}
		}
	}
	if len(pm) > 0 {
		if err := j.loadReadings(ctx, in.readings, pointReadingsSQL, pm, pt); err != nil {
			return nil, nil, 0, err
		}
	}
	// Clip the windows to what the readings allow.
	kept := ws[:0:0]
	for i, w := range ws {
		var first, last time.Time
		has := false
		for _, r := range in.readings[w.meter] {
			if r.TS.Before(w.from) || r.TS.After(w.to) {
				continue
			}
			if !has || r.TS.Before(first) {
				first = r.TS
			}
			if !has || r.TS.After(last) {
				last = r.TS
			}
			has = true
		}
		if c, ok := clip(w, as[i], first, last, has); ok {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		return nil, nil, 0, nil
	}
	if j.cfg.HistoryDays > 0 {
		hFrom := clampTime(from.AddDate(0, 0, -j.cfg.HistoryDays))
		hb, _ := historyBuffers.Get().(*historyBuffer)
		if hb == nil {
			hb = new(historyBuffer)
		}
		// Nothing keeps the history once the batch is written: its array serves the next.
		defer func() { hb.reset(); historyBuffers.Put(hb) }()
		if err := j.loadHistory(ctx, in.history, hb, ids, hFrom, to); err != nil {
			return nil, nil, 0, err
		}
	}
	if err := j.loadEdits(ctx, in.edits, ids, from, to); err != nil {
		return nil, nil, 0, err
	}
	// The relay history over everything the windows use, anchors included: a gap reaching
	// out of its window is shared out over its connected slots only.
	rFrom, rTo := from, to
	for _, rs := range in.readings {
		for _, r := range rs {
			rFrom, rTo = minTime(rFrom, r.TS), maxTime(rTo, r.TS)
		}
	}
	if err := j.loadRelay(ctx, in.relay, ids, rFrom, rTo); err != nil {
		return nil, nil, 0, err
	}

	// The batch's 15m rows, window after window: a window's rows are one part of it.
	out := make([]row, 0, len(kept)*int(24*time.Hour/Interval))
	var n int64
	var ok []window
	var fails []Failure
	// The 15m rows of the meters whose window covers its local days, which the roll-up
	// takes from here instead of reading them back (see rollUpMeters).
	whole := map[string][]row{}
	perMeter := map[string]int{}
	for _, w := range kept {
		perMeter[w.meter]++
	}
	for _, w := range kept {
		e := reg[w.meter]
		rules := j.cfg.Rules.For(e.class)
		// vee keeps the nearest readings outside the window and ignores the rest; it only
		// reads them, so windows of one meter share them.
		rs := in.readings[w.meter]
		// The meter's history is sorted by start: the window's is a part of it, which vee
		// only reads.
		hs := in.history[w.meter]
		hFrom := w.from.AddDate(0, 0, -j.cfg.HistoryDays)
		byStart := func(h vee.HistoryInterval, at int64) int { return cmp.Compare(h.StartUnix, at) }
		lo, _ := slices.BinarySearchFunc(hs, hFrom.Unix(), byStart)
		hi, _ := slices.BinarySearchFunc(hs, w.from.Unix(), byStart)
		hist := hs[lo:max(lo, hi):max(lo, hi)]
		res, fail, stack := processWindow(j.process, vee.Input{
			MeterID: w.meter, Known: e.known, Interval: Interval, From: w.from, To: w.to, Location: w.loc,
			Readings: rs, History: hist, Edits: in.edits[w.meter], Relay: in.relay[w.meter],
		}, rules, now)
		if fail != nil {
			fail.MeterID, fail.From, fail.To = w.meter, w.from, w.to
			j.logFailure(*fail, stack)
			fails = append(fails, *fail)
			continue
		}
		ok = append(ok, w)
		f, t := daysOf(w)
		first := len(out)
		for _, iv := range res.Intervals {
			out = append(out, intervalRow(w.meter, iv))
		}
		if perMeter[w.meter] == 1 && f.Equal(w.from) && t.Equal(w.to) {
			whole[w.meter] = out[first:len(out):len(out)]
		}
		n += int64(len(res.Intervals))
	}
	if len(ok) == 0 {
		return nil, fails, 0, nil
	}
	if err := j.insert(ctx, out, computedAt); err != nil {
		return nil, nil, 0, err
	}
	if err := j.step("15m"); err != nil {
		return nil, nil, 0, err
	}
	if err := j.rollUpMeters(ctx, ok, ids, whole, computedAt); err != nil {
		return nil, nil, 0, err
	}
	return ok, fails, n, nil
}

// loadReadings appends the readings a query returns to rs, by meter, and sorts each
// meter's readings that it appended to.
func (j *Job) loadReadings(ctx context.Context, rs map[string][]vee.Reading, sql string, args ...any) error {
	rows, err := j.conn.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("load readings: %w", err)
	}
	defer rows.Close()
	touched := map[string]bool{}
	for rows.Next() {
		var m string
		var r vee.Reading
		if err := rows.Scan(&m, &r.TS, &r.RegisterWh, &r.Arrival); err != nil {
			return fmt.Errorf("load readings: %w", err)
		}
		r.TS, r.Arrival = r.TS.UTC(), r.Arrival.UTC()
		rs[m] = append(rs[m], r)
		touched[m] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load readings: %w", err)
	}
	// The statements leave the order to the client. Each meter's readings end up by time,
	// then arrival, then register: a total order of distinct readings, so what vee gets
	// does not depend on how the server streamed them.
	for m := range touched {
		if !slices.IsSortedFunc(rs[m], compareReadings) {
			slices.SortFunc(rs[m], compareReadings)
		}
	}
	return nil
}

// compareReadings orders readings by time, then arrival, then register.
func compareReadings(a, b vee.Reading) int {
	if c := a.TS.Compare(b.TS); c != 0 {
		return c
	}
	if c := a.Arrival.Compare(b.Arrival); c != 0 {
		return c
	}
	return cmp.Compare(a.RegisterWh, b.RegisterWh)
}

// loadRows calls fn with each stored consumption row of a resolution for ids over [from, to).
func (j *Job) loadRows(ctx context.Context, resolution string, ids []string, from, to time.Time, fn func(meter string, r row)) error {
	rows, err := j.conn.Query(ctx, rowsSQL, resolution, ids, from, to)
	if err != nil {
		return fmt.Errorf("load %s consumption: %w", resolution, err)
	}
	defer rows.Close()
	for rows.Next() {
		var m string
		r := row{resolution: resolution}
		if err := rows.Scan(&m, &r.start, &r.wh, &r.quality, &r.intervals, &r.expected, &r.estimated, &r.edited, &r.questionable, &r.flags); err != nil {
			return fmt.Errorf("load %s consumption: %w", resolution, err)
		}
		r.meter, r.start = m, r.start.UTC()
		fn(m, r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load %s consumption: %w", resolution, err)
	}
	return nil
}

// loadHistory appends the validated 15m rows of ids over [from, to) to hs, by meter and
// sorted by start, as history intervals: only the columns vee reads of them. It reads
// them from the meters' consumption_profiles, one row per local day holding the day's
// 15m rows (migration 0060), and from consumption's 15m rows only for the meters with a
// profile in the range written before that migration. Both give the same intervals: a
// profile is written from the day's stored 15m rows, in the same run and with the same
// computed_at, and replaced whenever any of them is. The profiles' intervals are carved
// from hb (see historyBuffer) when it is not nil.
func (j *Job) loadHistory(ctx context.Context, hs map[string][]vee.HistoryInterval, hb *historyBuffer, ids []string, from, to time.Time) error {
	legacy, err := j.loadProfileHistory(ctx, hs, hb, ids, from, to)
	if err != nil || len(legacy) == 0 {
		return err
	}
	for _, id := range legacy {
		delete(hs, id)
	}
	return j.loadIntervalHistory(ctx, hs, legacy, from, to)
}

// loadProfileHistory appends the intervals of ids over [from, to) held by their
// consumption_profiles to hs, and returns the meters with a profile in the range that
// does not hold its 15m rows (written before migration 0060), whose history it leaves
// incomplete. Of the versions of a day it keeps the latest, as FINAL does, and parses
// only that one. It holds the text of every version of the batch's days until it returns.
func (j *Job) loadProfileHistory(ctx context.Context, hs map[string][]vee.HistoryInterval, hb *historyBuffer, ids []string, from, to time.Time) ([]string, error) {
	// Local dates lie within a day of UTC dates (offsets are under 24 hours).
	dFrom, dTo := from.AddDate(0, 0, -1).Format(time.DateOnly), to.AddDate(0, 0, 1).Format(time.DateOnly)
	rows, err := j.conn.Query(ctx, profileHistorySQL, ids, ids, ids, dFrom, dTo)
	if err != nil {
		return nil, fmt.Errorf("load profile history: %w", err)
	}
	defer rows.Close()
	type day struct {
		start, at         uint32
		slot, wh, quality string
	}
	byMeter := make([][]day, len(ids))
	old := make([]bool, len(ids))
	for rows.Next() {
		var pos uint32
		var d day
		var complete uint8
		if err := rows.Scan(&pos, &d.start, &d.at, &d.slot, &d.wh, &d.quality, &complete); err != nil {
			return nil, fmt.Errorf("load profile history: %w", err)
		}
		if pos < 1 || int(pos) > len(ids) {
			return nil, fmt.Errorf("load profile history: meter position %d out of the %d asked", pos, len(ids))
		}
		if complete == 0 {
			old[pos-1] = true
		}
		byMeter[pos-1] = append(byMeter[pos-1], d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load profile history: %w", err)
	}
	lo, hi := from.Unix(), to.Unix()
	var legacy []string
	var slot, wh, quality []int64
	if hb != nil {
		days := 0
		for i, ds := range byMeter {
			if !old[i] {
				days += len(ds)
			}
		}
		hb.reserve(days * maxQuartersPerDay)
	}
	for i, ds := range byMeter {
		if old[i] {
			legacy = append(legacy, ids[i])
			continue
		}
		if len(ds) == 0 {
			continue
		}
		ds = latestVersions(ds, func(d day) (uint32, uint32) { return d.start, d.at })
		var out []vee.HistoryInterval
		if n := len(ds) * maxQuartersPerDay; hb != nil && len(hs[ids[i]]) == 0 {
			out = hb.take(n)
		} else {
			out = slices.Grow(hs[ids[i]], n)
		}
		for _, d := range ds {
			// An empty string stands for the slots 0, 1, … and for qualities all valid (see
			// profileHistorySQL).
			var err error
			wh, err = parseInts(wh[:0], d.wh)
			if err == nil {
				slot, err = parseInts(slot[:0], d.slot)
				if err == nil && d.slot == "" {
					for q := range wh {
						slot = append(slot, int64(q))
					}
				}
			}
			if err == nil {
				quality, err = parseInts(quality[:0], d.quality)
				if err == nil && d.quality == "" {
					for range wh {
						quality = append(quality, int64(vee.QualityValid))
					}
				}
			}
			if err == nil && (len(slot) != len(wh) || len(quality) != len(wh)) {
				err = fmt.Errorf("slot arrays of %d, %d and %d elements", len(slot), len(wh), len(quality))
			}
			if err != nil {
				return nil, fmt.Errorf("load profile history: meter %s, day starting %s: %w",
					ids[i], time.Unix(int64(d.start), 0).UTC().Format(time.RFC3339), err)
			}
			for s, q := range slot {
				t := int64(d.start) + q*int64(Interval/time.Second)
				if t < lo || t >= hi {
					continue
				}
				out = append(out, vee.HistoryInterval{StartUnix: t, Wh: wh[s], Quality: vee.Quality(quality[s])})
			}
		}
		hs[ids[i]] = out
	}
	return legacy, nil
}

// maxQuartersPerDay is the most 15-minute intervals a local day holds: 100, on the day
// daylight saving time ends.
const maxQuartersPerDay = 100

// historyBuffer is an array that a batch carves its meters' history from, pooled in
// historyBuffers so that batches reuse it: 28 days of 2 000 meters are about 5.5 million
// intervals (130 MB), which an array allocated afresh for every batch has the runtime
// zero first (0.5 s of the job's 12.6 s of CPU in bench vee at 20 000 meters). A buffer
// belongs to one batch at a time; the slices carved from it are valid until reset.
type historyBuffer struct{ buf []vee.HistoryInterval }

// historyBuffers holds the buffers of the batches not running.
var historyBuffers sync.Pool

// reserve makes room for n more intervals in one array.
func (b *historyBuffer) reserve(n int) {
	if len(b.buf)+n > cap(b.buf) {
		// The slices already carved keep the old array alive; the new one holds the rest.
		b.buf = make([]vee.HistoryInterval, 0, n)
	}
}

// take returns an empty slice with room for n intervals that no other slice taken from b
// overlaps: appending past its capacity moves it to an array of its own.
func (b *historyBuffer) take(n int) []vee.HistoryInterval {
	b.reserve(n)
	at := len(b.buf)
	b.buf = b.buf[:at+n]
	return b.buf[at : at : at+n]
}

// reset lets b's array be carved again from its start.
func (b *historyBuffer) reset() { b.buf = b.buf[:0] }

// latestVersions sorts vs by key (start, then version) and keeps, of the elements sharing
// a start, the one with the highest version, as FINAL does; it reuses vs's array.
func latestVersions[T any](vs []T, key func(T) (start, version uint32)) []T {
	slices.SortFunc(vs, func(a, b T) int {
		sa, va := key(a)
		sb, vb := key(b)
		if c := cmp.Compare(sa, sb); c != 0 {
			return c
		}
		return cmp.Compare(va, vb)
	})
	out := vs[:0]
	for k, v := range vs {
		start, _ := key(v)
		if k+1 < len(vs) {
			if next, _ := key(vs[k+1]); next == start {
				continue // an older version
			}
		}
		out = append(out, v) // out never passes vs[k]: the element ahead is intact
	}
	return out
}

// parseInts appends the integers of s, ClickHouse's text of an integer array ([1,22,…],
// [] for none), to dst; an empty s holds none too. It reports an s that is not such a text
// and the first element that is not a decimal integer of int64.
func parseInts(dst []int64, s string) ([]int64, error) {
	if s == "" {
		return dst, nil
	}
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return dst, fmt.Errorf("slot array %.40q is not in brackets", s)
	}
	if s = s[1 : len(s)-1]; s == "" {
		return dst, nil
	}
	for i := 0; ; {
		start, neg := i, false
		if i < len(s) && s[i] == '-' {
			neg, i = true, i+1
		}
		// 19 digits never overflow a uint64.
		var v uint64
		digits := 0
		for ; i < len(s) && s[i] != ','; i++ {
			c := s[i] - '0'
			if c > 9 || digits == 19 {
				return dst, fmt.Errorf("element %d of the slot arrays: %q is not an integer of 64 bits", len(dst), s[start:min(i+1, len(s))])
			}
			v, digits = v*10+uint64(c), digits+1
		}
		switch {
		case digits == 0, !neg && v > math.MaxInt64, neg && v > math.MaxInt64+1:
			return dst, fmt.Errorf("element %d of the slot arrays: %q is not an integer of 64 bits", len(dst), s[start:i])
		case neg:
			dst = append(dst, -int64(v-1)-1)
		default:
			dst = append(dst, int64(v))
		}
		if i == len(s) {
			return dst, nil
		}
		i++ // the comma
	}
}

// loadIntervalHistory appends the stored 15m rows of ids over [from, to) to hs, by meter
// and sorted by start, as history intervals. Of the versions of an interval it keeps the
// latest (the highest computed_at), as FINAL does: two versions of one interval never
// share a computed_at, since each run writes an interval once with its own, strictly
// increasing, computed_at.
func (j *Job) loadIntervalHistory(ctx context.Context, hs map[string][]vee.HistoryInterval, ids []string, from, to time.Time) error {
	rows, err := j.conn.Query(ctx, historySQL, ids, ids, ids, from, to)
	if err != nil {
		return fmt.Errorf("load 15m history: %w", err)
	}
	defer rows.Close()
	type version struct {
		meter, start, at uint32
		wh               int64
		quality          uint8
	}
	var all []version
	count := make([]int, len(ids)+1)
	var v version
	for rows.Next() {
		if err := rows.Scan(&v.meter, &v.start, &v.wh, &v.quality, &v.at); err != nil {
			return fmt.Errorf("load 15m history: %w", err)
		}
		if v.meter < 1 || int(v.meter) > len(ids) {
			return fmt.Errorf("load 15m history: meter position %d out of the %d asked", v.meter, len(ids))
		}
		all = append(all, v)
		count[v.meter]++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load 15m history: %w", err)
	}
	// The rows by meter (a counting sort), then each meter's by start and version.
	off := make([]int, len(ids)+2)
	for i := 1; i <= len(ids); i++ {
		off[i+1] = off[i] + count[i]
	}
	by := make([]version, len(all))
	next := slices.Clone(off)
	for _, v := range all {
		by[next[v.meter]] = v
		next[v.meter]++
	}
	for i, id := range ids {
		vs := by[off[i+1]:off[i+2]]
		if len(vs) == 0 {
			continue
		}
		vs = latestVersions(vs, func(v version) (uint32, uint32) { return v.start, v.at })
		out := slices.Grow(hs[id], len(vs))
		for _, v := range vs {
			out = append(out, vee.HistoryInterval{StartUnix: int64(v.start), Wh: v.wh, Quality: vee.Quality(v.quality)})
		}
		hs[id] = out
	}
	return nil
}

// loadEdits appends the edits of ids overlapping [from, to) to es, in the order they apply.
func (j *Job) loadEdits(ctx context.Context, es map[string][]vee.Edit, ids []string, from, to time.Time) error {
	rows, err := j.conn.Query(ctx, editsSQL, ids, to, from)
	if err != nil {
		return fmt.Errorf("load edits: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Edit
		if err := rows.Scan(&e.ID, &e.MeterID, &e.Start, &e.End, &e.Wh, &e.Mode, &e.Reason, &e.Author, &e.PreviousWh, &e.CreatedAt); err != nil {
			return fmt.Errorf("load edits: %w", err)
		}
		es[e.MeterID] = append(es[e.MeterID], e.vee())
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load edits: %w", err)
	}
	return nil
}

// rollUpMeters recomputes the 1h and 1d rows and the consumption_profiles rows of the
// windows' local days from the stored 15m rows, then the 1mo rows of their local months
// from the stored 1d rows. whole holds the 15m rows just written of the meters whose one
// window in the batch is exactly the whole hours of its local days (daysOf): those are
// every 15m row of the days, as stored, so they are not read back; the other meters' are.
// Besides the batch's 15m rows of those days, it holds their 1h and 1d rows and one
// profile per local day (at most 25 hourly values and counts, and the day's 15m rows)
// until they are inserted.
func (j *Job) rollUpMeters(ctx context.Context, ws []window, ids []string, whole map[string][]row, computedAt time.Time) error {
	byMeter := map[string][]window{}
	from, to := daysOf(ws[0])
	mFrom, mTo := monthsOf(ws[0])
	for _, w := range ws {
		byMeter[w.meter] = append(byMeter[w.meter], w)
		f, t := daysOf(w)
		from, to = minTime(from, f), maxTime(to, t)
		f, t = monthsOf(w)
		mFrom, mTo = minTime(mFrom, f), maxTime(mTo, t)
	}
	quarter := whole
	var rest []string
	for _, id := range ids {
		if _, ok := whole[id]; !ok {
			if _, computed := byMeter[id]; computed {
				rest = append(rest, id)
			}
		}
	}
	if len(rest) > 0 {
		if err := j.loadRows(ctx, "15m", rest, from, to, func(m string, r row) { quarter[m] = append(quarter[m], r) }); err != nil {
			return err
		}
	}
	var out []row
	var profiles []profile
	for m, mws := range byMeter {
		for _, w := range mws {
			f, t := daysOf(w)
			dayFrom, dayTo := localMidnight(w.from, w.loc), nextMidnight(w.to, w.loc)
			hours, days := between(quarter[m], f, t), between(quarter[m], dayFrom, dayTo)
			out = append(out, rollUp(hours, "1h", func(t time.Time) (time.Time, time.Time) {
				h := t.Truncate(time.Hour)
				return h, h.Add(time.Hour)
			})...)
			out = append(out, rollUp(days, "1d", func(t time.Time) (time.Time, time.Time) {
				d := localMidnight(t, w.loc)
				return d, nextMidnight(d.Add(Interval), w.loc)
			})...)
			profiles = append(profiles, dayProfiles(m, w.loc, dayFrom, dayTo, days)...)
		}
	}
	if err := j.insert(ctx, out, computedAt); err != nil {
		return err
	}
	if err := j.insertProfiles(ctx, profiles, computedAt); err != nil {
		return err
	}
	daily := map[string][]row{}
	if err := j.loadRows(ctx, "1d", ids, mFrom, mTo, func(m string, r row) { daily[m] = append(daily[m], r) }); err != nil {
		return err
	}
	out = out[:0] // sent: the 1mo rows reuse its array
	for m, mws := range byMeter {
		for _, w := range mws {
			f, t := monthsOf(w)
			var days []row
			for _, r := range daily[m] {
				if !r.start.Before(f) && r.start.Before(t) {
					days = append(days, r)
				}
			}
			out = append(out, rollUp(days, "1mo", func(t time.Time) (time.Time, time.Time) {
				return calendar.MonthStart(t, w.loc), calendar.NextMonth(t, w.loc)
			})...)
		}
	}
	if err := j.insert(ctx, out, computedAt); err != nil {
		return err
	}
	return j.step("coarse")
}

// between returns the rows of rs, sorted by start, that start in [from, to): a part of
// rs, not a copy.
func between(rs []row, from, to time.Time) []row {
	byStart := func(r row, t time.Time) int { return r.start.Compare(t) }
	lo, _ := slices.BinarySearchFunc(rs, from, byStart)
	hi, _ := slices.BinarySearchFunc(rs, to, byStart)
	return rs[lo:max(lo, hi):max(lo, hi)]
}

// writeGroups recomputes the group roll-ups of the UTC days the windows cover, for the
// groups their meters belong to, every kind in one statement per range of days.
func (j *Job) writeGroups(ctx context.Context, ws []window, reg map[string]entry, computedAt time.Time) error {
	days := utcDays(ws)
	var kinds []schema.GroupKind
	var groups []any
	for _, kind := range schema.GroupKinds {
		set := map[string]bool{}
		for _, w := range ws {
			if g, ok := reg[w.meter].group(kind); ok {
				set[g] = true
			}
		}
		if len(set) == 0 {
			continue
		}
		kinds = append(kinds, kind)
		if kind == schema.KindFleet {
			continue
		}
		ids := make([]string, 0, len(set))
		for g := range set {
			ids = append(ids, g)
		}
		slices.Sort(ids)
		groups = append(groups, ids)
	}
	bounds := meterBounds(ws, j.cfg.Workers)
	sql := groupsSQL(kinds, len(bounds)+1)
	for _, d := range days {
		args := append([]any{computedAt}, groups...)
		for i := range len(bounds) + 1 {
			args = append(args, clampTime(d[0]), clampTime(d[1]))
			if i > 0 {
				args = append(args, bounds[i-1])
			}
			if i < len(bounds) {
				args = append(args, bounds[i])
			}
		}
		if err := j.conn.Exec(ctx, sql, args...); err != nil {
			return fmt.Errorf("roll up groups over [%s, %s): %w", d[0].Format(time.DateOnly), d[1].Format(time.DateOnly), err)
		}
	}
	return nil
}

// meterBounds returns up to parts-1 meter ids, strictly increasing, that split the meters
// of ws into parts ranges of about as many meters each: the ranges the group roll-up
// reads at once (see groupsSQL). The roll-up reads every meter of the days, not only
// those of ws; they stand for the fleet, as in the daily run, where ws holds all of it.
func meterBounds(ws []window, parts int) []string {
	ids := make([]string, 0, len(ws))
	for _, w := range ws {
		ids = append(ids, w.meter)
	}
	ids = uniq(ids)
	parts = min(parts, len(ids))
	var out []string
	for k := 1; k < parts; k++ {
		out = append(out, ids[k*len(ids)/parts])
	}
	return out
}
