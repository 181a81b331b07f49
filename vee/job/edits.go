package job

import (
	"context"
	"fmt"
	"time"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/vee"
)

// Edit is a manual override of a meter's validated consumption. The stored edit is its
// own audit record: who made it, when, why, and the value it replaced.
type Edit struct {
	// ID identifies the edit.
	ID string `json:"edit_id"`
	// MeterID is the meter edited.
	MeterID string `json:"meter_id"`
	// Start and End bound the edited 15-minute intervals [Start, End), UTC.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Wh is the value: per interval for mode each, the range's total for mode spread.
	Wh int64 `json:"wh"`
	// Mode is EditEach or EditSpread.
	Mode string `json:"mode"`
	// Reason says why the edit was made.
	Reason string `json:"reason"`
	// Author is the principal who made the edit.
	Author string `json:"author"`
	// PreviousWh is the validated total of the range just before the edit.
	PreviousWh int64 `json:"previous_wh"`
	// CreatedAt is when the edit was made.
	CreatedAt time.Time `json:"created_at"`
}

// The edit modes.
const (
	// EditEach gives every interval of the range the edit's Wh.
	EditEach = "each"
	// EditSpread splits the edit's Wh evenly over the range's intervals.
	EditSpread = "spread"
)

// MaxEditRange is the longest range one edit may cover.
const MaxEditRange = 31 * 24 * time.Hour

func (e Edit) vee() vee.Edit {
	mode := vee.EditEach
	if e.Mode == EditSpread {
		mode = vee.EditSpread
	}
	return vee.Edit{Start: e.Start.UTC(), End: e.End.UTC(), Wh: e.Wh, Mode: mode, Reason: e.Reason, Author: e.Author, At: e.CreatedAt.UTC()}
}

// EditRequest is what a client asks to change.
type EditRequest struct {
	// Start is the start of the first interval edited, RFC 3339 on the 15-minute grid.
	Start string `json:"start"`
	// End is the end of the last interval edited (exclusive); empty means one interval.
	End string `json:"end,omitempty"`
	// Wh is the new value; required.
	Wh *int64 `json:"wh"`
	// Mode is each (default) or spread.
	Mode string `json:"mode,omitempty"`
	// Reason says why; required.
	Reason string `json:"reason"`
}

// parse validates req into an edit of meterID, naming the field at fault. maxWh bounds
// the value per 15-minute interval (Config.MaxEditWh).
func (req EditRequest) parse(meterID string, maxEditWh int) (Edit, error) {
	maxWh := int64(maxEditWh)
	e := Edit{MeterID: meterID, Mode: req.Mode, Reason: req.Reason}
	onGrid := func(field, v string) (time.Time, error) {
		t, err := schema.ParseTime(field, v)
		if err != nil {
			return t, err
		}
		if !t.Equal(t.Truncate(Interval)) {
			return t, fault.Invalid(field, "%s is not on the 15-minute grid", v)
		}
		return t, nil
	}
	var err error
	if req.Start == "" {
		return e, fault.Invalid("start", "is required")
	}
	if e.Start, err = onGrid("start", req.Start); err != nil {
		return e, err
	}
	e.End = e.Start.Add(Interval)
	if req.End != "" {
		if e.End, err = onGrid("end", req.End); err != nil {
			return e, err
		}
	}
	if err := schema.CheckTime("end", e.End); err != nil {
		return e, err
	}
	switch {
	case !e.End.After(e.Start):
		return e, fault.Invalid("end", "must be after start")
	case e.End.Sub(e.Start) > MaxEditRange:
		return e, fault.Invalid("end", "an edit covers at most %s", MaxEditRange)
	case req.Wh == nil:
		return e, fault.Invalid("wh", "is required")
	case e.Mode == "":
		e.Mode = EditEach
	case e.Mode != EditEach && e.Mode != EditSpread:
		return e, fault.Invalid("mode", "%q is not each or spread", e.Mode)
	}
	if e.Reason == "" {
		return e, fault.Invalid("reason", "is required: say why the value is changed")
	}
	e.Wh = *req.Wh
	n := int64(e.End.Sub(e.Start) / Interval)
	switch {
	case e.Wh < 0:
		return e, fault.Invalid("wh", "%d is negative: consumption is never negative", e.Wh)
	case e.Mode == EditEach && e.Wh > maxWh:
		return e, fault.Invalid("wh", "%d Wh per 15-minute interval is above the limit of %d (vee.max_edit_wh)", e.Wh, maxWh)
	case e.Mode == EditSpread && e.Wh > maxWh*n: // no overflow: maxWh <= 1e12, n <= 2976
		return e, fault.Invalid("wh", "%d Wh over %d intervals is above the limit of %d per 15-minute interval (vee.max_edit_wh)", e.Wh, n, maxWh)
	}
	return e, nil
}

