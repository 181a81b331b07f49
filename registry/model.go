package registry

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
)

// Status is a meter's state: active or retired.
type Status string

// The statuses of a meter.
const (
	StatusActive  Status = "active"
	StatusRetired Status = "retired"
)

// MeterVersion is one version of a meter's registry entry, holding from ValidFrom until
// the next version's ValidFrom.
type MeterVersion struct {
	// MeterID identifies the meter (schema.ValidMeterID).
	MeterID string `json:"meter_id"`
	// ValidFrom is the date (midnight UTC) from which the version holds.
	ValidFrom time.Time `json:"valid_from"`
	// Feeder names the distribution feeder the meter hangs off.
	Feeder string `json:"feeder"`
	// Region names the service region (calendars, weather).
	Region string `json:"region"`
	// TimeZone is the meter's IANA time zone, the zone of its days in VEE and billing.
	TimeZone string `json:"time_zone"`
	// Status is active or retired.
	Status Status `json:"status"`
	// Version orders writes: the write's time in nanoseconds.
	Version uint64 `json:"version"`
	// RecordedAt is when the version was written, to the second.
	RecordedAt time.Time `json:"recorded_at"`
	// Author names who wrote it ("api:…", "cli").
	Author string `json:"author"`
}

// Customer is the personal data of an agreement version, kept in the private database.
type Customer struct {
	// Name is the customer's name.
	Name string `json:"customer_name"`
	// Address is the service address.
	Address string `json:"address"`
	// LifeSupport marks premises with life-support equipment.
	LifeSupport bool `json:"life_support"`
}

// AgreementVersion is one version of a service agreement, holding from ValidFrom until the
// next version's ValidFrom (and only between Start and End).
type AgreementVersion struct {
	// AgreementID identifies the agreement.
	AgreementID string `json:"agreement_id"`
	// AccountID is the customer account.
	AccountID string `json:"account_id"`
	// ServicePointID is where the supply is delivered.
	ServicePointID string `json:"service_point_id"`
	// MeterID is the meter measuring the supply from ValidFrom.
	MeterID string `json:"meter_id"`
	// Tariff is the id of the tariff billed.
	Tariff string `json:"tariff"`
	// CustomerClass is residential, commercial, industrial or another class name.
	CustomerClass string `json:"customer_class"`
	// CycleDay is the day of the month (1-28) each billing period starts on; 0 when
	// CycleCalendar is set.
	CycleDay int `json:"cycle_day"`
	// CycleCalendar names a billing cycle calendar; empty when CycleDay is set.
	CycleCalendar string `json:"cycle_calendar"`
	// Start is the move-in date, the first day supplied.
	Start time.Time `json:"start_date"`
	// End is the move-out date, the last day supplied; zero while the agreement is open.
	End time.Time `json:"end_date"`
	// ValidFrom is the date from which the version holds.
	ValidFrom time.Time `json:"valid_from"`
	// Version orders writes: the write's time in nanoseconds.
	Version uint64 `json:"version"`
	// RecordedAt is when the version was written, to the second.
	RecordedAt time.Time `json:"recorded_at"`
	// Author names who wrote it.
	Author string `json:"author"`
	// Customer is the personal data of the version.
	Customer Customer `json:"customer"`
	// NoticeDate is the date a disconnect notice was given to the customer (the start of
	// the notice period that remote control's notice_period rule waits out); zero when no
	// notice was given. It is kept in the private database beside Customer
	// (agreement_customers), so it reads back zero where the personal data is not read.
	NoticeDate time.Time `json:"notice_date"`
}

// Span is a stretch of days [From, To) over which one agreement version holds.
type Span struct {
	// From is the first day, To the day after the last (midnight UTC).
	From, To time.Time
	// Version is the version in force, with Start and End those of the agreement.
	Version AgreementVersion
}

// Term is an agreement over a range of dates: its spans in date order.
type Term struct {
	// AgreementID identifies the agreement.
	AgreementID string
	// Spans are the agreement's versions in force, one after the other.
	Spans []Span
}

// maxText is the longest customer name or address, in characters.
const maxText = 200

// ParseDate parses v, the value of field, as a date YYYY-MM-DD that ClickHouse's Date holds
// (1970-01-02 to 2105-12-31; 1970-01-01 stands for "none"), returning midnight UTC.
func ParseDate(field, v string) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, fault.Invalid(field, "%q is not a date like 2026-01-01", v)
	}
	if !d.After(time.Unix(0, 0).UTC()) || d.Year() > 2105 {
		return time.Time{}, fault.Invalid(field, "%s is outside 1970-01-02 .. 2105-12-31, the dates the registry holds", v)
	}
	return d, nil
}

// checkID checks an id of the meter id alphabet.
func checkID(field, id string) error {
	if !schema.ValidMeterID([]byte(id)) {
		return fault.Invalid(field, "%q is not an id: want 1-%d characters of A-Z a-z 0-9 . _ : -", id, schema.MeterIDMaxLen)
	}
	return nil
}

