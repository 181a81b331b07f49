package job

import (
	"context"
	"fmt"
	"time"

	"github.com/meterhouse/meterhouse/schema"
)

// profile is one row of consumption_profiles: a meter's validated consumption over one
// local day, by hour from the day's start.
type profile struct {
	// day is the local date, as midnight UTC of that date (a ClickHouse Date).
	day   time.Time
	meter string
	// zone is the name of the time zone the day was computed in.
	zone string
	// start is the first instant of the local day, UTC.
	start time.Time
	// wh[i] is the energy of the hour [start + i h, start + (i+1) h), clipped to the day's
	// end; intervals[i] counts the 15-minute rows stored in it (0 to 4).
	wh        []int64
	intervals []uint8
}

// hoursIn returns the number of hourly elements of a local day [start, end): one per
// hour begun, so 23, 24 or 25 across daylight-saving changes of an hour (and 24 or 25 on
// Lord Howe Island's half-hour changes, whose last element covers half an hour).
func hoursIn(start, end time.Time) int {
	return int((end.Sub(start) + time.Hour - 1) / time.Hour)
}

// dayProfiles returns the profiles of a meter's local days of loc in [from, to), which
// are local day boundaries (localMidnight, nextMidnight), from the meter's 15m rows
// sorted by start; rows outside [from, to) are ignored. The arrays of a day cover all of
// it: hours without rows (the rest of today) hold 0 Wh and 0 intervals. A day without
// any row has no profile, as it has no 1d row.
func dayProfiles(meter string, loc *time.Location, from, to time.Time, rows []row) []profile {
	var out []profile
	i := 0
	for d := from; d.Before(to); {
		end := nextMidnight(d.Add(Interval), loc)
		for i < len(rows) && rows[i].start.Before(d) {
			i++
		}
		first := i
		for i < len(rows) && rows[i].start.Before(end) {
			i++
		}
		if i > first {
			n := hoursIn(d, end)
			p := profile{meter: meter, zone: loc.String(), start: d, wh: make([]int64, n), intervals: make([]uint8, n)}
			y, m, dd := d.In(loc).Date()
			p.day = time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)
			for _, r := range rows[first:i] {
				h := int(r.start.Sub(d) / time.Hour)
				p.wh[h] += r.wh
				p.intervals[h]++
			}
			out = append(out, p)
		}
		d = end
	}
	return out
}

// profileBuffer holds consumption_profiles rows column by column for one insert.
type profileBuffer struct {
	day, start  []time.Time
	meter, zone []string
	wh          [][]int64
	intervals   [][]uint8
}

func (b *profileBuffer) addAll(ps []profile) {
	for _, p := range ps {
		b.day = append(b.day, p.day)
		b.meter = append(b.meter, p.meter)
		b.zone = append(b.zone, p.zone)
		b.start = append(b.start, p.start)
		b.wh = append(b.wh, p.wh)
		b.intervals = append(b.intervals, p.intervals)
	}
}

// insertProfiles writes the buffered profiles with one columnar insert.
func (j *Job) insertProfiles(ctx context.Context, b *profileBuffer, computedAt time.Time) error {
	n := len(b.meter)
	if n == 0 {
		return nil
	}
	bctx, sent := schema.BatchContext(ctx)
	defer sent()
	batch, err := j.conn.PrepareBatch(bctx, insertProfiles)
	if err != nil {
		return fmt.Errorf("prepare consumption_profiles insert: %w", err)
	}
	defer batch.Abort() //nolint:errcheck // a no-op once sent
	at := make([]time.Time, n)
	for i := range at {
		at[i] = computedAt
	}
	for i, col := range []any{b.day, b.meter, b.zone, b.start, b.wh, b.intervals, at} {
		if err := batch.Column(i).Append(col); err != nil {
			return fmt.Errorf("append consumption_profiles column %d: %w", i, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d consumption_profiles rows: %w", n, err)
	}
	return nil
}
