package holidays

import (
	"fmt"
	"time"

	"github.com/meterhouse/meterhouse/fault"
)

// DayKind is what kind of day a date is in a region.
type DayKind string

// The kinds of day.
const (
	// Working is a working day: Monday to Friday without an entry, or with a working entry.
	Working DayKind = "working"
	// Weekend is a Saturday or Sunday without an entry.
	Weekend DayKind = "weekend"
	// Holiday is a public holiday.
	Holiday DayKind = "holiday"
	// Special is a day that is officially worked but is not an ordinary working day: a
	// bridge day between a holiday and a weekend, Christmas Eve. IsWorking counts it as
	// working; a load model gives it a term of its own.
	Special DayKind = "special"
	// SubstitutedWorking is a Saturday or Sunday that is a working day, in exchange for a
	// holiday (China's 调休).
	SubstitutedWorking DayKind = "substituted_working"
)

// Kinds returns every kind of day, in a fixed order: the levels of a day-type term of a
// load model (hour of day × day type).
func Kinds() []DayKind {
	return []DayKind{Working, Weekend, Holiday, Special, SubstitutedWorking}
}

// EntryKind is the kind of an entry of the calendar file: what a date is declared to be.
type EntryKind string

// The kinds of entry.
const (
	// EntryHoliday declares a public holiday.
	EntryHoliday EntryKind = "holiday"
	// EntrySpecial declares a special day (Special).
	EntrySpecial EntryKind = "special"
	// EntryWorking declares a working day: on a Saturday or Sunday a substituted working
	// day; on a weekday it cancels an earlier entry of the date.
	EntryWorking EntryKind = "working"
)

// ParseEntryKind returns the entry kind named s, or a fault.FieldError naming field.
func ParseEntryKind(field, s string) (EntryKind, error) {
	switch k := EntryKind(s); k {
	case EntryHoliday, EntrySpecial, EntryWorking:
		return k, nil
	}
	return "", fault.Invalid(field, "%q is not a kind of day: want holiday, special or working", s)
}

// Entry is one date of a region's calendar.
type Entry struct {
	// Region is the meter registry's region the entry belongs to.
	Region string `json:"region"`
	// Date is the calendar date, as midnight UTC.
	Date time.Time `json:"date"`
	// Kind says what the date is.
	Kind EntryKind `json:"kind"`
	// Name names the holiday or special day; it may be empty.
	Name string `json:"name"`
}

// dateKey returns the calendar date t shows in its own location, as midnight UTC.
func dateKey(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Days is a region's calendar over a range of dates, in memory: what a forecast asks of
// every hour it models. It is safe for concurrent reads.
type Days struct {
	region   string
	from, to time.Time // dates covered: [from, to), midnight UTC
	entries  map[time.Time]Entry
}

// NewDays returns the calendar of region over the dates [from, to) (their calendar dates
// in their own locations) with the given entries; entries of another region or outside the
// range are an error, and so are two entries for one date.
func NewDays(region string, from, to time.Time, entries []Entry) (*Days, error) {
	d := &Days{region: region, from: dateKey(from), to: dateKey(to), entries: make(map[time.Time]Entry, len(entries))}
	if !d.from.Before(d.to) {
		return nil, fault.Invalid("to", "%s is not after from %s", d.to.Format(time.DateOnly), d.from.Format(time.DateOnly))
	}
	for _, e := range entries {
		k := dateKey(e.Date)
		if e.Region != region {
			return nil, fmt.Errorf("holidays: entry %s of region %q in the calendar of %q", k.Format(time.DateOnly), e.Region, region)
		}
		if k.Before(d.from) || !k.Before(d.to) {
			return nil, fmt.Errorf("holidays: entry %s outside the range %s..%s", k.Format(time.DateOnly), d.from.Format(time.DateOnly), d.to.Format(time.DateOnly))
		}
		if _, dup := d.entries[k]; dup {
			return nil, fmt.Errorf("holidays: two entries for %s", k.Format(time.DateOnly))
		}
		e.Date = k
		d.entries[k] = e
	}
	return d, nil
}

// Region returns the region of the calendar.
func (d *Days) Region() string { return d.region }

// Covers reports whether date (its calendar date in its own location) lies in the range
// the calendar was loaded for. Outside it, Kind knows only weekends.
func (d *Days) Covers(date time.Time) bool {
	k := dateKey(date)
	return !k.Before(d.from) && k.Before(d.to)
}

// Kind returns the kind of the calendar date that date shows in its own location: pass a
// time in the meter's or group's zone (t.In(loc)) to get the kind of its local day.
func (d *Days) Kind(date time.Time) DayKind {
	k := dateKey(date)
	weekend := k.Weekday() == time.Saturday || k.Weekday() == time.Sunday
	e, ok := d.entries[k]
	switch {
	case !ok && weekend:
		return Weekend
	case !ok:
		return Working
	case e.Kind == EntryHoliday:
		return Holiday
	case e.Kind == EntrySpecial:
		return Special
	case weekend: // EntryWorking on a Saturday or Sunday
		return SubstitutedWorking
	}
	return Working
}

// IsWorking reports whether date is worked: a working day, a substituted working day or a
// special day.
func (d *Days) IsWorking(date time.Time) bool {
	switch d.Kind(date) {
	case Working, SubstitutedWorking, Special:
		return true
	}
	return false
}

// Name returns the name of date's entry, empty when it has none.
func (d *Days) Name(date time.Time) string { return d.entries[dateKey(date)].Name }
