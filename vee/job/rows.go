package job

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/vee"
)

// row is one row of the consumption table.
type row struct {
	resolution   string
	meter        string
	start        time.Time
	wh           int64
	quality      uint8
	intervals    uint32
	expected     uint32
	estimated    uint32
	edited       uint32
	questionable uint32
	flags        []string
	reasons      []string
}

// intervalRow turns one validated 15-minute interval into its consumption row. An
// interval counts as present (measured) unless its value before any edit was estimated.
func intervalRow(meter string, iv vee.Interval) row {
	r := row{resolution: "15m", meter: meter, start: iv.Start, wh: iv.Wh, quality: uint8(iv.Quality), expected: 1,
		flags: []string{}, reasons: []string{}}
	if !iv.Estimated {
		r.intervals = 1
	} else {
		r.estimated = 1
	}
	if iv.Edit != nil {
		r.edited = 1
	}
	if iv.Questionable() {
		r.questionable = 1
	}
	for _, f := range iv.Flags {
		if !slices.Contains(r.flags, f.Rule) {
			r.flags = append(r.flags, f.Rule)
		}
		r.reasons = append(r.reasons, f.Rule+": "+f.Reason)
	}
	return r
}

// rollUp aggregates rows of one meter, sorted by start, into coarser buckets: bucket
// returns the bucket of a row's start and the bucket's end. Energy and counts add up, the
// expected intervals are the bucket's 15-minute slots, quality combines as
// vee.CombineQualities says, and flags are the union of the rows' flags.
func rollUp(rows []row, resolution string, bucket func(time.Time) (time.Time, time.Time)) []row {
	var out []row
	for _, r := range rows {
		start, end := bucket(r.start)
		if n := len(out); n > 0 && out[n-1].start.Equal(start) {
			b := &out[n-1]
			b.wh += r.wh
			b.quality = uint8(vee.Quality(b.quality).Combine(vee.Quality(r.quality)))
			b.intervals += r.intervals
			b.estimated += r.estimated
			b.edited += r.edited
			b.questionable += r.questionable
			for _, f := range r.flags {
				if !slices.Contains(b.flags, f) {
					b.flags = append(b.flags, f)
				}
			}
			continue
		}
		out = append(out, row{resolution: resolution, meter: r.meter, start: start, wh: r.wh, quality: r.quality,
			intervals: r.intervals, expected: slots(start, end), estimated: r.estimated, edited: r.edited,
			questionable: r.questionable, flags: slices.Clone(r.flags), reasons: []string{}})
	}
	for i := range out {
		if out[i].flags == nil {
			out[i].flags = []string{}
		}
	}
	return out
}

// rowBuffer holds consumption rows column by column for one insert.
type rowBuffer struct {
	resolution, meter                                    []string
	start                                                []time.Time
	wh                                                   []int64
	quality                                              []uint8
	intervals, expected, estimated, edited, questionable []uint32
	flags, reasons                                       [][]string
}

func (b *rowBuffer) add(r row) {
	b.resolution = append(b.resolution, r.resolution)
	b.meter = append(b.meter, r.meter)
	b.start = append(b.start, r.start)
	b.wh = append(b.wh, r.wh)
	b.quality = append(b.quality, r.quality)
	b.intervals = append(b.intervals, r.intervals)
	b.expected = append(b.expected, r.expected)
	b.estimated = append(b.estimated, r.estimated)
	b.edited = append(b.edited, r.edited)
	b.questionable = append(b.questionable, r.questionable)
	b.flags = append(b.flags, r.flags)
	b.reasons = append(b.reasons, r.reasons)
}

func (b *rowBuffer) addAll(rs []row) {
	for _, r := range rs {
		b.add(r)
	}
}

// insert writes the buffered rows with one columnar insert.
func (j *Job) insert(ctx context.Context, b *rowBuffer, computedAt time.Time) error {
	n := len(b.meter)
	if n == 0 {
		return nil
	}
	bctx, sent := schema.BatchContext(ctx)
	defer sent()
	batch, err := j.conn.PrepareBatch(bctx, insertConsumption)
	if err != nil {
		return fmt.Errorf("prepare consumption insert: %w", err)
	}
	defer batch.Abort() //nolint:errcheck // a no-op once sent
	at := make([]time.Time, n)
	for i := range at {
		at[i] = computedAt
	}
	for i, col := range []any{b.resolution, b.meter, b.start, b.wh, b.quality, b.intervals, b.expected,
		b.estimated, b.edited, b.questionable, b.flags, b.reasons, at} {
		if err := batch.Column(i).Append(col); err != nil {
			return fmt.Errorf("append consumption column %d: %w", i, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d consumption rows: %w", n, err)
	}
	return nil
}
