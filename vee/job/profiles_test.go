package job

import (
	"reflect"
	"testing"
	"time"
)

func TestHoursIn(t *testing.T) {
	tests := []struct {
		name       string
		start, end string
		want       int
	}{
		{"ordinary day", "2026-03-27T23:00:00Z", "2026-03-28T23:00:00Z", 24},
		{"spring forward", "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z", 23},
		{"fall back", "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z", 25},
		{"half-hour change", "2026-04-04T13:00:00Z", "2026-04-05T13:30:00Z", 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hoursIn(ts(tt.start), ts(tt.end)); got != tt.want {
				t.Errorf("hoursIn = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestDayProfiles(t *testing.T) {
	berlin := mustLoad("Europe/Berlin")
	// quarters returns n 15m rows of wh each from start.
	quarters := func(start string, n int, wh int64) []row {
		var rs []row
		for i := range n {
			rs = append(rs, row{resolution: "15m", meter: "m", start: ts(start).Add(time.Duration(i) * Interval), wh: wh})
		}
		return rs
	}
	filled := func(n int, wh int64, count uint8) ([]int64, []uint8) {
		w, c := make([]int64, n), make([]uint8, n)
		for i := range n {
			w[i], c[i] = wh, count
		}
		return w, c
	}
	// flat returns n copies of v.
	flat := func(n int, v int64) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = v
		}
		return out
	}
	zeros := func(n int) []uint8 { return make([]uint8, n) }
	none := func(n int) []int64 { return make([]int64, n) }
	date := func(s string) time.Time { return ts(s + "T00:00:00Z") }
	w23, c23 := filled(23, 4, 4)
	w25, c25 := filled(25, 8, 4)
	// 2026-10-26 (24 h) with data over its first 5 h 15 min.
	wPart, cPart := filled(24, 0, 0)
	for h := range 5 {
		wPart[h], cPart[h] = 12, 4
	}
	wPart[5], cPart[5] = 3, 1
	// 3 Wh quarters: 3 and 6 up to hour 4; hour 5 has one row, so its first block is
	// 3 + nothing and its second none (no block reaches back into hour 4); hour 6 has no
	// row.
	max15Part, max30Part := flat(24, 0), flat(24, 0)
	for h := range 5 {
		max15Part[h], max30Part[h] = 3, 6
	}
	max15Part[5], max30Part[5] = 3, 3
	// A day with a hole of one quarter hour and one hour.
	wHole, cHole := filled(24, 4, 4)
	wHole[0], cHole[0] = 3, 3
	wHole[2], cHole[2] = 0, 0
	hole := append(quarters("2026-03-26T23:15:00Z", 7, 1), quarters("2026-03-27T02:00:00Z", 84, 1)...)
	// 1 Wh quarters: hour 0's blocks are 23:00Z-23:30Z (nothing + 1) and 23:30Z-00:00Z
	// (1 + 1); hour 2 (01:00Z-02:00Z) has no row and so no block (the 00:45Z row is in
	// hour 1's second block); hour 3's blocks hold 2 each.
	max15Hole, max30Hole := flat(24, 1), flat(24, 2)
	max15Hole[2], max30Hole[2] = 0, 0
	// Estimated and edited rows: on 2026-03-27, 00:15Z (10 Wh) and 00:30Z estimated,
	// 00:30Z and 00:45Z edited (hour 1), 05:45Z (7 Wh) estimated and edited (hour 6), the
	// rest measured 1 Wh rows. Substituted are the rows estimated or edited or both: 3
	// in hour 1 (12 Wh; 00:30Z counted once) and 1 in hour 6 (7 Wh).
	marked := quarters("2026-03-26T23:00:00Z", 96, 1)
	marked[5].wh, marked[27].wh = 10, 7
	marked[5].estimated, marked[6].estimated, marked[27].estimated = 1, 1, 1
	marked[6].edited, marked[7].edited, marked[27].edited = 1, 1, 1
	wMarked, cMarked := filled(24, 4, 4)
	wMarked[1], wMarked[6] = 13, 10
	estMarked, editMarked, subMarked, subWhMarked := zeros(24), zeros(24), zeros(24), none(24)
	estMarked[1], editMarked[1], subMarked[1], subWhMarked[1] = 2, 2, 3, 12
	estMarked[6], editMarked[6], subMarked[6], subWhMarked[6] = 1, 1, 1, 7
	// Hour 1's blocks 1+10 and 1+1, hour 6's 1+1 and 1+7.
	max15Marked, max30Marked := flat(24, 1), flat(24, 2)
	max15Marked[1], max30Marked[1] = 10, 11
	max15Marked[6], max30Marked[6] = 7, 8

	tests := []struct {
		name     string
		from, to string
		rows     []row
		want     []profile
	}{
		{"spring forward: 23 hours",
			"2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z", quarters("2026-03-28T23:00:00Z", 92, 1),
			[]profile{{day: date("2026-03-29"), meter: "m", zone: "Europe/Berlin", start: ts("2026-03-28T23:00:00Z"), wh: w23, intervals: c23,
				max15: flat(23, 1), max30: flat(23, 2), estimated: zeros(23), edited: zeros(23),
				substituted: zeros(23), substitutedWh: none(23)}}},
		{"fall back: 25 hours, rows outside ignored",
			"2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z",
			append(append(quarters("2026-10-24T21:00:00Z", 4, 100), quarters("2026-10-24T22:00:00Z", 100, 2)...), quarters("2026-10-25T23:00:00Z", 4, 100)...),
			[]profile{{day: date("2026-10-25"), meter: "m", zone: "Europe/Berlin", start: ts("2026-10-24T22:00:00Z"), wh: w25, intervals: c25,
				max15: flat(25, 2), max30: flat(25, 4), estimated: zeros(25), edited: zeros(25),
				substituted: zeros(25), substitutedWh: none(25)}}},
		{"two days, the second partly covered; a day without rows has no profile",
			"2026-10-24T22:00:00Z", "2026-10-27T23:00:00Z",
			append(quarters("2026-10-24T22:00:00Z", 100, 2), quarters("2026-10-25T23:00:00Z", 21, 3)...),
			[]profile{
				{day: date("2026-10-25"), meter: "m", zone: "Europe/Berlin", start: ts("2026-10-24T22:00:00Z"), wh: w25, intervals: c25,
					max15: flat(25, 2), max30: flat(25, 4), estimated: zeros(25), edited: zeros(25),
					substituted: zeros(25), substitutedWh: none(25)},
				{day: date("2026-10-26"), meter: "m", zone: "Europe/Berlin", start: ts("2026-10-25T23:00:00Z"), wh: wPart, intervals: cPart,
					max15: max15Part, max30: max30Part, estimated: zeros(24), edited: zeros(24),
					substituted: zeros(24), substitutedWh: none(24)},
			}},
		{"holes count 0 to 3 intervals",
			"2026-03-26T23:00:00Z", "2026-03-27T23:00:00Z", hole,
			[]profile{{day: date("2026-03-27"), meter: "m", zone: "Europe/Berlin", start: ts("2026-03-26T23:00:00Z"), wh: wHole, intervals: cHole,
				max15: max15Hole, max30: max30Hole, estimated: zeros(24), edited: zeros(24),
				substituted: zeros(24), substitutedWh: none(24)}}},
		{"estimated and edited intervals counted per hour",
			"2026-03-26T23:00:00Z", "2026-03-27T23:00:00Z", marked,
			[]profile{{day: date("2026-03-27"), meter: "m", zone: "Europe/Berlin", start: ts("2026-03-26T23:00:00Z"), wh: wMarked, intervals: cMarked,
				max15: max15Marked, max30: max30Marked, estimated: estMarked, edited: editMarked,
				substituted: subMarked, substitutedWh: subWhMarked}}},
		{"no rows", "2026-03-26T23:00:00Z", "2026-03-27T23:00:00Z", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dayProfiles("m", berlin, ts(tt.from), ts(tt.to), tt.rows)
			// The slot arrays hold the day's rows themselves: checked against the rows,
			// then left out of the comparison.
			i := 0
			for k := range got {
				p := &got[k]
				for s := range p.slot {
					r := tt.rows[i]
					for r.start.Before(p.start) {
						i++
						r = tt.rows[i]
					}
					if p.start.Add(time.Duration(p.slot[s])*Interval) != r.start || p.slotWh[s] != r.wh || p.slotQuality[s] != r.quality {
						t.Fatalf("profile of %s, element %d: slot %d, %d Wh, quality %d; want the row %+v", p.start, s,
							p.slot[s], p.slotWh[s], p.slotQuality[s], r)
					}
					i++
				}
				if len(p.slot) != len(p.slotWh) || len(p.slot) != len(p.slotQuality) {
					t.Fatalf("profile of %s: slot arrays of %d, %d and %d elements", p.start, len(p.slot), len(p.slotWh), len(p.slotQuality))
				}
				p.slot, p.slotWh, p.slotQuality = nil, nil, nil
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("dayProfiles =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// TestDayProfilesWithoutMidnight checks America/Sao_Paulo's 2018-11-04, which began at
// 01:00: its profile starts at 03:00Z and has 23 elements, dated the 4th.
func TestDayProfilesWithoutMidnight(t *testing.T) {
	sp := mustLoad("America/Sao_Paulo")
	from := localMidnight(ts("2018-11-04T15:00:00Z"), sp)
	to := nextMidnight(ts("2018-11-04T15:00:00Z"), sp)
	rows := []row{{start: from, wh: 5}, {start: to.Add(-Interval), wh: 7}}
	got := dayProfiles("m", sp, from, to, rows)
	if len(got) != 1 {
		t.Fatalf("got %d profiles, want 1", len(got))
	}
	p := got[0]
	if !p.start.Equal(ts("2018-11-04T03:00:00Z")) || !p.day.Equal(ts("2018-11-04T00:00:00Z")) || len(p.wh) != 23 {
		t.Errorf("profile starts %s, day %s, %d hours; want 2018-11-04T03:00:00Z, 2018-11-04, 23", p.start, p.day, len(p.wh))
	}
	if p.wh[0] != 5 || p.wh[22] != 7 || p.intervals[0] != 1 || p.intervals[22] != 1 {
		t.Errorf("profile = %+v", p)
	}
}

func TestDemandOf(t *testing.T) {
	// at returns 15m rows from start with the given energies, one per quarter hour;
	// skip marks a quarter without a row.
	const skip = int64(-1 << 62)
	at := func(start string, whs ...int64) []row {
		var rs []row
		for i, wh := range whs {
			if wh != skip {
				rs = append(rs, row{start: ts(start).Add(time.Duration(i) * Interval), wh: wh})
			}
		}
		return rs
	}
	tests := []struct {
		name         string
		start, end   string
		rows         []row
		max15, max30 []int64
	}{
		{"blocks never cross the hour boundary",
			// 23:00Z is local midnight; hour 0 quarters 1 2 3 9, hour 1 quarters 8 1 1 1:
			// hour 0's blocks are 1+2 and 3+9, hour 1's 8+1 and 1+1. The 30 minutes
			// 23:45Z-00:15Z (9 + 8 = 17) are no block, and no demand window of billing.
			"2026-03-26T23:00:00Z", "2026-03-27T23:00:00Z",
			at("2026-03-26T23:00:00Z", 1, 2, 3, 9, 8, 1, 1, 1),
			append([]int64{9, 8}, make([]int64, 22)...),
			append([]int64{12, 9}, make([]int64, 22)...)},
		{"spring forward: 23 elements, peak in the last hour",
			"2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z",
			append(at("2026-03-28T23:00:00Z", 5, 5, 5, 5), at("2026-03-29T21:00:00Z", 4, 6, 20, 7)...),
			append(append([]int64{5}, make([]int64, 21)...), 20),
			append(append([]int64{10}, make([]int64, 21)...), 27)},
		{"fall back: 25 elements, the repeated hour (element 3) and a gap",
			// 01:00Z-02:00Z is 02:00-03:00 CET, the second 02:00 hour; its blocks are
			// 7 + gap and 3 + 11; hour 4 has no row and no block.
			"2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z",
			at("2026-10-25T01:00:00Z", 7, skip, 3, 11),
			append(append([]int64{0, 0, 0, 11}, make([]int64, 20)...), 0),
			append(append([]int64{0, 0, 0, 14}, make([]int64, 20)...), 0)},
		{"export: negative energies keep their maximum",
			// blocks -4-2 and -3-5.
			"2026-03-26T23:00:00Z", "2026-03-27T23:00:00Z",
			at("2026-03-26T23:00:00Z", -4, -2, -3, -5),
			append([]int64{-2}, make([]int64, 23)...),
			append([]int64{-6}, make([]int64, 23)...)},
		{"a block holding only a zero row is a block of 0",
			"2026-03-26T23:00:00Z", "2026-03-27T23:00:00Z",
			at("2026-03-26T23:00:00Z", -4, -2, 0, skip),
			append([]int64{0}, make([]int64, 23)...),
			append([]int64{0}, make([]int64, 23)...)},
		{"Asia/Kathmandu (+05:45): blocks from the local midnight at 18:15Z",
			"2026-03-26T18:15:00Z", "2026-03-27T18:15:00Z",
			at("2026-03-26T18:15:00Z", 1, 2, 3, 9, 8, 1, 1, 1),
			append([]int64{9, 8}, make([]int64, 22)...),
			append([]int64{12, 9}, make([]int64, 22)...)},
		{"Lord Howe Island's 24.5-hour day: the last element has one block",
			"2026-04-04T13:00:00Z", "2026-04-05T13:30:00Z",
			at("2026-04-05T12:30:00Z", 1, 1, 4, 5),
			append(make([]int64, 23), 1, 5),
			append(make([]int64, 23), 2, 9)},
		{"no rows", "2026-03-26T23:00:00Z", "2026-03-27T23:00:00Z", nil, make([]int64, 24), make([]int64, 24)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max15, max30 := demandOf(ts(tt.start), ts(tt.end), tt.rows)
			if !reflect.DeepEqual(max15, tt.max15) || !reflect.DeepEqual(max30, tt.max30) {
				t.Errorf("demandOf =\n%v\n%v\nwant\n%v\n%v", max15, max30, tt.max15, tt.max30)
			}
		})
	}
}

// clockBlock returns the start of the 30-minute block of the local clock of loc
// ([:00, :30) or [:30, :00) of a local hour) holding t, as billing's demand windows
// define it, from the offset in force at t.
func clockBlock(t time.Time, loc *time.Location) time.Time {
	_, off := t.In(loc).Zone()
	local := t.Unix() + int64(off)
	return time.Unix(local-((local%1800)+1800)%1800-int64(off), 0).UTC()
}

// TestDemandOfClockBlocks checks max30 against the local clock's 30-minute blocks, found
// from each row's local time rather than from the day's start, over whole local days
// with holes in zones with whole, half- and quarter-hour offsets and across
// daylight-saving changes of an hour and of half an hour.
func TestDemandOfClockBlocks(t *testing.T) {
	for _, c := range []struct{ zone, day string }{
		{"Europe/Berlin", "2026-10-25T12:00:00Z"},
		{"Europe/Berlin", "2026-03-29T12:00:00Z"},
		{"Asia/Kolkata", "2026-03-27T12:00:00Z"},
		{"Asia/Kathmandu", "2026-03-27T12:00:00Z"},
		{"Australia/Lord_Howe", "2026-04-05T02:00:00Z"},
		{"Australia/Lord_Howe", "2026-10-04T02:00:00Z"},
		{"America/St_Johns", "2026-11-01T12:00:00Z"},
	} {
		t.Run(c.zone+" "+c.day[:10], func(t *testing.T) {
			loc := mustLoad(c.zone)
			start, end := localMidnight(ts(c.day), loc), nextMidnight(ts(c.day), loc)
			var rows []row
			for i, q := 0, start; q.Before(end); i, q = i+1, q.Add(Interval) {
				if i%7 != 3 && i%11 != 5 { // holes, some of them a whole block
					rows = append(rows, row{start: q, wh: int64((i*37)%23 + 1)})
				}
			}
			blocks := map[time.Time]int64{}
			for _, r := range rows {
				blocks[clockBlock(r.start, loc)] += r.wh
			}
			want := make([]int64, hoursIn(start, end))
			for b, wh := range blocks {
				if h := int(b.Sub(start) / time.Hour); wh > want[h] {
					want[h] = wh
				}
			}
			if _, max30 := demandOf(start, end, rows); !reflect.DeepEqual(max30, want) {
				t.Errorf("max30 =\n%v\nwant the local clock's blocks\n%v", max30, want)
			}
		})
	}
}
