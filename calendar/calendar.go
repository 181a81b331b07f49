// Package calendar finds the local days and months of an IANA time zone: the one
// implementation that the query paths, the VEE job and (later) billing walk days and
// months with.
//
// A local day starts at the first instant whose wall clock shows its date, which is not
// always midnight: where daylight saving begins at 00:00 (America/Sao_Paulo until 2019,
// America/Havana, Asia/Tehran until 2022) the day starts at 01:00 and lasts 23 hours, and
// where the clock falls back at midnight the day before lasts 25 hours. time.Date does not
// give that instant for a midnight that does not exist (for Sao Paulo's 2018-11-04 it
// returns 23:00 of the day before), so the functions here correct it, and they step by
// calendar dates, never by adding 24 hours.
package calendar

import "time"

// DateStart returns the first instant, in UTC, of the calendar date y-m-d (normalised as
// time.Date does, so d may be 0 or 32) in loc; nil loc means UTC. For a date the zone
// skipped entirely (Pacific/Apia's 2011-12-30) it returns the start of the following
// day, so that the skipped day has no length.
func DateStart(y int, m time.Month, d int, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	want := time.Date(y, m, d, 0, 0, 0, 0, time.UTC) // the civil date, normalised
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	// A midnight in a gap can come out before the date: the day then starts where the
	// zone in effect at t ends. Each step crosses one transition; zones have few per day.
	for range 4 {
		if !civil(t, loc).Before(want) {
			break
		}
		_, end := t.ZoneBounds()
		if end.IsZero() {
			break
		}
		t = end
	}
	// A midnight that occurs twice (the clock falls back to 00:00) starts the day at its
	// first occurrence: under the zone before t's, if that zone still shows the date.
	if start, _ := t.ZoneBounds(); !start.IsZero() && start.After(t.Add(-48*time.Hour)) {
		before := start.Add(-time.Second).In(loc)
		_, off := before.Zone()
		if first := want.Add(-time.Duration(off) * time.Second); first.Before(start) && civil(first, loc).Equal(want) {
			t = first
		}
	}
	return t.UTC()
}

// civil returns the calendar date t shows in loc, as midnight UTC of that date.
func civil(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// DayStart returns the start (UTC) of the local day of loc containing t.
func DayStart(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := t.In(loc).Date()
	return DateStart(y, m, d, loc)
}

// NextDay returns the start (UTC) of the local day after the one containing t, which is
// the end of t's day.
func NextDay(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := t.In(loc).Date()
	return DateStart(y, m, d+1, loc)
}

// MonthStart returns the start (UTC) of the local month of loc containing t.
func MonthStart(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	y, m, _ := t.In(loc).Date()
	return DateStart(y, m, 1, loc)
}

// NextMonth returns the start (UTC) of the local month after the one containing t.
func NextMonth(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	y, m, _ := t.In(loc).Date()
	return DateStart(y, m+1, 1, loc)
}
