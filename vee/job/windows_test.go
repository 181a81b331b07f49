package job

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestSpansOf(t *testing.T) {
	day := func(s string) time.Time { return ts(s + "T00:00:00Z") }
	rows := []touchedDay{
		{"a", day("2026-10-20"), ts("2026-10-20T10:00:00Z"), ts("2026-10-20T23:45:00Z")},
		{"a", day("2026-10-21"), ts("2026-10-21T00:00:00Z"), ts("2026-10-21T05:00:00Z")},
		{"a", day("2026-10-25"), ts("2026-10-25T01:00:00Z"), ts("2026-10-25T02:00:00Z")},
		{"b", day("2026-10-21"), ts("2026-10-21T03:00:00Z"), ts("2026-10-21T04:00:00Z")},
	}
	want := []span{
		{"a", ts("2026-10-20T10:00:00Z"), ts("2026-10-21T05:00:00Z")},
		{"a", ts("2026-10-25T01:00:00Z"), ts("2026-10-25T02:00:00Z")},
		{"b", ts("2026-10-21T03:00:00Z"), ts("2026-10-21T04:00:00Z")},
	}
	if got := spansOf(rows); !reflect.DeepEqual(got, want) {
		t.Errorf("spansOf = %v, want %v", got, want)
	}
}

func TestWindowOf(t *testing.T) {
	berlin := mustLoad("Europe/Berlin")
	sp := span{"m", ts("2026-10-25T10:00:00Z"), ts("2026-10-25T12:00:00Z")}
	tests := []struct {
		name     string
		a        anchors
		loc      *time.Location
		from, to string
	}{
		{"no anchors: the readings themselves", anchors{}, berlin, "2026-10-25T10:00:00Z", "2026-10-25T12:00:00Z"},
		{"anchors the same day: the whole 25-hour day", anchors{prev: ts("2026-10-25T09:45:00Z"), next: ts("2026-10-25T12:15:00Z"), hasPrev: true, hasNext: true},
			berlin, "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"},
		{"gap back to the day before", anchors{prev: ts("2026-10-24T12:00:00Z"), hasPrev: true},
			berlin, "2026-10-23T22:00:00Z", "2026-10-25T12:00:00Z"},
		{"next reading at local midnight closes the day", anchors{next: ts("2026-10-25T23:00:00Z"), hasNext: true},
			berlin, "2026-10-25T10:00:00Z", "2026-10-25T23:00:00Z"},
		{"UTC days", anchors{prev: ts("2026-10-25T09:45:00Z"), next: ts("2026-10-25T12:15:00Z"), hasPrev: true, hasNext: true},
			time.UTC, "2026-10-25T00:00:00Z", "2026-10-26T00:00:00Z"},
		{"jittered readings snap to the grid", anchors{}, time.UTC, "2026-10-25T10:00:00Z", "2026-10-25T12:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sp
			if tt.name == "jittered readings snap to the grid" {
				s.lo, s.hi = s.lo.Add(20*time.Second), s.hi.Add(-25*time.Second)
			}
			w := windowOf(s, tt.a, tt.loc)
			if !w.from.Equal(ts(tt.from)) || !w.to.Equal(ts(tt.to)) {
				t.Errorf("window [%s, %s), want [%s, %s)", w.from.Format(time.RFC3339), w.to.Format(time.RFC3339), tt.from, tt.to)
			}
		})
	}
}

