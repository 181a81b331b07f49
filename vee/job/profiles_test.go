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
	date := func(s string) time.Time { return ts(s + "T00:00:00Z") }
	w23, c23 := filled(23, 4, 4)
	w25, c25 := filled(25, 8, 4)
	// 2026-10-26 (24 h) with data over its first 5 h 15 min.
	wPart, cPart := filled(24, 0, 0)
	for h := range 5 {
		wPart[h], cPart[h] = 12, 4
	}
	wPart[5], cPart[5] = 3, 1
	// A day with a hole of one quarter hour and one hour.
	wHole, cHole := filled(24, 4, 4)
	wHole[0], cHole[0] = 3, 3
	wHole[2], cHole[2] = 0, 0
	hole := append(quarters("2026-03-26T23:15:00Z", 7, 1), quarters("2026-03-27T02:00:00Z", 84, 1)...)

	tests := []struct {
		name     string
		from, to string
		rows     []row
		want     []profile
	}{
		{"spring forward: 23 hours",
			"2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z", quarters("2026-03-28T23:00:00Z", 92, 1),
			[]profile{{day: date("2026-03-29"), meter: "m", zone: "Europe/Berlin", start: ts("2026-03-28T23:00:00Z"), wh: w23, intervals: c23}}},
		{"fall back: 25 hours, rows outside ignored",
			"2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z",
			append(append(quarters("2026-10-24T21:00:00Z", 4, 100), quarters("2026-10-24T22:00:00Z", 100, 2)...), quarters("2026-10-25T23:00:00Z", 4, 100)...),
			[]profile{{day: date("2026-10-25"), meter: "m", zone: "Europe/Berlin", start: ts("2026-10-24T22:00:00Z"), wh: w25, intervals: c25}}},
		{"two days, the second partly covered; a day without rows has no profile",
			"2026-10-24T22:00:00Z", "2026-10-27T23:00:00Z",
			append(quarters("2026-10-24T22:00:00Z", 100, 2), quarters("2026-10-25T23:00:00Z", 21, 3)...),
			[]profile{
				{day: date("2026-10-25"), meter: "m", zone: "Europe/Berlin", start: ts("2026-10-24T22:00:00Z"), wh: w25, intervals: c25},
				{day: date("2026-10-26"), meter: "m", zone: "Europe/Berlin", start: ts("2026-10-25T23:00:00Z"), wh: wPart, intervals: cPart},
			}},
		{"holes count 0 to 3 intervals",
			"2026-03-26T23:00:00Z", "2026-03-27T23:00:00Z", hole,
			[]profile{{day: date("2026-03-27"), meter: "m", zone: "Europe/Berlin", start: ts("2026-03-26T23:00:00Z"), wh: wHole, intervals: cHole}}},
		{"no rows", "2026-03-26T23:00:00Z", "2026-03-27T23:00:00Z", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dayProfiles("m", berlin, ts(tt.from), ts(tt.to), tt.rows)
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