// CheckTimeZone returns a fault.FieldError naming field unless tz is a known IANA zone.
func CheckTimeZone(field, tz string) error {
	if tz == "" || tz == "Local" {
		return fault.Invalid(field, "is required: an IANA time zone like Europe/Berlin")
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return fault.Invalid(field, "%q is not a known IANA time zone", tz)
	}
	return nil
}

// Check validates one meter version on its own.
func (m MeterVersion) Check() error {
	if !schema.ValidMeterID([]byte(m.MeterID)) {
		return fault.Invalid("meter_id", "%q is not a meter id: want 1-%d characters of A-Z a-z 0-9 . _ : -", m.MeterID, schema.MeterIDMaxLen)
	}
	if m.ValidFrom.IsZero() {
		return fault.Invalid("valid_from", "is required")
	}
	if err := schema.CheckGroupID("feeder", schema.KindFeeder, m.Feeder); err != nil {
		return err
	}
	if err := schema.CheckRegion("region", m.Region); err != nil {
		return err
	}
	if err := CheckTimeZone("time_zone", m.TimeZone); err != nil {
		return err
	}
	if m.Status != StatusActive && m.Status != StatusRetired {
		return fault.Invalid("status", "%q: want active or retired", m.Status)
	}
	return nil
}

// Check validates one agreement version on its own.
func (a AgreementVersion) Check() error {
	for _, f := range []struct{ name, v string }{
		{"agreement_id", a.AgreementID}, {"account_id", a.AccountID}, {"service_point_id", a.ServicePointID}, {"meter_id", a.MeterID},
	} {
		if err := checkID(f.name, f.v); err != nil {
			return err
		}
	}
	if err := schema.CheckGroupID("tariff", schema.KindTariff, a.Tariff); err != nil {
		return err
	}
	if err := schema.CheckGroupID("customer_class", schema.KindCustomerClass, a.CustomerClass); err != nil {
		return err
	}
	switch {
	case a.CycleCalendar == "" && (a.CycleDay < 1 || a.CycleDay > 28):
		return fault.Invalid("cycle_day", "%d: want a day 1-28 (or a cycle_calendar)", a.CycleDay)
	case a.CycleCalendar != "" && a.CycleDay != 0:
		return fault.Invalid("cycle_day", "give cycle_day or cycle_calendar, not both")
	case a.CycleCalendar != "":
		if err := checkID("cycle_calendar", a.CycleCalendar); err != nil {
			return err
		}
	}
	if a.Start.IsZero() {
		return fault.Invalid("start_date", "is required")
	}
	if !a.End.IsZero() && a.End.Before(a.Start) {
		return fault.Invalid("end_date", "%s is before start_date %s", day(a.End), day(a.Start))
	}
	if a.ValidFrom.IsZero() {
		return fault.Invalid("valid_from", "is required")
	}
	for _, f := range []struct{ name, v string }{{"customer_name", a.Customer.Name}, {"address", a.Customer.Address}} {
		if !utf8.ValidString(f.v) || utf8.RuneCountInString(f.v) > maxText || strings.ContainsAny(f.v, "\r\n") {
			return fault.Invalid(f.name, "want at most %d characters of UTF-8 on one line", maxText)
		}
	}
	return nil
}

// day formats a date.
func day(t time.Time) string { return t.Format(time.DateOnly) }

// sortMeters sorts versions by valid_from, then write order.
func sortMeters(vs []MeterVersion) {
	sort.SliceStable(vs, func(i, j int) bool {
		if !vs[i].ValidFrom.Equal(vs[j].ValidFrom) {
			return vs[i].ValidFrom.Before(vs[j].ValidFrom)
		}
		return vs[i].Version < vs[j].Version
	})
}

// sortAgreements sorts versions by valid_from, then write order.
func sortAgreements(vs []AgreementVersion) {
	sort.SliceStable(vs, func(i, j int) bool {
		if !vs[i].ValidFrom.Equal(vs[j].ValidFrom) {
			return vs[i].ValidFrom.Before(vs[j].ValidFrom)
		}
		return vs[i].Version < vs[j].Version
	})
}

// MeterAt returns the version of one meter's versions in force on date d: the one with the
// latest ValidFrom on or before d (of two with the same ValidFrom, the later write), or,
// when d precedes them all, the earliest. It returns false when vs is empty.
func MeterAt(vs []MeterVersion, d time.Time) (MeterVersion, bool) {
	if len(vs) == 0 {
		return MeterVersion{}, false
	}
	s := append([]MeterVersion(nil), vs...)
	sortMeters(s)
	out := s[0]
	for _, v := range s {
		if !v.ValidFrom.After(d) {
			out = v
		}
	}
	return out, true
}

