package query

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/api"
)

// Step is the length of the intervals consumption is reported in.
type Step string

// The steps a consumption query can use.
const (
	Step15m Step = "15m"
	Step1h  Step = "1h"
	Step1d  Step = "1d"
)

// ParseStep validates a step parameter.
func ParseStep(s string) (Step, error) {
	switch st := Step(s); st {
	case Step15m, Step1h, Step1d:
		return st, nil
	}
	return "", fmt.Errorf("%q is not a step: want 15m, 1h or 1d", s)
}

// Duration returns the step's length.
func (s Step) Duration() time.Duration {
	switch s {
	case Step15m:
		return 15 * time.Minute
	case Step1d:
		return 24 * time.Hour
	}
	return time.Hour
}

// Point is the energy consumed over one interval.
type Point struct {
	// Start is the interval's start, UTC.
	Start time.Time `json:"start"`
	// Wh is the register difference over the interval.
	Wh int64 `json:"wh"`
}

// Consumption is a meter's consumption over a range, one point per interval with data.
type Consumption struct {
	MeterID string  `json:"meter_id"`
	Step    Step    `json:"step"`
	Unit    string  `json:"unit"`
	Points  []Point `json:"points"`
}

// bucket is the last register reading that closed an interval inside one step-long bucket.
type bucket struct {
	start time.Time
	reg   int64
}

// deltas turns per-bucket closing registers into consumption points. The energy of a
// bucket is its closing register minus the closing register of the bucket with data before
// it, so energy over a gap is attributed to the first bucket after the gap and the points
// add up to the register difference over the whole range. A bucket whose start register is
// unknown (no earlier reading at all) gets no point.
func deltas(prev int64, hasPrev bool, buckets []bucket) []Point {
	points := make([]Point, 0, len(buckets))
	for _, b := range buckets {
		if hasPrev {
			points = append(points, Point{Start: b.start, Wh: b.reg - prev})
		}
		prev, hasPrev = b.reg, true
	}
	return points
}

// consumptionSQL returns, for a step, the query for closing registers per bucket inside
// [from, to) and the query for the last register at or before from. Both take
// (meter_id, from[, to]) parameters. Hourly and daily steps read the hourly aggregate;
// the 15-minute step reads the raw readings, where a reading stamped ts closes the bucket
// containing ts - 1 second. argMax over duplicates of one reading returns that reading,
// so replays do not change the answer.
func consumptionSQL(step Step) (buckets, before string) {
	switch step {
	case Step15m:
		return `SELECT toStartOfFifteenMinutes(ts - 1) AS b, argMax(register_wh, ts) AS reg
FROM readings
WHERE meter_id = ? AND ts > ? AND ts <= ?
GROUP BY b
ORDER BY b`, `SELECT argMax(register_wh, ts), count()
FROM readings
WHERE meter_id = ? AND ts <= ?`
	case Step1d:
		return `SELECT toStartOfDay(hour) AS b, argMaxMerge(wh_last) AS reg
FROM readings_hourly
WHERE meter_id = ? AND hour >= ? AND hour < ?
GROUP BY b
ORDER BY b`, hourlyBefore
	}
	return `SELECT hour AS b, argMaxMerge(wh_last) AS reg
FROM readings_hourly
WHERE meter_id = ? AND hour >= ? AND hour < ?
GROUP BY b
ORDER BY b`, hourlyBefore
}

const hourlyBefore = `SELECT argMaxMerge(wh_last), count()
FROM readings_hourly
WHERE meter_id = ? AND hour < ?`

// Config configures the read paths.
type Config struct {
	// MaxPoints bounds the intervals one consumption request may span.
	MaxPoints int `yaml:"max_points"`
}

// DefaultConfig allows a year of 15-minute points in one request.
func DefaultConfig() Config { return Config{MaxPoints: 366 * 96} }

// Validate reports the first field that cannot work, naming it.
func (c Config) Validate() error {
	if c.MaxPoints < 1 {
		return errors.New("query.max_points: must be at least 1")
	}
	return nil
}

// Service runs read queries over one ClickHouse database. It is safe for concurrent use.
type Service struct {
	cfg  Config
	conn driver.Conn
}

// New returns a Service over conn, which must be connected to the platform's database.
func New(cfg Config, conn driver.Conn) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, errors.New("query: New needs a connection")
	}
	return &Service{cfg: cfg, conn: conn}, nil
}

// MeterConsumption returns a meter's consumption over [from, to) in steps, with from
// rounded down and to rounded up to whole steps (UTC). It returns an api.ErrNotFound
// error for a meter with neither a registry entry nor readings, and api.FieldError for
// parameters out of range.
func (s *Service) MeterConsumption(ctx context.Context, meterID string, from, to time.Time, step Step) (Consumption, error) {
	d := step.Duration()
	from = from.UTC().Truncate(d)
	if t := to.UTC().Truncate(d); t.Before(to) {
		to = t.Add(d)
	} else {
		to = t
	}
	if !to.After(from) {
		return Consumption{}, api.Invalid("to", "must be after from")
	}
	if n := int(to.Sub(from) / d); n > s.cfg.MaxPoints {
		return Consumption{}, api.Invalid("to", "the range spans %d %s intervals; at most %d are allowed", n, step, s.cfg.MaxPoints)
	}
	bucketsSQL, beforeSQL := consumptionSQL(step)
	var prev int64
	var n uint64
	if err := s.conn.QueryRow(ctx, beforeSQL, meterID, from).Scan(&prev, &n); err != nil {
		return Consumption{}, fmt.Errorf("query register before %s: %w", from.Format(time.RFC3339), err)
	}
	rows, err := s.conn.Query(ctx, bucketsSQL, meterID, from, to)
	if err != nil {
		return Consumption{}, fmt.Errorf("query consumption: %w", err)
	}
	defer rows.Close()
	var bs []bucket
	for rows.Next() {
		var b bucket
		if err := rows.Scan(&b.start, &b.reg); err != nil {
			return Consumption{}, fmt.Errorf("query consumption: %w", err)
		}
		b.start = b.start.UTC()
		bs = append(bs, b)
	}
	if err := rows.Err(); err != nil {
		return Consumption{}, fmt.Errorf("query consumption: %w", err)
	}
	points := deltas(prev, n > 0, bs)
	if len(bs) == 0 && n == 0 {
		known, err := s.meterKnown(ctx, meterID)
		if err != nil {
			return Consumption{}, err
		}
		if !known {
			return Consumption{}, fmt.Errorf("meter %q: %w", meterID, api.ErrNotFound)
		}
	}
	return Consumption{MeterID: meterID, Step: step, Unit: "Wh", Points: points}, nil
}

// meterKnown reports whether the registry lists the meter or any reading names it.
func (s *Service) meterKnown(ctx context.Context, meterID string) (bool, error) {
	var n uint64
	err := s.conn.QueryRow(ctx, `SELECT (SELECT count() FROM meters WHERE meter_id = ?) + (SELECT count() FROM readings WHERE meter_id = ?)`,
		meterID, meterID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up meter: %w", err)
	}
	return n > 0, nil
}