// AddEdit stores an edit of meterID by author, then recomputes the windows it covers. It
// returns an error wrapping fault.ErrInvalid for a bad request and fault.ErrNotFound for a
// meter with neither a registry entry nor readings. The returned bool reports whether the
// recomputation succeeded; when it did not, the edit is stored all the same and the next
// run of the job applies it.
func (j *Job) AddEdit(ctx context.Context, meterID, author string, req EditRequest) (Edit, bool, error) {
	e, err := req.parse(meterID, j.cfg.MaxEditWh)
	if err != nil {
		return e, false, err
	}
	if author == "" {
		return e, false, fault.Invalid("author", "is required")
	}
	e.Author = author
	known, err := schema.MeterKnown(ctx, j.conn, meterID)
	if err != nil {
		return e, false, err
	}
	if !known {
		return e, false, fmt.Errorf("meter %q: %w", meterID, fault.ErrNotFound)
	}
	var rows uint64
	if err := j.conn.QueryRow(ctx, sumSQL, meterID, e.Start, e.End).Scan(&e.PreviousWh, &rows); err != nil {
		return e, false, fmt.Errorf("read the value edited: %w", err)
	}
	e.ID = newID()
	e.CreatedAt = j.now().UTC().Truncate(time.Second)
	bctx, sent := schema.BatchContext(ctx)
	defer sent()
	b, err := j.conn.PrepareBatch(bctx, insertEdit)
	if err != nil {
		return e, false, fmt.Errorf("store edit: %w", err)
	}
	defer b.Abort() //nolint:errcheck // a no-op once sent
	if err := b.Append(e.ID, e.MeterID, e.Start, e.End, e.Wh, e.Mode, e.Reason, e.Author, e.PreviousWh, e.CreatedAt); err != nil {
		return e, false, fmt.Errorf("store edit: %w", err)
	}
	if err := b.Send(); err != nil {
		return e, false, fmt.Errorf("store edit: %w", err)
	}
	j.log.Info("consumption edited", "edit_id", e.ID, "meter", meterID, "start", e.Start, "end", e.End,
		"wh", e.Wh, "mode", e.Mode, "author", author, "previous_wh", e.PreviousWh)
	res, err := j.Recompute(ctx, meterID, e.Start, e.End)
	if err != nil {
		j.log.Error("recompute after edit failed; the next run applies it", "edit_id", e.ID, "err", err)
		return e, false, nil
	}
	if res.Failed > 0 {
		j.log.Error("recompute after edit failed for a window; flagged in vee_failures", "edit_id", e.ID, "failure", res.Failures[0].String())
		return e, false, nil
	}
	return e, true, nil
}

// Edits returns the edits of meterID overlapping [from, to), oldest first.
func (j *Job) Edits(ctx context.Context, meterID string, from, to time.Time) ([]Edit, error) {
	rows, err := j.conn.Query(ctx, editsSQL, []string{meterID}, to, from)
	if err != nil {
		return nil, fmt.Errorf("read edits: %w", err)
	}
	defer rows.Close()
	var out []Edit
	for rows.Next() {
		var e Edit
		if err := rows.Scan(&e.ID, &e.MeterID, &e.Start, &e.End, &e.Wh, &e.Mode, &e.Reason, &e.Author, &e.PreviousWh, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("read edits: %w", err)
		}
		e.Start, e.End, e.CreatedAt = e.Start.UTC(), e.End.UTC(), e.CreatedAt.UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read edits: %w", err)
	}
	return out, nil
}
