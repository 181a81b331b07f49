package job

import (
	"cmp"
	"slices"
	"time"

	"github.com/meterhouse/meterhouse/calendar"
	"github.com/meterhouse/meterhouse/schema"
)

// span is a range of one meter's data that changed: the timestamps of new readings, or
// the range of an edit.
type span struct {
	meter  string
	lo, hi time.Time
}

// touchedDay is one meter's new readings on one UTC day, as the touched query returns them.
type touchedDay struct {
	meter  string
	day    time.Time
	lo, hi time.Time
}

// spansOf merges each meter's touched days into spans of consecutive days. rows must be
// sorted by meter and day.
func spansOf(rows []touchedDay) []span {
	var out []span
	for i, r := range rows {
		if i > 0 && out[len(out)-1].meter == r.meter && !r.day.After(rows[i-1].day.AddDate(0, 0, 1)) {
			last := &out[len(out)-1]
			last.lo, last.hi = minTime(last.lo, r.lo), maxTime(last.hi, r.hi)
			continue
		}
		out = append(out, span{meter: r.meter, lo: r.lo, hi: r.hi})
	}
	return out
}

// window is a range of grid slots [from, to) of one meter that the job recomputes.
type window struct {
	meter    string
	from, to time.Time
	loc      *time.Location
}

// anchors are the readings next to a span: the last one before lo and the first one after
// hi, when they exist within the maximum gap.
type anchors struct {
	prev, next       time.Time
	hasPrev, hasNext bool
}

// grid rounds t to the nearest 15-minute boundary (UTC), where vee snaps readings.
func grid(t time.Time) time.Time {
	return t.Add(Interval / 2).Truncate(Interval).UTC()
}

// localMidnight returns the start of the local day containing t (package calendar: 01:00
// on a day whose midnight does not exist), on the grid.
func localMidnight(t time.Time, loc *time.Location) time.Time {
	return calendar.DayStart(t, loc).Truncate(Interval)
}

// nextMidnight returns the end of the local day containing the instant just before t.
func nextMidnight(t time.Time, loc *time.Location) time.Time {
	return calendar.NextDay(t.Add(-time.Nanosecond), loc).Truncate(Interval)
}

// windowOf returns the whole local days whose intervals new data in sp can change: from
// the day of the reading before the span (whose gap to the span's first reading is
// re-estimated) to the day of the reading after it. Without a reading before, the window
// starts at the span's first reading, since no interval before it can be computed;
// likewise at the end.
func windowOf(sp span, a anchors, loc *time.Location) window {
	w := window{meter: sp.meter, loc: loc, from: grid(sp.lo), to: grid(sp.hi)}
	if a.hasPrev {
		w.from = localMidnight(a.prev, loc)
	}
	if a.hasNext {
		w.to = nextMidnight(a.next, loc)
	}
	return w
}

// mergeWindows sorts windows by meter and start and merges those of one meter that
// overlap or touch.
func mergeWindows(ws []window) []window {
	slices.SortFunc(ws, func(a, b window) int {
		if c := cmp.Compare(a.meter, b.meter); c != 0 {
			return c
		}
		return a.from.Compare(b.from)
	})
	var out []window
	for _, w := range ws {
		if n := len(out); n > 0 && out[n-1].meter == w.meter && !w.from.After(out[n-1].to) {
			out[n-1].to = maxTime(out[n-1].to, w.to)
			continue
		}
		out = append(out, w)
	}
	return out
}

// batchesOf splits windows, sorted by start, into batches of at most size meters each
// (one meter's windows may make a batch longer), in order, keeping all the windows of a
// meter in one batch: batches run concurrently, and two batches rolling up one meter's
// month (1mo from its 1d rows) at once would each miss the other's days.
func batchesOf(ws []window, size int) [][]window {
	var out [][]window
	of := map[string]int{}
	meters, bytes := 0, 0
	for _, w := range ws {
		if i, ok := of[w.meter]; ok {
			out[i] = append(out[i], w)
			continue
		}
		if len(out) == 0 || meters == size || bytes+idBytes(w.meter) > maxListBytes {
			out, meters, bytes = append(out, nil), 0, 0
		}
		of[w.meter] = len(out) - 1
		out[len(out)-1] = append(out[len(out)-1], w)
		meters, bytes = meters+1, bytes+idBytes(w.meter)
	}
	return out
}

