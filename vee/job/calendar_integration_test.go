package job

import (
	"context"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/calendar"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
)

// TestJobDayWithoutMidnight validates a meter of America/Sao_Paulo over 2018-11-04, whose
// DST began at 00:00 (the day starts at 01:00 and holds 92 quarter hours): its 1d rows
// start at the first instant of each local date, the short day holds 92 intervals adding
// up to its 15-minute rows, its consumption profile has 23 hours from 03:00Z, and the
// month starts on the 1st at 00:00 local.
func TestJobDayWithoutMidnight(t *testing.T) {
	sp := mustLoad("America/Sao_Paulo")
	from, to := time.Date(2018, 11, 2, 3, 0, 0, 0, time.UTC), time.Date(2018, 11, 7, 2, 0, 0, 0, time.UTC)
	f, err := sim.New(sim.Config{Meters: 1, From: from, To: to, Interval: Interval, Seed: 3, IDPrefix: "SP-", TimeZone: "America/Sao_Paulo"})
	if err != nil {
		t.Fatal(err)
	}
	_, conn := testenv.ClickHouse(t)
	if err := schema.InsertMeters(context.Background(), conn, f.Meters()); err != nil {
		t.Fatal(err)
	}
	var rs []reading
	var r schema.Reading
	for f.Next(&r) {
		rs = append(rs, reading{r, r.TS.Add(time.Minute)})
	}
	insertReadings(t, conn, rs)
	cfg := testConfig()
	cfg.Lateness = 0
	clock := to.Add(10 * time.Minute)
	j := newJob(t, conn, cfg, &clock)
	res := runAt(t, j, &clock, clock)
	if res.Failed != 0 {
		t.Fatalf("failures: %v", res.Failures)
	}
	rows := snapshot(t, conn)
	meter := f.Meters()[0].MeterID
	for day := 3; day <= 6; day++ {
		start := calendar.DateStart(2018, 11, day, sp)
		k := rowKey{"1d", meter, start}
		got, ok := rows[k]
		if !ok {
			t.Errorf("no 1d row starting at %s (2018-11-%02d)", start.Format(time.RFC3339), day)
			continue
		}
		want := uint32(96)
		if day == 4 {
			want = 92
			if !start.Equal(time.Date(2018, 11, 4, 3, 0, 0, 0, time.UTC)) {
				t.Errorf("2018-11-04 starts at %s, want 03:00Z (01:00 local)", start)
			}
		}
		if got.expected != want || got.intervals != want {
			t.Errorf("2018-11-%02d: %+v, want %d expected and measured intervals", day, got, want)
		}
		var sum int64
		var n uint32
		for q := start; q.Before(calendar.NextDay(start, sp)); q = q.Add(Interval) {
			sum += rows[rowKey{"15m", meter, q}].wh
			n++
		}
		if n != want || sum != got.wh {
			t.Errorf("2018-11-%02d: %d quarter hours summing to %d, 1d row %d", day, n, sum, got.wh)
		}
	}
	// The profiles follow the same local days: 2018-11-04 starts at 03:00Z with 23 hours.
	ps := profileSnapshot(t, conn)
	checkProfiles(t, sp, rows, ps)
	if p := ps[profileKey{meter, "2018-11-04"}]; !p.start.Equal(time.Date(2018, 11, 4, 3, 0, 0, 0, time.UTC)) || len(p.wh) != 23 {
		t.Errorf("profile of 2018-11-04 starts at %s with %d hours, want 03:00Z and 23", p.start, len(p.wh))
	}
	for k := range rows {
		if k.res == "1d" {
			if y, m, d := k.start.In(sp).Date(); !calendar.DateStart(y, m, d, sp).Equal(k.start) {
				t.Errorf("1d row at %s is not the start of a local day", k.start.In(sp))
			}
		}
		if k.res == "1mo" && !k.start.Equal(time.Date(2018, 11, 1, 3, 0, 0, 0, time.UTC)) {
			t.Errorf("1mo row at %s, want 2018-11-01T03:00:00Z", k.start)
		}
	}
}
