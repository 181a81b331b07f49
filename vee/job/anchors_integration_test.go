package job

import (
	"context"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/vee"
)

// TestLoadAnchorsAgreesWithAnchors finds the anchors of a batch's windows both ways: from
// the readings loaded around the batch (loadAnchors, which searches only for what they
// lack) and by the searches alone (anchors). They must agree for neighbours a quarter
// hour, hours, days and more than the maximum gap away, on either side, for duplicated
// readings, and for a batch whose range is wider than a meter's window.
func TestLoadAnchorsAgreesWithAnchors(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	day := func(d int) time.Time { return time.Date(2026, 5, d, 0, 0, 0, 0, time.UTC) }
	ingested := day(30)
	var rs []reading
	add := func(meter string, ts ...time.Time) {
		for i, at := range ts {
			rs = append(rs, reading{schema.Reading{MeterID: meter, TS: at, RegisterWh: int64(1000 + 10*i)}, ingested})
		}
	}
	every := func(from, to time.Time) []time.Time {
		var out []time.Time
		for at := from; !at.After(to); at = at.Add(Interval) {
			out = append(out, at)
		}
		return out
	}
	add("A-EVERY", every(day(8), day(12))...)                                                    // neighbours a quarter hour away
	add("B-HOURS", day(9).Add(21*time.Hour), day(10).Add(6*time.Hour), day(11).Add(5*time.Hour)) // 3 and 5 hours away
	add("C-DAYS", day(7), day(10).Add(12*time.Hour))                                             // 3 days before, none after
	add("D-FAR", day(1).AddDate(0, -2, 0), day(10).Add(time.Hour), day(11).Add(20*time.Minute))  // past the maximum gap before
	add("E-DUP", every(day(9).Add(23*time.Hour), day(11).Add(time.Hour))...)
	add("E-DUP", day(9).Add(23*time.Hour+45*time.Minute)) // a second version of the reading before
	add("F-NONE", day(10).Add(8*time.Hour))
	add("G-EARLY", every(day(7), day(9))...) // its window starts the batch two days earlier
	insertReadings(t, conn, rs)

	clock := day(30)
	j := newJob(t, conn, testConfig(), &clock)
	var ws []window
	for _, m := range []string{"A-EVERY", "B-HOURS", "C-DAYS", "D-FAR", "E-DUP", "F-NONE"} {
		ws = append(ws, window{meter: m, from: day(10), to: day(11), loc: time.UTC})
	}
	ws = append(ws, window{meter: "G-EARLY", from: day(8), to: day(8).Add(12 * time.Hour), loc: time.UTC})
	spans := make([]span, len(ws))
	var ids []string
	for i, w := range ws {
		spans[i] = span{meter: w.meter, lo: w.from, hi: w.to}
		ids = append(ids, w.meter)
	}
	loaded := map[string][]vee.Reading{}
	if err := j.loadReadings(ctx, loaded, readingsSQL, day(8).Add(-anchorEdge), day(11).Add(anchorEdge), uniq(ids)); err != nil {
		t.Fatal(err)
	}
	got, err := j.loadAnchors(ctx, ws, loaded)
	if err != nil {
		t.Fatal(err)
	}
	want, err := j.anchors(ctx, spans)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range ws {
		if got[i] != want[i] {
			t.Errorf("%s: loadAnchors %+v, anchors %+v", w.meter, got[i], want[i])
		}
	}
	// The cases the test means to cover are there.
	if a := want[1]; !a.hasPrev || !a.prev.Equal(day(9).Add(21*time.Hour)) {
		t.Errorf("B-HOURS: anchors %+v, want the reading 3 hours before", a)
	}
	if a := want[3]; a.hasPrev || !a.hasNext {
		t.Errorf("D-FAR: anchors %+v, want none before (past the maximum gap) and one after", a)
	}
	if a := want[2]; !a.hasPrev || a.hasNext {
		t.Errorf("C-DAYS: anchors %+v, want one before and none after", a)
	}
}
