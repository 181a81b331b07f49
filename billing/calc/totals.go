package calc

import (
	"fmt"
	"slices"
	"time"

	"github.com/meterhouse/meterhouse/billing/tariff"
	"github.com/meterhouse/meterhouse/fault"
)

// Totals are a period's billing determinants aggregated before the calculation — the
// billing run's fast path sums a month of daily profiles inside ClickHouse instead of
// reading every 15-minute row. A bill computed from Totals equals the bill computed from
// the intervals they were aggregated from, provided the aggregation follows Plan's parts
// and slots (TOU periods change on the hour, demand windows are clock-aligned blocks
// within an hour).
type Totals struct {
	// Parts has one element per part of the period, in Plan's order.
	Parts []PartTotals
	// YearWh is the energy from the start of the first part's tier year to the period's
	// start (annual tiers; 0 otherwise).
	YearWh int64
	// RatchetWindowWh is the largest demand-window energy in the ratchet's months before
	// the period (0 without a ratchet).
	RatchetWindowWh int64
}

// PartTotals are one part's aggregated determinants.
type PartTotals struct {
	// Wh is the part's energy.
	Wh int64
	// PeriodWh is the energy per energy TOU period, by the period's index in the tariff
	// (nil without energy TOU).
	PeriodWh []int64
	// WindowWh is the largest energy of one demand window (the tariff's demand interval).
	WindowWh int64
	// PeriodWindowWh is that per demand TOU period, by index (nil without demand TOU).
	PeriodWindowWh []int64
	// Intervals counts the part's 15-minute intervals; EstimatedIntervals those estimated
	// or edited, and EstimatedWh their energy.
	Intervals, EstimatedIntervals int
	EstimatedWh                   int64
}

// PlanPart is one part of a period as Compute cuts it: a run of dates of one tariff
// version, season and tier year.
type PlanPart struct {
	// From and To are the part's local dates [From, To).
	From, To tariff.Date
	// Doc is the tariff version priced.
	Doc *tariff.Document
	// Season is the part's season.
	Season string
}

// Plan returns the parts Compute cuts in's period into (Intervals and Totals are not
// read). The error wraps ErrNoTariff when a date has no version in force.
func Plan(in Input) ([]PlanPart, error) {
	if len(in.Tariffs) == 0 {
		return nil, fault.Invalid("tariff", "no tariff given")
	}
	loc, err := in.Tariffs[0].Location()
	if err != nil {
		return nil, fault.Invalid("tariff", "time zone: %v", err)
	}
	parts, err := cut(in, loc)
	if err != nil {
		return nil, err
	}
	out := make([]PlanPart, len(parts))
	for i, p := range parts {
		out[i] = PlanPart{From: p.det.From, To: p.det.To, Doc: p.doc, Season: p.det.Season}
	}
	return out, nil
}

// CanAggregate says whether bills of the tariff versions can be computed from Totals, or
// why not: chronological tiers inside TOU periods depend on the order of the intervals,
// and ratchets must read the same months in every version.
func CanAggregate(docs []*tariff.Document) error {
	var ratchet *tariff.Ratchet
	for i, d := range docs {
		if e := d.Energy; e != nil && e.TOU != nil && e.TierAllocation == tariff.Chronological {
			for _, p := range e.TOU.Periods {
				if len(p.Tiers) > 0 {
					return fmt.Errorf("tariff %s version %s allocates TOU tiers chronologically: billed from 15-minute rows", d.ID, d.Version)
				}
			}
		}
		if d.Demand == nil || d.Demand.Ratchet == nil {
			continue
		}
		r := d.Demand.Ratchet
		if ratchet != nil && (ratchet.Months != r.Months || !slices.Equal(ratchet.CountedMonths, r.CountedMonths)) {
			return fmt.Errorf("tariff %s: versions 0 and %d have different ratchet months: billed from 15-minute rows", d.ID, i)
		}
		ratchet = r
	}
	return nil
}

// DaySlots returns, for the local date d of the part's tariff zone loc, one element per
// UTC hour of that day from its local midnight (23, 24 or 25): the energy TOU period
// index and the demand TOU period index of the hour (0 where the tariff has no such TOU).
// These are the hours of the arrays of a daily profile.
func (pp PlanPart) DaySlots(d tariff.Date, loc *time.Location, dayType DayTypeFunc) (energy, demand []uint8) {
	if dayType == nil {
		dayType = Weekdays
	}
	start, end := d.Start(loc), addDays(d, 1).Start(loc)
	n := int((end.Sub(start) + time.Hour - 1) / time.Hour)
	energy, demand = make([]uint8, n), make([]uint8, n)
	dt := dayType(d)
	var et, dtou *tariff.TOU
	if e := pp.Doc.Energy; e != nil {
		et = e.TOU
	}
	if m := pp.Doc.Demand; m != nil {
		dtou = m.TOU
	}
	for i := range n {
		h := start.Add(time.Duration(i) * time.Hour).In(loc).Hour()
		if et != nil {
			energy[i] = uint8(max(et.PeriodAt(pp.Season, dt, h), 0))
		}
		if dtou != nil {
			demand[i] = uint8(max(dtou.PeriodAt(pp.Season, dt, h), 0))
		}
	}
	return energy, demand
}

// WindowMinutes is the tariff version's demand interval in minutes (15 without demand).
func WindowMinutes(d *tariff.Document) int {
	if d.Demand != nil && d.Demand.Interval == "30m" {
		return 30
	}
	return 15
}

// History is which local dates before the period Totals' history fields sum.
type History struct {
	// YearFrom is the first part's tier year start (YearWh sums [YearFrom, period start));
	// zero without annual tiers.
	YearFrom tariff.Date
	// RatchetFrom starts the ratchet's months (RatchetWindowWh is the largest block of
	// [RatchetFrom, period start) in CountedMonths, or in every month when that is empty);
	// zero without a ratchet.
	RatchetFrom   tariff.Date
	CountedMonths []int
}

// HistoryOf returns the history a period of parts starting on from needs.
func HistoryOf(parts []PlanPart, from tariff.Date) History {
	var h History
	if len(parts) == 0 {
		return h
	}
	doc := parts[0].Doc
	h.YearFrom = tierYear(doc, from)
	if doc.Demand != nil && doc.Demand.Ratchet != nil {
		r := doc.Demand.Ratchet
		u := from.UTC()
		h.RatchetFrom = tariff.NewDate(u.Year(), u.Month()-time.Month(r.Months), u.Day())
		h.CountedMonths = r.CountedMonths
	}
	return h
}
