package tariff

import (
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"
)

// Document is one version of a tariff: what a file or a PUT body holds. Field names are
// the same in YAML and JSON. A tariff's versions share ID and differ in EffectiveFrom; the
// version in force on a date is the one with the latest EffectiveFrom on or before it,
// unless its EffectiveTo has passed.
type Document struct {
	// ID names the tariff: 1-64 characters of A-Z a-z 0-9 . _ : - (the agreement's tariff).
	ID string `yaml:"id" json:"id"`
	// Name is a human-readable name.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Version is an optional label of this version ("2026-01", a docket number).
	Version string `yaml:"version,omitempty" json:"version,omitempty"`
	// EffectiveFrom is the first local date this version is in force.
	EffectiveFrom Date `yaml:"effective_from" json:"effective_from"`
	// EffectiveTo, when set, is the first local date it is no longer in force (exclusive).
	EffectiveTo *Date `yaml:"effective_to,omitempty" json:"effective_to,omitempty"`
	// TimeZone is the IANA zone in which hours, days, seasons and dates are read.
	TimeZone string `yaml:"time_zone" json:"time_zone"`
	// Currency is the ISO 4217 code of every amount (one of Currencies).
	Currency string `yaml:"currency" json:"currency"`
	// Rounding says how amounts are rounded; the zero value is half_up per line to the
	// currency's minor unit.
	Rounding Rounding `yaml:"rounding,omitempty" json:"rounding,omitzero"`
	// CycleSplit says how a billing period that is not a calendar month, or crosses a
	// season boundary, splits monthly tier thresholds and seasonal rates: "days" (the
	// default and only rule: each part gets its share of the days).
	CycleSplit string `yaml:"cycle_split,omitempty" json:"cycle_split,omitempty"`
	// Seasons partition the year; none means one season, all year, named "all".
	Seasons []Season `yaml:"seasons,omitempty" json:"seasons,omitempty"`
	// FixedCharges are charged per billing period or per day.
	FixedCharges []FixedCharge `yaml:"fixed_charges,omitempty" json:"fixed_charges,omitempty"`
	// MinimumBill is a floor on the period's energy + demand + fixed charges.
	MinimumBill *MinimumBill `yaml:"minimum_bill,omitempty" json:"minimum_bill,omitempty"`
	// Energy is the charge on imported kWh.
	Energy *Energy `yaml:"energy,omitempty" json:"energy,omitempty"`
	// Baseline is a credit on kWh up to a daily allowance by season and territory.
	Baseline *Baseline `yaml:"baseline,omitempty" json:"baseline,omitempty"`
	// Demand charges the maximum average power over the demand interval.
	Demand *Demand `yaml:"demand,omitempty" json:"demand,omitempty"`
	// Taxes are percentages of named lines, applied in order.
	Taxes []Tax `yaml:"taxes,omitempty" json:"taxes,omitempty"`
	// Export is how exported energy (net metering) is treated: validated, not yet billed.
	Export *Export `yaml:"export,omitempty" json:"export,omitempty"`
	// Source says where the document came from (a URDB import); informative only.
	Source *Source `yaml:"source,omitempty" json:"source,omitempty"`
}

