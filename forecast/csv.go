package forecast

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CSVOptions names the columns ReadCSV takes from a file with a header row.
type CSVOptions struct {
	// Columns are the target columns (at least one).
	Columns []string
	// TimeCol, when set, is the timestamp column (2006-01-02 15:04:05, RFC 3339,
	// 2006-01-02 15:04 or a bare date meaning midnight), read as wall-clock time.
	TimeCol string
	// HolidayCol, when set, is a holiday flag column (TRUE/FALSE, true/false, 1/0).
	HolidayCol string
	// Exog are exogenous regressor columns (e.g. Temperature).
	Exog []string
	// Season is the rows per seasonal period; 0 means one week at the most frequent
	// spacing of TimeCol (336 for half-hourly rows), and requires TimeCol.
	Season int
}

// ErrCSV reports a file that cannot be evaluated: a missing column, a non-numeric or
// non-finite cell, a bad timestamp.
var ErrCSV = errors.New("forecast: bad CSV")

// ReadCSV reads the named columns of a CSV file with a header row. Rows are taken as
// regularly spaced in file order; timestamps only place them in the calendar.
func ReadCSV(r io.Reader, o CSVOptions) (*Data, error) {
	if len(o.Columns) == 0 {
		return nil, fmt.Errorf("%w: no target column given", ErrCSV)
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrCSV, err)
	}
	head = slices.Clone(head) // the reader reuses its record

	index := map[string]int{}
	for i, h := range head {
		index[strings.TrimSpace(h)] = i
	}
	find := func(name string) (int, error) {
		i, ok := index[name]
		if !ok {
			return 0, fmt.Errorf("%w: no column %q (the header has %s)", ErrCSV, name, strings.Join(head, ", "))
		}
		return i, nil
	}
	var cols, exog []int
	for _, c := range o.Columns {
		i, err := find(c)
		if err != nil {
			return nil, err
		}
		cols = append(cols, i)
	}
	for _, c := range o.Exog {
		i, err := find(c)
		if err != nil {
			return nil, err
		}
		exog = append(exog, i)
	}
	timeCol, holCol := -1, -1
	if o.TimeCol != "" {
		if timeCol, err = find(o.TimeCol); err != nil {
			return nil, err
		}
	}
	if o.HolidayCol != "" {
		if holCol, err = find(o.HolidayCol); err != nil {
			return nil, err
		}
	}
	d := &Data{Names: o.Columns, ExogNames: o.Exog, Values: make([][]float64, len(cols)), Exog: make([][]float64, len(exog))}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCSV, err)
		}
		for k, i := range cols {
			x, err := number(rec, i, head[i], line)
			if err != nil {
				return nil, err
			}
			d.Values[k] = append(d.Values[k], x)
		}
		for k, i := range exog {
			x, err := number(rec, i, head[i], line)
			if err != nil {
				return nil, err
			}
			d.Exog[k] = append(d.Exog[k], x)
		}
		if timeCol >= 0 {
			t, err := parseTime(rec[timeCol])
			if err != nil {
				return nil, fmt.Errorf("%w: line %d, column %q: %w", ErrCSV, line, head[timeCol], err)
			}
			d.Times = append(d.Times, t)
		}
		if holCol >= 0 {
			switch strings.ToLower(strings.TrimSpace(rec[holCol])) {
			case "true", "1":
				d.Holiday = append(d.Holiday, true)
			case "false", "0":
				d.Holiday = append(d.Holiday, false)
			default:
				return nil, fmt.Errorf("%w: line %d, column %q: %q is not TRUE/FALSE/1/0", ErrCSV, line, head[holCol], rec[holCol])
			}
		}
	}
	if d.Rows() == 0 {
		return nil, fmt.Errorf("%w: no data rows", ErrCSV)
	}
	d.Season = o.Season
	if d.Season == 0 {
		if d.Times == nil {
			return nil, fmt.Errorf("%w: give a season (rows per period) or a time column to infer one week from", ErrCSV)
		}
		step, err := typicalStep(d.Times)
		if err != nil {
			return nil, err
		}
		if (7*24*time.Hour)%step != 0 {
			return nil, fmt.Errorf("%w: column %q: spacing %v does not divide a week", ErrCSV, o.TimeCol, step)
		}
		d.Season = int(7 * 24 * time.Hour / step)
	}
	return d, nil
}

func number(rec []string, i int, name string, line int) (float64, error) {
	x, err := strconv.ParseFloat(strings.TrimSpace(rec[i]), 64)
	if err != nil {
		return 0, fmt.Errorf("%w: line %d, column %q: %q is not a number", ErrCSV, line, name, rec[i])
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("%w: line %d, column %q: %v is not a finite number", ErrCSV, line, name, x)
	}
	return x, nil
}

func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range []string{"2006-01-02 15:04:05", time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a timestamp (want 2006-01-02 15:04:05, RFC 3339 or a date)", s)
}

// typicalStep is the most frequent positive spacing of the timestamps.
func typicalStep(ts []time.Time) (time.Duration, error) {
	counts := map[time.Duration]int{}
	var best time.Duration
	for i := 1; i < len(ts); i++ {
		dt := ts[i].Sub(ts[i-1])
		if dt > 0 {
			counts[dt]++
			if counts[dt] > counts[best] {
				best = dt
			}
		}
	}
	if best == 0 {
		return 0, fmt.Errorf("%w: timestamps do not increase", ErrCSV)
	}
	return best, nil
}
