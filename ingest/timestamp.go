package ingest

import (
	"errors"
	"time"
)

var errTimestamp = errors.New("want RFC 3339 like 2026-01-01T00:15:00Z, to the second")

// parseTimestamp reads an RFC 3339 timestamp (YYYY-MM-DDTHH:MM:SS, optional fraction,
// then Z or ±HH:MM) and returns it in UTC. A fraction other than zero is refused because
// the readings table keeps whole seconds and truncating could merge two readings. Unlike
// time.Parse it works on bytes and allocates nothing.
func parseTimestamp(b []byte) (time.Time, error) {
	if len(b) < 20 {
		return time.Time{}, errTimestamp
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || b[4] != '-' || b[7] != '-' ||
		(b[10] != 'T' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, errTimestamp
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, errors.New("date or time out of range")
	}
	rest := b[19:]
	if rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			if rest[i] != '0' {
				return time.Time{}, errors.New("sub-second timestamps are not accepted")
			}
			i++
		}
		if i == 1 {
			return time.Time{}, errTimestamp
		}
		rest = rest[i:]
	}
	var offset int
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, errTimestamp
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, errTimestamp
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	if offset != 0 {
		t = t.Add(-time.Duration(offset) * time.Second)
	}
	return t, nil
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
