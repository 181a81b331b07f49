package calc

import (
	"io"
	"strconv"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/table"
)

// IntervalColumns are the required columns of the intervals CSV format; an optional
// column estimated (true/false, 1/0, empty) marks estimated or edited energy.
var IntervalColumns = []string{"start", "end", "wh"}

// ParseIntervalsCSV reads the intervals CSV format of `meterhouse bill preview`: a header
// naming start, end, wh (and optionally estimated) in any order, then one interval per
// row with RFC 3339 times and whole watt-hours. Errors are fault.FieldErrors whose field
// is the column and whose message names the line.
func ParseIntervalsCSV(r io.Reader) ([]Interval, error) {
	cr, err := table.NewCSVReader(r, IntervalColumns...)
	if err != nil {
		return nil, err
	}
	var out []Interval
	for {
		ok, err := cr.Next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		var iv Interval
		if iv.Start, err = schema.ParseTime("start", cr.Cell("start")); err != nil {
			return nil, cr.Invalid(err)
		}
		if iv.End, err = schema.ParseTime("end", cr.Cell("end")); err != nil {
			return nil, cr.Invalid(err)
		}
		if !iv.End.After(iv.Start) {
			return nil, cr.Invalid(fault.Invalid("end", "%s is not after start", cr.Cell("end")))
		}
		if iv.Wh, err = strconv.ParseInt(cr.Cell("wh"), 10, 64); err != nil || iv.Wh < 0 {
			return nil, cr.Invalid(fault.Invalid("wh", "%q: want whole watt-hours, not negative", cr.Cell("wh")))
		}
		switch e := cr.Cell("estimated"); e {
		case "", "false", "0":
		case "true", "1":
			iv.Estimated = true
		default:
			return nil, cr.Invalid(fault.Invalid("estimated", "%q: want true or false", e))
		}
		out = append(out, iv)
	}
}