// CheckMeterHistory checks new versions of one meter against its stored versions: a meter
// is retired once and nothing is written after its retirement (fault.ErrConflict), and a
// retirement is its latest version.
func CheckMeterHistory(stored, added []MeterVersion) error {
	var retired *MeterVersion
	for i := range stored {
		if stored[i].Status == StatusRetired {
			retired = &stored[i]
		}
	}
	if retired != nil && len(added) > 0 {
		return fmt.Errorf("%w: meter %s was retired from %s; a retired meter takes no new version", fault.ErrConflict, retired.MeterID, day(retired.ValidFrom))
	}
	all := append(append([]MeterVersion(nil), stored...), added...)
	sortMeters(all)
	for i, v := range all {
		if v.Status != StatusRetired {
			continue
		}
		if retired != nil {
			return fmt.Errorf("%w: meter %s is retired twice (%s and %s); a meter is retired once", fault.ErrConflict, v.MeterID, day(retired.ValidFrom), day(v.ValidFrom))
		}
		retired = &all[i]
		if i != len(all)-1 {
			return fmt.Errorf("%w: meter %s has a version from %s after its retirement on %s", fault.ErrConflict, v.MeterID, day(all[len(all)-1].ValidFrom), day(v.ValidFrom))
		}
	}
	return nil
}

// Timeline returns the spans of one agreement's versions over the dates [from, to): each
// version holds from its ValidFrom until the next one's (the earliest version from the
// agreement's start), only within the agreement's Start..End (the newest write's dates),
// and of versions with the same ValidFrom the later write holds. A zero to is open.
func Timeline(vs []AgreementVersion, from, to time.Time) []Span {
	if len(vs) == 0 {
		return nil
	}
	s := append([]AgreementVersion(nil), vs...)
	newest := s[0]
	for _, v := range s {
		if v.Version > newest.Version {
			newest = v
		}
	}
	sortAgreements(s)
	// Keep the last write of each valid_from.
	var eff []AgreementVersion
	for i, v := range s {
		if i+1 < len(s) && s[i+1].ValidFrom.Equal(v.ValidFrom) {
			continue
		}
		v.Start, v.End = newest.Start, newest.End
		eff = append(eff, v)
	}
	lo := newest.Start
	if from.After(lo) {
		lo = from
	}
	var hi time.Time // zero: open
	if !newest.End.IsZero() {
		hi = newest.End.AddDate(0, 0, 1)
	}
	if !to.IsZero() && (hi.IsZero() || to.Before(hi)) {
		hi = to
	}
	var out []Span
	for i, v := range eff {
		a := v.ValidFrom
		if i == 0 {
			a = time.Time{}
		}
		var b time.Time
		if i+1 < len(eff) {
			b = eff[i+1].ValidFrom
		}
		if a.Before(lo) {
			a = lo
		}
		if b.IsZero() || (!hi.IsZero() && hi.Before(b)) {
			b = hi
		}
		if b.IsZero() || a.Before(b) {
			out = append(out, Span{From: a, To: b, Version: v})
		}
	}
	return out
}

// At returns the span of spans holding date d, false when none does.
func At(spans []Span, d time.Time) (Span, bool) {
	for _, s := range spans {
		if !d.Before(s.From) && (s.To.IsZero() || d.Before(s.To)) {
			return s, true
		}
	}
	return Span{}, false
}

// CheckOverlap returns a fault.ErrConflict when two of the agreements (id → versions)
// supply through the same meter on the same day.
func CheckOverlap(agreements map[string][]AgreementVersion) error {
	type use struct {
		agreement string
		span      Span
	}
	byMeter := map[string][]use{}
	ids := make([]string, 0, len(agreements))
	for id := range agreements {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, s := range Timeline(agreements[id], time.Time{}, time.Time{}) {
			m := s.Version.MeterID
			for _, u := range byMeter[m] {
				if u.agreement != id && overlaps(u.span, s) {
					from := s.From
					if u.span.From.After(from) {
						from = u.span.From
					}
					return fmt.Errorf("%w: agreements %s and %s both use meter %s on %s", fault.ErrConflict, u.agreement, id, m, day(from))
				}
			}
			byMeter[m] = append(byMeter[m], use{id, s})
		}
	}
	return nil
}

// overlaps reports whether two spans share a day.
func overlaps(a, b Span) bool {
	return (b.To.IsZero() || a.From.Before(b.To)) && (a.To.IsZero() || b.From.Before(a.To))
}

// MarshalJSON writes the version with its date as YYYY-MM-DD.
func (m MeterVersion) MarshalJSON() ([]byte, error) {
	type plain MeterVersion
	return json.Marshal(struct {
		plain
		ValidFrom string `json:"valid_from"`
	}{plain(m), day(m.ValidFrom)})
}

// MarshalJSON writes the version with its dates as YYYY-MM-DD; end_date is "" while the
// agreement is open, notice_date "" without a notice.
func (a AgreementVersion) MarshalJSON() ([]byte, error) {
	type plain AgreementVersion
	return json.Marshal(struct {
		plain
		Start      string `json:"start_date"`
		End        string `json:"end_date"`
		ValidFrom  string `json:"valid_from"`
		NoticeDate string `json:"notice_date"`
	}{plain(a), day(a.Start), optionalDay(a.End), day(a.ValidFrom), optionalDay(a.NoticeDate)})
}

// optionalDay formats a date, "" for zero.
func optionalDay(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return day(t)
}