func TestMergeWindows(t *testing.T) {
	w := func(m, from, to string) window { return window{meter: m, from: ts(from), to: ts(to)} }
	got := mergeWindows([]window{
		w("b", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
		w("a", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"),
		w("a", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"), // touches the next one
		w("a", "2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z"),
		w("a", "2026-01-05T06:00:00Z", "2026-01-05T07:00:00Z"), // inside the previous one
	})
	want := []window{
		w("a", "2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z"),
		w("a", "2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z"),
		w("b", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mergeWindows = %v, want %v", got, want)
	}
}

func TestClip(t *testing.T) {
	w := window{meter: "m", from: ts("2026-01-01T00:00:00Z"), to: ts("2026-01-02T00:00:00Z")}
	first, last := ts("2026-01-01T06:00:10Z"), ts("2026-01-01T18:00:00Z")
	both := anchors{hasPrev: true, hasNext: true}
	tests := []struct {
		name     string
		a        anchors
		has      bool
		ok       bool
		from, to string
	}{
		{"anchored on both sides: whole window", both, true, true, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"},
		{"no reading before: starts at the first", anchors{hasNext: true}, true, true, "2026-01-01T06:00:00Z", "2026-01-02T00:00:00Z"},
		{"no reading after: ends at the last", anchors{hasPrev: true}, true, true, "2026-01-01T00:00:00Z", "2026-01-01T18:00:00Z"},
		{"inside a gap: estimated whole", both, false, true, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"},
		{"after the last reading: nothing", anchors{hasPrev: true}, false, false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := clip(w, tt.a, first, last, tt.has)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && (!got.from.Equal(ts(tt.from)) || !got.to.Equal(ts(tt.to))) {
				t.Errorf("window [%s, %s), want [%s, %s)", got.from.Format(time.RFC3339), got.to.Format(time.RFC3339), tt.from, tt.to)
			}
		})
	}
}

func TestPeriods(t *testing.T) {
	berlin := mustLoad("Europe/Berlin")
	w := window{meter: "m", loc: berlin, from: ts("2026-03-29T05:00:00Z"), to: ts("2026-03-30T10:00:00Z")}
	from, to := daysOf(w)
	if !from.Equal(ts("2026-03-28T23:00:00Z")) || !to.Equal(ts("2026-03-30T22:00:00Z")) {
		t.Errorf("daysOf = [%s, %s)", from, to)
	}
	from, to = monthsOf(w)
	if !from.Equal(ts("2026-02-28T23:00:00Z")) || !to.Equal(ts("2026-03-31T22:00:00Z")) {
		t.Errorf("monthsOf = [%s, %s)", from, to)
	}
	// The 23-hour day of 2026-03-29 in Berlin holds 92 quarter hours.
	if n := slots(localMidnight(ts("2026-03-29T12:00:00Z"), berlin), nextMidnight(ts("2026-03-29T12:00:00Z"), berlin)); n != 92 {
		t.Errorf("2026-03-29 has %d slots, want 92", n)
	}
	days := utcDays([]window{w, {from: ts("2026-04-02T01:00:00Z"), to: ts("2026-04-02T02:00:00Z")}})
	want := [][2]time.Time{{ts("2026-03-29T00:00:00Z"), ts("2026-03-31T00:00:00Z")}, {ts("2026-04-02T00:00:00Z"), ts("2026-04-03T00:00:00Z")}}
	if !reflect.DeepEqual(days, want) {
		t.Errorf("utcDays = %v, want %v", days, want)
	}
}

// TestPeriodsWithoutMidnight checks the windows of America/Sao_Paulo around 2018-11-04,
// which began at 01:00 (DST at midnight) and held 92 quarter hours, and of the month it
// lies in.
func TestPeriodsWithoutMidnight(t *testing.T) {
	sp := mustLoad("America/Sao_Paulo")
	noon := ts("2018-11-04T15:00:00Z")
	if got := localMidnight(noon, sp); !got.Equal(ts("2018-11-04T03:00:00Z")) {
		t.Errorf("localMidnight = %s, want 2018-11-04T03:00:00Z (01:00 local)", got)
	}
	if got := nextMidnight(noon, sp); !got.Equal(ts("2018-11-05T02:00:00Z")) {
		t.Errorf("nextMidnight = %s, want 2018-11-05T02:00:00Z", got)
	}
	if got := nextMidnight(ts("2018-11-04T03:00:00Z"), sp); !got.Equal(ts("2018-11-04T03:00:00Z")) {
		t.Errorf("nextMidnight at the day's start = %s, want the start itself", got)
	}
	if n := slots(localMidnight(noon, sp), nextMidnight(noon, sp)); n != 92 {
		t.Errorf("2018-11-04 has %d slots, want 92", n)
	}
	w := window{meter: "m", loc: sp, from: ts("2018-11-04T03:00:00Z"), to: ts("2018-11-05T02:00:00Z")}
	from, to := daysOf(w)
	if !from.Equal(ts("2018-11-04T03:00:00Z")) || !to.Equal(ts("2018-11-05T02:00:00Z")) {
		t.Errorf("daysOf = [%s, %s)", from, to)
	}
	from, to = monthsOf(w)
	if !from.Equal(ts("2018-11-01T03:00:00Z")) || !to.Equal(ts("2018-12-01T02:00:00Z")) {
		t.Errorf("monthsOf = [%s, %s)", from, to)
	}
}

// TestBatchesOf checks that batches hold at most the given number of meters, in order,
// and that all the windows of a meter land in one batch, which lets batches run
// concurrently: two batches rolling up one meter's month at once would miss each other's days.
func TestBatchesOf(t *testing.T) {
	w := func(m, from string) window {
		return window{meter: m, from: ts(from), to: ts(from).Add(24 * time.Hour), loc: time.UTC}
	}
	ws := []window{
		w("a", "2026-10-01T00:00:00Z"), w("b", "2026-10-02T00:00:00Z"), w("c", "2026-10-03T00:00:00Z"),
		w("a", "2026-10-20T00:00:00Z"), w("d", "2026-10-21T00:00:00Z"), w("c", "2026-10-22T00:00:00Z"),
		w("e", "2026-10-23T00:00:00Z"),
	}
	tests := []struct {
		size int
		want [][]string // meter of each window, by batch
	}{
		{1, [][]string{{"a", "a"}, {"b"}, {"c", "c"}, {"d"}, {"e"}}},
		{2, [][]string{{"a", "b", "a"}, {"c", "d", "c"}, {"e"}}},
		{10, [][]string{{"a", "b", "c", "a", "d", "c", "e"}}},
	}
	for _, tt := range tests {
		var got [][]string
		for _, b := range batchesOf(ws, tt.size) {
			var ms []string
			for _, x := range b {
				ms = append(ms, x.meter)
			}
			got = append(got, ms)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("size %d: batches %v, want %v", tt.size, got, tt.want)
		}
	}
	if got := batchesOf(nil, 3); len(got) != 0 {
		t.Errorf("no windows: %d batches, want none", len(got))
	}
}

// TestListBytes checks that batches and chunks keep each list of ids within
// maxListBytes (the longest ids make smaller batches) and cut nothing otherwise.
func TestListBytes(t *testing.T) {
	long := func(i int) string { return fmt.Sprintf("%064d", i) }
	var ws []window
	var ids []string
	for i := range 3000 {
		ws = append(ws, window{meter: long(i), from: ts("2026-10-01T00:00:00Z"), to: ts("2026-10-02T00:00:00Z"), loc: time.UTC})
		ids = append(ids, long(i))
	}
	perList := maxListBytes / idBytes(long(0))
	bs := batchesOf(ws, 2000)
	if len(bs) != (3000+perList-1)/perList || len(bs[0]) != perList {
		t.Errorf("batches of 3000 64-byte ids: %d, the first of %d; want %d ids each", len(bs), len(bs[0]), perList)
	}
	cs := chunksOf(ids, 2000, maxListBytes, func(s string) string { return s })
	total := 0
	for _, c := range cs {
		n := 0
		for _, id := range c {
			n += idBytes(id)
		}
		if n > maxListBytes || len(c) > 2000 || len(c) == 0 {
			t.Errorf("chunk of %d ids, %d bytes", len(c), n)
		}
		total += len(c)
	}
	if total != len(ids) || len(cs) != len(bs) {
		t.Errorf("chunks hold %d ids in %d chunks, want %d in %d", total, len(cs), len(ids), len(bs))
	}
	if got := chunksOf([]string{"a", "b", "c"}, 2, maxListBytes, func(s string) string { return s }); len(got) != 2 || len(got[0]) != 2 {
		t.Errorf("short ids: chunks %v, want two, by count", got)
	}
	if got := chunksOf([]string(nil), 2, maxListBytes, func(s string) string { return s }); len(got) != 0 {
		t.Errorf("no ids: %d chunks", len(got))
	}
}

func TestMeterBounds(t *testing.T) {
	ws := func(ids ...string) []window {
		var out []window
		for _, id := range ids {
			out = append(out, window{meter: id})
		}
		return out
	}
	tests := []struct {
		name  string
		ws    []window
		parts int
		want  []string
	}{
		{"one part", ws("a", "b", "c"), 1, nil},
		{"two parts", ws("d", "a", "c", "b"), 2, []string{"c"}},
		{"three parts of seven", ws("a", "b", "c", "d", "e", "f", "g"), 3, []string{"c", "e"}},
		{"a meter's windows count once", ws("a", "a", "a", "b"), 2, []string{"b"}},
		{"more parts than meters", ws("b", "a"), 4, []string{"b"}},
		{"one meter", ws("a", "a"), 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := meterBounds(tt.ws, tt.parts); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("meterBounds = %q, want %q", got, tt.want)
			}
		})
	}
}
