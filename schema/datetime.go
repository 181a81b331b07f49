package schema

import "time"

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
