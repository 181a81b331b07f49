package schema

import (
	"time"

	"github.com/meterhouse/meterhouse/fault"
)

// MinDateTime is the earliest instant a ClickHouse DateTime column holds.
var MinDateTime = time.Unix(0, 0).UTC()

// MaxDateTime is the latest instant a ClickHouse DateTime column holds.
var MaxDateTime = time.Unix(1<<32-1, 0).UTC()

// LatestTime is the latest instant Meterhouse accepts anywhere (readings, edits, query
// ranges, job ranges): MaxDateTime, but no later than 2105-12-31T23:59:59Z, where
// ClickHouse 18.16's date tables end. 18.16 stores later DateTime values but parses and
// prints them wrongly (toDateTime('2106-01-15 00:00:00', 'UTC') is 1970-01-01 00:00:00),
// so a query parameter past it, which the driver binds as text, would silently match
// nothing, and a reading stored past it could never be read back by time.
var LatestTime = time.Date(2105, 12, 31, 23, 59, 59, 0, time.UTC)

// CheckTime returns an fault.FieldError naming field when t lies outside what the store
// holds, MinDateTime to LatestTime: ClickHouse would store or compare such a time
// wrapped around, silently.
func CheckTime(field string, t time.Time) error {
	switch {
	case t.Before(MinDateTime):
		return fault.Invalid(field, "%s is before %s, the earliest time the store holds",
			t.UTC().Format(time.RFC3339Nano), MinDateTime.Format(time.RFC3339))
	case t.After(LatestTime):
		return fault.Invalid(field, "%s is after %s, the latest time the store holds",
			t.UTC().Format(time.RFC3339Nano), LatestTime.Format(time.RFC3339))
	}
	return nil
}

// ParseTime parses v, the value of field, as RFC 3339 and checks it with CheckTime. Every
// time a client gives the API goes through it.
func ParseTime(field, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fault.Invalid(field, "%q is not an RFC 3339 time like 2026-01-01T00:00:00Z", v)
	}
	if err := CheckTime(field, t); err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// CheckRounded refuses a range whose rounding (how: "rounded down to …") left what the
// store holds, naming the field whose bound moved out.
func CheckRounded(field string, given, rounded time.Time, how string) error {
	if CheckTime(field, rounded) == nil {
		return nil
	}
	limit := "after " + LatestTime.Format(time.RFC3339) + ", the latest"
	if rounded.Before(MinDateTime) {
		limit = "before " + MinDateTime.Format(time.RFC3339) + ", the earliest"
	}
	return fault.Invalid(field, "%s %s is %s, %s time the store holds", given.UTC().Format(time.RFC3339), how,
		rounded.Format(time.RFC3339), limit)
}
