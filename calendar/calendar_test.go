package calendar

import (
	"testing"
	"time"
)

func load(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return loc
}

// TestDateStart checks the first instant and the length of days around daylight-saving
// changes, at midnight and elsewhere, in whole and fractional hours.
func TestDateStart(t *testing.T) {
	cases := []struct {
		zone   string
		date   string
		start  string // UTC
		local  string // the wall clock at the start
		length time.Duration
	}{
		{"America/Sao_Paulo", "2018-11-03", "2018-11-03T03:00:00Z", "00:00", 24 * time.Hour},
		{"America/Sao_Paulo", "2018-11-04", "2018-11-04T03:00:00Z", "01:00", 23 * time.Hour}, // DST begins at midnight
		{"America/Sao_Paulo", "2018-11-05", "2018-11-05T02:00:00Z", "00:00", 24 * time.Hour},
		{"America/Sao_Paulo", "2019-02-16", "2019-02-16T02:00:00Z", "00:00", 25 * time.Hour}, // falls back at the next midnight
		{"America/Sao_Paulo", "2019-02-17", "2019-02-17T03:00:00Z", "00:00", 24 * time.Hour},
		{"Europe/Berlin", "2019-03-31", "2019-03-30T23:00:00Z", "00:00", 23 * time.Hour},
		{"Europe/Berlin", "2019-10-27", "2019-10-26T22:00:00Z", "00:00", 25 * time.Hour},
		{"America/Havana", "2019-03-10", "2019-03-10T05:00:00Z", "01:00", 23 * time.Hour}, // DST begins at midnight
		{"America/Havana", "2019-11-03", "2019-11-03T04:00:00Z", "00:00", 25 * time.Hour}, // 01:00 back to 00:00: the first midnight
		{"Asia/Tehran", "2019-03-22", "2019-03-21T20:30:00Z", "01:00", 23 * time.Hour},
		{"Asia/Tehran", "2019-09-21", "2019-09-20T19:30:00Z", "00:00", 25 * time.Hour},
		{"Australia/Lord_Howe", "2019-04-07", "2019-04-06T13:00:00Z", "00:00", 24*time.Hour + 30*time.Minute},
		{"Australia/Lord_Howe", "2019-10-06", "2019-10-05T13:30:00Z", "00:00", 23*time.Hour + 30*time.Minute},
		{"Pacific/Apia", "2011-12-29", "2011-12-29T10:00:00Z", "00:00", 24 * time.Hour},
		{"Pacific/Apia", "2011-12-30", "2011-12-30T10:00:00Z", "00:00", 0}, // skipped: no length
		{"UTC", "2018-11-04", "2018-11-04T00:00:00Z", "00:00", 24 * time.Hour},
	}
	for _, c := range cases {
		t.Run(c.zone+"/"+c.date, func(t *testing.T) {
			loc := load(t, c.zone)
			d, err := time.Parse(time.DateOnly, c.date)
			if err != nil {
				t.Fatal(err)
			}
			got := DateStart(d.Year(), d.Month(), d.Day(), loc)
			if got.Format(time.RFC3339) != c.start {
				t.Fatalf("DateStart = %s (%s local), want %s", got.Format(time.RFC3339), got.In(loc), c.start)
			}
			if c.length > 0 {
				if l := got.In(loc).Format("15:04"); l != c.local {
					t.Errorf("local start %s, want %s", l, c.local)
				}
				if DayStart(got, loc) != got || DayStart(got.Add(c.length-time.Second), loc) != got {
					t.Errorf("DayStart does not map the day [%s, +%s) to its start", got, c.length)
				}
			}
			next := DateStart(d.Year(), d.Month(), d.Day()+1, loc)
			if l := next.Sub(got); l != c.length {
				t.Errorf("day length %s, want %s", l, c.length)
			}
			if c.length > 0 {
				if n := NextDay(got, loc); n != next {
					t.Errorf("NextDay = %s, want %s", n, next)
				}
			}
		})
	}
}

// TestWalkDays walks every local day of several years in zones with odd transitions and
// checks that each day starts at the first instant of its date and that the walk always
// moves forward.
func TestWalkDays(t *testing.T) {
	for _, zone := range []string{"America/Sao_Paulo", "America/Havana", "Asia/Tehran", "Australia/Lord_Howe",
		"Europe/Berlin", "Pacific/Apia", "America/Santiago", "Asia/Gaza", "UTC"} {
		loc := load(t, zone)
		from := DateStart(2010, 1, 1, loc)
		end := DateStart(2021, 1, 1, loc)
		n := 0
		for d := from; d.Before(end); n++ {
			next := NextDay(d, loc)
			if !next.After(d) {
				t.Fatalf("%s: NextDay(%s) = %s does not move forward", zone, d, next)
			}
			if next.Sub(d) < 22*time.Hour || next.Sub(d) > 50*time.Hour {
				t.Fatalf("%s: day %s lasts %s", zone, d.In(loc), next.Sub(d))
			}
			if y, m, dd := d.In(loc).Date(); DateStart(y, m, dd, loc) != d {
				t.Fatalf("%s: %s is not the start of its date", zone, d.In(loc))
			}
			if prev := d.Add(-time.Second).In(loc); civil(prev, loc).Equal(civil(d, loc)) {
				t.Fatalf("%s: %s shows the date of the day starting at %s", zone, prev, d.In(loc))
			}
			d = next
		}
		if n < 4017 || n > 4018 {
			t.Errorf("%s: %d days in 2010-2020, want 4018 (4017 where a day was skipped)", zone, n)
		}
	}
}

// TestMonths checks month starts where the first of the month begins at 01:00.
func TestMonths(t *testing.T) {
	sp := load(t, "America/Sao_Paulo")
	in := time.Date(2018, 11, 20, 12, 0, 0, 0, time.UTC)
	if got, want := MonthStart(in, sp), time.Date(2018, 11, 1, 3, 0, 0, 0, time.UTC); got != want {
		t.Errorf("MonthStart = %s, want %s", got, want)
	}
	if got, want := NextMonth(in, sp), time.Date(2018, 12, 1, 2, 0, 0, 0, time.UTC); got != want {
		t.Errorf("NextMonth = %s, want %s", got, want)
	}
	// Havana's DST began at 00:00 on 2012-04-01: that month starts at 01:00.
	hav := load(t, "America/Havana")
	got := MonthStart(time.Date(2012, 4, 15, 0, 0, 0, 0, time.UTC), hav)
	if l := got.In(hav); l.Day() != 1 || l.Month() != 4 || l.Hour() != 1 {
		t.Errorf("Havana April 2012 starts at %s, want 2012-04-01 01:00 local", l)
	}
	if got, want := NextMonth(time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), nil), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC); got != want {
		t.Errorf("NextMonth in UTC = %s, want %s", got, want)
	}
}
