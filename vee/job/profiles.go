package job

import (
	"context"
	"time"
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
	// max15[i] is the largest energy of a 15-minute row of the hour; max30[i] the larger
	// energy of the hour's two clock-aligned 30-minute blocks (its quarters 0+1 and 2+3),
	// a quarter without a row counting 0 Wh and a block without any row not at all; both
	// are 0 for an hour without any (see demandOf).
	max15, max30 []int64
	// estimated[i] and edited[i] count the hour's estimated and edited 15-minute rows.
	estimated, edited []uint8
	// substituted[i] counts the hour's 15-minute rows with estimated + edited > 0 (what
	// billing marks estimated), substitutedWh[i] is their energy.
	substituted   []uint8
	substitutedWh []int64
	// slot, slotWh and slotQuality are the day's 15m rows themselves, one element per row
	// in start order: its quarter from start, its energy and its quality. The job reads
	// them back as the meter's validated history (see loadHistory).
	slot        []uint8
	slotWh      []int64
	slotQuality []uint8
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
			out = append(out, dayProfile(meter, loc, d, end, rows[first:i]))
		}
		d = end
	}
	return out
}

// dayProfile returns the profile of the local day [start, end) of loc from the meter's 15m
// rows in it, sorted by start.
func dayProfile(meter string, loc *time.Location, start, end time.Time, rows []row) profile {
	n := hoursIn(start, end)
	p := profile{meter: meter, zone: loc.String(), start: start, wh: make([]int64, n), intervals: make([]uint8, n),
		estimated: make([]uint8, n), edited: make([]uint8, n), substituted: make([]uint8, n), substitutedWh: make([]int64, n),
		slot: make([]uint8, len(rows)), slotWh: make([]int64, len(rows)), slotQuality: make([]uint8, len(rows))}
	y, m, d := start.In(loc).Date()
	p.day = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	for i, r := range rows {
		h := int(r.start.Sub(start) / time.Hour)
		p.slot[i], p.slotWh[i], p.slotQuality[i] = uint8(r.start.Sub(start)/Interval), r.wh, r.quality
		p.wh[h] += r.wh
		p.intervals[h]++
		p.estimated[h] += uint8(r.estimated)
		p.edited[h] += uint8(r.edited)
		if r.estimated+r.edited > 0 {
			p.substituted[h]++
			p.substitutedWh[h] += r.wh
		}
	}
	p.max15, p.max30 = demandOf(start, end, rows)
	return p
}

// demandOf returns the demand determinants of the local day [start, end) per hour from
// start, from the day's 15m rows sorted by start: max15[i], the largest energy of a row
// in hour i, and max30[i], the larger energy of hour i's two 30-minute blocks
// [start + i h, start + i h + 30 min) and [start + i h + 30 min, start + (i+1) h), the
// quarters 0+1 and 2+3 of the hour. These are the demand windows billing uses, fixed
// 30-minute blocks aligned to the local clock ([:00, :30) and [:30, :00) of each local
// hour): the hours begin at the local midnight, a block boundary also in zones with :30
// or :45 offsets, and clocks change by multiples of 30 minutes, so the blocks stay on the
// local clock's half hours after a change too (after Lord Howe Island's half-hour change,
// hour i's first block is the second half of a local hour). A block never spans two
// elements or two days. A quarter without a row counts 0 Wh in a block, and a block
// without any row is no block. An hour without a row or block holds 0.
func demandOf(start, end time.Time, rows []row) (max15, max30 []int64) {
	n := hoursIn(start, end)
	max15, max30 = make([]int64, n), make([]int64, n)
	seen15, seen30 := make([]bool, n), make([]bool, n)
	const quartersPerBlock = int(30 * time.Minute / Interval)
	const blocksPerHour = int(time.Hour / (30 * time.Minute))
	block, present := make([]int64, blocksPerHour*n), make([]bool, blocksPerHour*n)
	for _, r := range rows {
		q := int(r.start.Sub(start) / Interval)
		h := int(r.start.Sub(start) / time.Hour)
		if !seen15[h] || r.wh > max15[h] {
			max15[h], seen15[h] = r.wh, true
		}
		b := q / quartersPerBlock
		block[b] += r.wh
		present[b] = true
	}
	for b, wh := range block {
		h := b / blocksPerHour
		if present[b] && (!seen30[h] || wh > max30[h]) {
			max30[h], seen30[h] = wh, true
		}
	}
	return max15, max30
}

// insertProfiles writes ps with one columnar insert; it only reads them.
func (j *Job) insertProfiles(ctx context.Context, ps []profile, computedAt time.Time) error {
	n := len(ps)
	if n == 0 {
		return nil
	}
	day, start, at := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	meter, zone := make([]string, n), make([]string, n)
	wh, max15, max30, substitutedWh, slotWh := make([][]int64, n), make([][]int64, n), make([][]int64, n), make([][]int64, n), make([][]int64, n)
	intervals, estimated, edited, substituted := make([][]uint8, n), make([][]uint8, n), make([][]uint8, n), make([][]uint8, n)
	slot, slotQuality := make([][]uint8, n), make([][]uint8, n)
	for i, p := range ps {
		day[i], start[i], at[i], meter[i], zone[i] = p.day, p.start, computedAt, p.meter, p.zone
		wh[i], max15[i], max30[i], substitutedWh[i], slotWh[i] = p.wh, p.max15, p.max30, p.substitutedWh, p.slotWh
		intervals[i], estimated[i], edited[i], substituted[i] = p.intervals, p.estimated, p.edited, p.substituted
		slot[i], slotQuality[i] = p.slot, p.slotQuality
	}
	return j.insertColumns(ctx, "consumption_profiles", insertProfiles, n, []any{day, meter, zone, start, wh, intervals, max15, max30,
		estimated, edited, substituted, substitutedWh, slot, slotWh, slotQuality, at})
}