// maxListBytes bounds the text of one list of meter ids bound into a statement.
// ClickHouse refuses a statement longer than max_query_size (256 KiB by default), and a
// batch's statements bind its list up to three times besides numbers per window (the
// history's meter positions, the anchors' spans): 60 KiB a list keeps them within it
// whatever the ids, up to 4 000 meters of ten-character ids and 900 of the longest (64).
const maxListBytes = 60 << 10

// idBytes is the length of id in a bound list: quoted, with its separator.
func idBytes(id string) int { return len(id) + 4 }

// chunksOf cuts xs, in order, into chunks of at most n elements whose ids' text stays
// within maxBytes.
func chunksOf[T any](xs []T, n, maxBytes int, id func(T) string) [][]T {
	var out [][]T
	start, bytes := 0, 0
	for i, x := range xs {
		b := idBytes(id(x))
		if i > start && (i-start == n || bytes+b > maxBytes) {
			out, start, bytes = append(out, xs[start:i]), i, 0
		}
		bytes += b
	}
	if start < len(xs) {
		out = append(out, xs[start:])
	}
	return out
}

// clip narrows w to the slots that can be computed: without a reading before w.from the
// window starts at its first reading, and without one after w.to it ends at its last;
// has says whether the window holds readings at all. It reports false when nothing is left.
func clip(w window, a anchors, first, last time.Time, has bool) (window, bool) {
	if !has && (!a.hasPrev || !a.hasNext) {
		return w, false
	}
	if !a.hasPrev {
		w.from = maxTime(w.from, grid(first))
	}
	if !a.hasNext {
		w.to = minTime(w.to, grid(last))
	}
	return w, w.to.After(w.from)
}

// utcDays returns the UTC days [from, to) covering the windows, merged into ranges.
func utcDays(ws []window) [][2]time.Time {
	rs := make([][2]time.Time, 0, len(ws))
	for _, w := range ws {
		to := w.to.Truncate(24 * time.Hour)
		if to.Before(w.to) {
			to = to.Add(24 * time.Hour)
		}
		rs = append(rs, [2]time.Time{w.from.Truncate(24 * time.Hour), to})
	}
	return mergeRanges(rs)
}

// mergeRanges sorts ranges and merges those that overlap or touch.
func mergeRanges(rs [][2]time.Time) [][2]time.Time {
	slices.SortFunc(rs, func(a, b [2]time.Time) int { return a[0].Compare(b[0]) })
	var out [][2]time.Time
	for _, r := range rs {
		if n := len(out); n > 0 && !r[0].After(out[n-1][1]) {
			out[n-1][1] = maxTime(out[n-1][1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}

// daysOf returns the local days [start, end) covering w, so that 1d rows are recomputed
// whole, widened to whole UTC hours so that 1h rows are too.
func daysOf(w window) (time.Time, time.Time) {
	from := localMidnight(w.from, w.loc).Truncate(time.Hour)
	to := nextMidnight(w.to, w.loc)
	if t := to.Truncate(time.Hour); t.Before(to) {
		to = t.Add(time.Hour)
	}
	return from, to
}

// monthsOf returns the local months [start, end) covering w.
func monthsOf(w window) (time.Time, time.Time) {
	return calendar.MonthStart(w.from, w.loc), calendar.NextMonth(w.to.Add(-time.Nanosecond), w.loc)
}

// slots returns how many 15-minute slots [from, to) holds.
func slots(from, to time.Time) uint32 {
	return uint32(to.Sub(from) / Interval)
}

// clampTime returns t moved into what the store reads back, schema.MinDateTime to
// schema.LatestTime: derived query bounds (a window's start less the maximum gap, …) are
// clamped so that ClickHouse never receives a bound it misreads.
func clampTime(t time.Time) time.Time {
	return maxTime(schema.MinDateTime, minTime(t, schema.LatestTime))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
