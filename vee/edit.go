package vee

import (
	"errors"
	"fmt"
	"time"
)

// EditMode says how an Edit's Wh applies to the intervals of its range.
type EditMode uint8

const (
	// EditEach gives every interval of the range the edit's Wh.
	EditEach EditMode = iota
	// EditSpread treats the edit's Wh as the total of the whole range and
	// splits it evenly; when it does not divide, the earliest intervals get
	// one Wh more. The split is over the whole range even when only part of
	// it overlaps the series, so processing a range in pieces gives the same
	// values as processing it at once.
	EditSpread
)

// Edit is a manual override of one interval or a range of intervals.
type Edit struct {
	// Start is the start of the first interval edited; it must lie on the
	// series' interval grid.
	Start time.Time
	// End is the end of the last interval edited, on the grid; zero means the
	// single interval starting at Start.
	End time.Time
	// Wh is the value, per interval or for the whole range as Mode says.
	Wh int64
	// Mode says how Wh applies to the range.
	Mode EditMode
	// Reason says why the edit was made; required.
	Reason string
	// Author says who made the edit; required.
	Author string
	// At is when the edit was made.
	At time.Time
}

// ApplyEdits applies edits, in order, to series, which must be contiguous
// intervals of equal length sorted by start. It modifies series in place:
// each edited interval gets the edit's value, QualityManuallyEdited and a
// pointer to (a copy of) the edit, while OriginalWh keeps the value the
// interval had before its first edit. When edits overlap, the later one wins.
// Parts of an edit's range outside the series are ignored. If any edit is
// invalid, ApplyEdits changes nothing and returns an error joining a
// *FieldError per problem, with fields named like "edits[2].author".
func ApplyEdits(series []Interval, edits []Edit) error {
	if len(edits) == 0 {
		return nil
	}
	var origin time.Time
	var d time.Duration
	if len(series) > 0 {
		origin = series[0].Start
		d = series[0].End.Sub(origin)
		if d <= 0 {
			return &FieldError{Field: "series[0].end", Message: "must be after start"}
		}
		for i, iv := range series {
			if want := origin.Add(time.Duration(i) * d); !iv.Start.Equal(want) || !iv.End.Equal(want.Add(d)) {
				return &FieldError{Field: fmt.Sprintf("series[%d]", i),
					Message: fmt.Sprintf("must span [%s, %s) to continue the series", stamp(want), stamp(want.Add(d)))}
			}
		}
	}
	cp := make([]Edit, len(edits))
	copy(cp, edits)
	var errs []error
	for i := range cp {
		errs = validateEdit(&cp[i], i, origin, d, errs)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if len(series) == 0 {
		return nil
	}
	n := int64(len(series))
	for i := range cp {
		e := &cp[i]
		first := int64(e.Start.Sub(origin) / d)
		count := int64(e.End.Sub(e.Start) / d)
		lo, hi := max(first, 0), min(first+count, n)
		for j := lo; j < hi; j++ {
			iv := &series[j]
			if iv.Edit == nil {
				iv.OriginalWh = iv.Wh
			}
			if e.Mode == EditSpread {
				iv.Wh = evenShare(e.Wh, count, j-first)
			} else {
				iv.Wh = e.Wh
			}
			iv.Quality = QualityManuallyEdited
			iv.Edit = e
		}
	}
	return nil
}

// validateEdit checks e and fills in a zero End. d is zero when the series is
// empty, in which case the grid is not checked.
func validateEdit(e *Edit, i int, origin time.Time, d time.Duration, errs []error) []error {
	bad := func(field, msg string) {
		errs = append(errs, &FieldError{Field: fmt.Sprintf("edits[%d].%s", i, field), Message: msg})
	}
	if e.Reason == "" {
		bad("reason", "must not be empty")
	}
	if e.Author == "" {
		bad("author", "must not be empty")
	}
	if e.Mode != EditEach && e.Mode != EditSpread {
		bad("mode", fmt.Sprintf("unknown mode %d", e.Mode))
	}
	if e.Start.IsZero() {
		bad("start", "must be set")
		return errs
	}
	if e.End.IsZero() && d > 0 {
		e.End = e.Start.Add(d)
	}
	if !e.End.IsZero() && !e.End.After(e.Start) {
		bad("end", "must be after start")
		return errs
	}
	if d > 0 {
		if e.Start.Sub(origin)%d != 0 {
			bad("start", fmt.Sprintf("%s is not on the %s grid of the series", stamp(e.Start), d))
		}
		if e.End.Sub(origin)%d != 0 {
			bad("end", fmt.Sprintf("%s is not on the %s grid of the series", stamp(e.End), d))
		}
	}
	return errs
}