// Rounding says how amounts are rounded to money.
type Rounding struct {
	// Mode is half_up (the default), half_even, down (towards zero) or up (away from zero).
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`
	// Per is line (the default: every line is rounded, the total is their sum) or total
	// (lines keep IntermediatePlaces, only the total is rounded).
	Per string `yaml:"per,omitempty" json:"per,omitempty"`
	// Places is the number of decimal places; nil means the currency's minor unit.
	Places *int `yaml:"places,omitempty" json:"places,omitempty"`
}

// IntermediatePlaces is the fixed precision of intermediate quantities (a period's share
// of a tier under proportional allocation, a prorated threshold): they are rounded half-up
// to this many decimal places before they are priced.
const IntermediatePlaces = 10

// Season is a range of local dates of every year, From to To inclusive, as MM-DD; a range
// may wrap the year's end (from 10-01 to 05-31). 02-29 counts only in leap years.
type Season struct {
	// Name is how TOU hours and baseline allowances refer to the season.
	Name string `yaml:"name" json:"name"`
	// From is the first date, MM-DD.
	From string `yaml:"from" json:"from"`
	// To is the last date, MM-DD.
	To string `yaml:"to" json:"to"`
}

// Per says what a fixed amount is charged for.
const (
	// PerPeriod charges once per billing period (split by CycleSplit in partial periods).
	PerPeriod = "period"
	// PerDay charges every day of the period.
	PerDay = "day"
)

// FixedCharge is an amount per billing period or per day.
type FixedCharge struct {
	// Name is the line's name; taxes may refer to it.
	Name string `yaml:"name" json:"name"`
	// Amount is the charge, never negative.
	Amount Dec `yaml:"amount" json:"amount"`
	// Per is period or day.
	Per string `yaml:"per" json:"per"`
}

// MinimumBill is a floor on the bill of a period: when energy + demand + fixed charges
// come to less, a line brings them up to it (taxes apply after).
type MinimumBill struct {
	// Amount is the floor, never negative.
	Amount Dec `yaml:"amount" json:"amount"`
	// Per is period or day (the floor is Amount times the period's days).
	Per string `yaml:"per" json:"per"`
}

// Tier basis: what a tier's threshold counts.
const (
	// BasisPeriod thresholds count kWh (or kW) in the billing period.
	BasisPeriod = "billing_period"
	// BasisAnnual thresholds count kWh cumulated since the year's start (阶梯电价).
	BasisAnnual = "annual"
)

// Tier allocation: how tier thresholds meet TOU periods.
const (
	// Proportional splits each period's kWh over the tiers in proportion to its share of
	// the total (the URDB's reading).
	Proportional = "proportional"
	// Chronological fills the tiers with the intervals in time order.
	Chronological = "chronological"
)

// Energy is the charge on imported energy, in kWh. Exactly one of Rate, Tiers and TOU is
// given.
type Energy struct {
	// Rate is a flat price per kWh.
	Rate *Dec `yaml:"rate,omitempty" json:"rate,omitempty"`
	// Adjustment is added to Rate (a rider, a fuel adjustment); it may be negative.
	Adjustment *Dec `yaml:"adjustment,omitempty" json:"adjustment,omitempty"`
	// Tiers are blocks of kWh at increasing thresholds.
	Tiers []Tier `yaml:"tiers,omitempty" json:"tiers,omitempty"`
	// TOU prices each hour by its period.
	TOU *TOU `yaml:"tou,omitempty" json:"tou,omitempty"`
	// TierBasis is billing_period (the default) or annual.
	TierBasis string `yaml:"tier_basis,omitempty" json:"tier_basis,omitempty"`
	// YearStart is the MM-DD an annual basis restarts on; 01-01 when empty.
	YearStart string `yaml:"year_start,omitempty" json:"year_start,omitempty"`
	// TierAllocation is proportional (the default) or chronological; it matters when TOU
	// periods have tiers.
	TierAllocation string `yaml:"tier_allocation,omitempty" json:"tier_allocation,omitempty"`
}

// Tier is one block: the kWh (or kW) above the previous tier's UpTo up to its own.
type Tier struct {
	// UpTo is the tier's upper threshold, cumulative over the basis; nil on the last tier.
	UpTo *Dec `yaml:"up_to,omitempty" json:"up_to,omitempty"`
	// Rate is the price per unit, never negative.
	Rate Dec `yaml:"rate" json:"rate"`
	// Adjustment is added to Rate; it may be negative.
	Adjustment *Dec `yaml:"adjustment,omitempty" json:"adjustment,omitempty"`
}

// Holidays: how the calendar's holidays are priced in a TOU schedule.
const (
	// HolidaysAsWeekend prices holidays with the weekend's hours (the default).
	HolidaysAsWeekend = "as_weekend"
	// HolidaysOwn gives holidays hours of their own, which then must all be assigned.
	HolidaysOwn = "own"
)

// Day types of a TOU schedule.
const (
	Weekday = "weekday"
	Weekend = "weekend"
	Holiday = "holiday"
)

// TOU is a time-of-use schedule: every hour of every day type of every season belongs to
// exactly one period.
type TOU struct {
	// Holidays is as_weekend (the default) or own.
	Holidays string `yaml:"holidays,omitempty" json:"holidays,omitempty"`
	// Periods are the named periods (peak, flat, valley, critical_peak, ...).
	Periods []Period `yaml:"periods" json:"periods"`
}

// Period is a TOU period with its price and its hours. Exactly one of Rate and Tiers is
// given.
type Period struct {
	// Name is the period's name, unique in the schedule.
	Name string `yaml:"name" json:"name"`
	// Rate is a price per unit, never negative.
	Rate *Dec `yaml:"rate,omitempty" json:"rate,omitempty"`
	// Adjustment is added to Rate; it may be negative.
	Adjustment *Dec `yaml:"adjustment,omitempty" json:"adjustment,omitempty"`
	// Tiers are the period's blocks (thresholds count the whole, see Energy.TierAllocation).
	Tiers []Tier `yaml:"tiers,omitempty" json:"tiers,omitempty"`
	// Hours say when the period applies.
	Hours []Hours `yaml:"hours" json:"hours"`
}

// Hours is a set of local hours of some day types in some seasons.
type Hours struct {
	// Seasons lists season names; empty means every season.
	Seasons []string `yaml:"seasons,omitempty" json:"seasons,omitempty"`
	// DayTypes lists weekday, weekend, holiday; empty means every day type.
	DayTypes []string `yaml:"day_types,omitempty" json:"day_types,omitempty"`
	// Ranges are hour ranges "H-H" of the local clock, start inclusive, end exclusive
	// ("7-11", "22-24", "0-24"); a range may not wrap midnight (write "22-24" and "0-6").
	Ranges []string `yaml:"ranges" json:"ranges"`
}

// Baseline is a credit per kWh on consumption up to an allowance per day.
type Baseline struct {
	// CreditRate is the credit per kWh within the allowance, never negative.
	CreditRate Dec `yaml:"credit_rate" json:"credit_rate"`
	// Allowances give the kWh per day by territory and season.
	Allowances []Allowance `yaml:"allowances" json:"allowances"`
}

// Allowance is the daily baseline allowance of a territory in a season.
type Allowance struct {
	// Territory is the baseline territory (the agreement says which); empty: the only one.
	Territory string `yaml:"territory,omitempty" json:"territory,omitempty"`
	// Season is a season's name.
	Season string `yaml:"season" json:"season"`
	// KWhPerDay is the allowance, never negative.
	KWhPerDay Dec `yaml:"kwh_per_day" json:"kwh_per_day"`
}

// Demand charges the period's maximum average power, in kW, over Interval (or over the
// data's own interval when it is coarser).
type Demand struct {
	// Interval is 15m (the default) or 30m.
	Interval string `yaml:"interval,omitempty" json:"interval,omitempty"`
	// Flat charges the maximum of the whole period, by month.
	Flat []FlatDemand `yaml:"flat,omitempty" json:"flat,omitempty"`
	// TOU charges the maximum within each TOU period.
	TOU *TOU `yaml:"tou,omitempty" json:"tou,omitempty"`
	// Ratchet, when set, bills at least a share of the highest demand of previous months.
	Ratchet *Ratchet `yaml:"ratchet,omitempty" json:"ratchet,omitempty"`
}

// FlatDemand is a demand charge on the whole period's maximum in some months. Exactly one
// of Rate and Tiers is given.
type FlatDemand struct {
	// Name is the line's name.
	Name string `yaml:"name" json:"name"`
	// Months are the months (1-12) it applies in; a month is in at most one FlatDemand.
	Months []int `yaml:"months" json:"months"`
	// Rate is a price per kW, never negative.
	Rate *Dec `yaml:"rate,omitempty" json:"rate,omitempty"`
	// Adjustment is added to Rate; it may be negative.
	Adjustment *Dec `yaml:"adjustment,omitempty" json:"adjustment,omitempty"`
	// Tiers are blocks of kW.
	Tiers []Tier `yaml:"tiers,omitempty" json:"tiers,omitempty"`
}

// Ratchet bills demand at no less than Share of the highest demand of the previous Months
// months (of CountedMonths only, when given).
type Ratchet struct {
	// Share is a fraction, 0 < share <= 1.
	Share Dec `yaml:"share" json:"share"`
	// Months is how many previous months count, 1-36.
	Months int `yaml:"months" json:"months"`
	// CountedMonths, when given, are the calendar months (1-12) whose demand counts.
	CountedMonths []int `yaml:"counted_months,omitempty" json:"counted_months,omitempty"`
}

// Tax is a percentage of named lines.
type Tax struct {
	// Name is the line's name; later taxes may refer to it.
	Name string `yaml:"name" json:"name"`
	// Percent is the rate in percent ("13" is 13 %), never negative.
	Percent Dec `yaml:"percent" json:"percent"`
	// Of names the lines it is a percentage of: energy, demand, fixed (every fixed
	// charge), baseline, minimum_bill, a fixed charge's name, or an earlier tax's name.
	Of []string `yaml:"of" json:"of"`
}

// Export modes.
const (
	// ExportNet nets export against import per interval: only the net import is billed.
	ExportNet = "net_per_interval"
	// ExportCredit credits exported kWh at Rate, or by TOU period.
	ExportCredit = "credit"
)

// Export is how exported energy is treated, for the export channels a later version of
// the readings adds. It is validated now and not yet billed; it grows (new optional
// fields, new modes) without a new format version.
type Export struct {
	// Mode is net_per_interval or credit.
	Mode string `yaml:"mode" json:"mode"`
	// Rate is the credit per exported kWh with mode credit (or TOU), never negative.
	Rate *Dec `yaml:"rate,omitempty" json:"rate,omitempty"`
	// TOU prices exported kWh by period with mode credit.
	TOU *TOU `yaml:"tou,omitempty" json:"tou,omitempty"`
}

// Source says where a document came from.
type Source struct {
	// Kind is "urdb" for an import.
	Kind string `yaml:"kind" json:"kind"`
	// Reference is the source's own id (the URDB label).
	Reference string `yaml:"reference,omitempty" json:"reference,omitempty"`
	// Utility is the utility's name.
	Utility string `yaml:"utility,omitempty" json:"utility,omitempty"`
}

// Dec is a decimal read from a document's literal text (a YAML or JSON number, or a
// string holding one), never through float64. It embeds decimal.Decimal, whose
// arithmetic it offers; JSON and YAML write it as a plain number of its exact text.
type Dec struct{ decimal.Decimal }

// D returns the Dec of s; it panics on a malformed s and is meant for constants in code
// and tests.
func D(s string) Dec { return Dec{decimal.RequireFromString(s)} }

// DP returns a pointer to the Dec of s, as D.
func DP(s string) *Dec { d := D(s); return &d }

// UnmarshalYAML reads the node's literal text.
func (d *Dec) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDec(n)
	if err != nil {
		return err
	}
	d.Decimal = v
	return nil
}

// MarshalJSON writes the decimal as a JSON number of its exact text (a reader that needs
// exactness reads it as text, like encoding/json's Number).
func (d Dec) MarshalJSON() ([]byte, error) { return []byte(d.String()), nil }

func parseDec(n *yaml.Node) (decimal.Decimal, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Tag == "!!bool" {
		return decimal.Decimal{}, fmt.Errorf("want a decimal number")
	}
	s := strings.TrimSpace(n.Value)
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+') {
			return decimal.Decimal{}, fmt.Errorf("%q is not a decimal number", n.Value)
		}
	}
	v, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%q is not a decimal number", n.Value)
	}
	return v, nil
}

// Date is a local calendar date, written YYYY-MM-DD.
type Date struct {
	// t is the date's midnight in UTC.
	t time.Time
}

// NewDate returns the date of y, m, d.
func NewDate(y int, m time.Month, d int) Date { return Date{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)} }

// ParseDate parses YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a date YYYY-MM-DD", s)
	}
	return Date{t}, nil
}

// DateOf returns the local date of t in loc.
func DateOf(t time.Time, loc *time.Location) Date {
	y, m, d := t.In(loc).Date()
	return NewDate(y, m, d)
}

// String returns YYYY-MM-DD.
func (d Date) String() string { return d.t.Format(time.DateOnly) }

// IsZero reports whether d was never set.
func (d Date) IsZero() bool { return d.t.IsZero() }

// Before reports whether d is before e.
func (d Date) Before(e Date) bool { return d.t.Before(e.t) }

// Start returns the date's first instant in loc.
func (d Date) Start(loc *time.Location) time.Time {
	y, m, dd := d.t.Date()
	return time.Date(y, m, dd, 0, 0, 0, 0, loc)
}

// UTC returns the date's midnight in UTC (what a ClickHouse Date column takes).
func (d Date) UTC() time.Time { return d.t }

// UnmarshalYAML reads YYYY-MM-DD.
func (d *Date) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDate(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalJSON writes "YYYY-MM-DD".
func (d Date) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// Currencies maps the ISO 4217 codes a tariff may use to their minor unit (decimal places).
var Currencies = map[string]int{
	"AUD": 2, "BRL": 2, "CAD": 2, "CHF": 2, "CNY": 2, "CZK": 2, "DKK": 2, "EUR": 2,
	"GBP": 2, "HKD": 2, "INR": 2, "JPY": 0, "KRW": 0, "KWD": 3, "MXN": 2, "NOK": 2,
	"NZD": 2, "PLN": 2, "SEK": 2, "SGD": 2, "USD": 2, "ZAR": 2,
}

// Location returns the document's time zone (valid once Validate passed).
func (d *Document) Location() (*time.Location, error) { return time.LoadLocation(d.TimeZone) }

// RoundPlaces returns the decimal places amounts are rounded to.
func (d *Document) RoundPlaces() int32 {
	if d.Rounding.Places != nil {
		return int32(*d.Rounding.Places)
	}
	return int32(Currencies[d.Currency])
}

// Round rounds an amount by the document's rounding mode and places.
func (d *Document) Round(x decimal.Decimal) decimal.Decimal {
	p := d.RoundPlaces()
	switch d.Rounding.Mode {
	case "half_even":
		return x.RoundBank(p)
	case "down":
		return x.RoundDown(p)
	case "up":
		return x.RoundUp(p)
	default:
		return x.Round(p) // half away from zero
	}
}

// SeasonNames returns the names of the seasons, or "all" when none are declared.
func (d *Document) SeasonNames() []string {
	if len(d.Seasons) == 0 {
		return []string{"all"}
	}
	out := make([]string, len(d.Seasons))
	for i, s := range d.Seasons {
		out[i] = s.Name
	}
	return out
}

// SeasonOf returns the season of a local date (valid documents only).
func (d *Document) SeasonOf(date Date) string {
	if len(d.Seasons) == 0 {
		return "all"
	}
	_, m, dd := date.t.Date()
	k := int(m)*100 + dd
	for _, s := range d.Seasons {
		f, _ := parseMonthDay(s.From)
		t, _ := parseMonthDay(s.To)
		if (f <= t && k >= f && k <= t) || (f > t && (k >= f || k <= t)) {
			return s.Name
		}
	}
	return ""
}

// PeriodAt returns the index of the period of a TOU schedule at a local hour (0-23) of a
// day type in a season (valid documents only), or -1.
func (t *TOU) PeriodAt(season, dayType string, hour int) int {
	if dayType == Holiday && t.Holidays != HolidaysOwn {
		dayType = Weekend
	}
	for i, p := range t.Periods {
		for _, h := range p.Hours {
			if !matches(h.Seasons, season) || !matches(h.DayTypes, dayType) {
				continue
			}
			for _, r := range h.Ranges {
				a, b, _ := parseRange(r)
				if hour >= a && hour < b {
					return i
				}
			}
		}
	}
	return -1
}

func matches(list []string, v string) bool {
	if len(list) == 0 {
		return true
	}
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// parseMonthDay parses MM-DD into month*100+day, checking the day exists in a leap year.
func parseMonthDay(s string) (int, error) {
	t, err := time.Parse("01-02", s)
	if err != nil || len(s) != 5 {
		return 0, fmt.Errorf("%q is not a date MM-DD", s)
	}
	return int(t.Month())*100 + t.Day(), nil
}

// parseRange parses "H-H" with 0 <= start < end <= 24.
func parseRange(s string) (int, int, error) {
	var a, b int
	if n, err := fmt.Sscanf(s, "%d-%d", &a, &b); err != nil || n != 2 || fmt.Sprintf("%d-%d", a, b) != s {
		return 0, 0, fmt.Errorf("%q is not an hour range H-H", s)
	}
	if a < 0 || b > 24 || a >= b {
		return 0, 0, fmt.Errorf("%q: want 0 <= start < end <= 24", s)
	}
	return a, b, nil
}
