package weather

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
)

// Store keeps weather values in ClickHouse's weather table.
type Store struct {
	conn driver.Conn
	now  func() time.Time
}

// NewStore returns a store over conn, a connection to the platform database.
func NewStore(conn driver.Conn) (*Store, error) {
	if conn == nil {
		return nil, errors.New("weather: NewStore needs a ClickHouse connection")
	}
	return &Store{conn: conn, now: time.Now}, nil
}

const insertWeather = `INSERT INTO weather (region, valid_time, issued_at, kind, source, temperature_c, version, loaded_at)`

// Load stores values, replacing those of the same region, kind, source, issue and hour,
// in one insert (stored whole or not at all), and returns the number stored.
func (s *Store) Load(ctx context.Context, values []Value) (int, error) {
	if len(values) == 0 {
		return 0, fault.Invalid("body", "no values to load")
	}
	now := s.now().UTC()
	version, loaded := uint64(now.UnixNano()), now.Truncate(time.Second)
	bctx, sent := schema.BatchContext(ctx)
	defer sent()
	b, err := s.conn.PrepareBatch(bctx, insertWeather)
	if err != nil {
		return 0, fmt.Errorf("store weather: %w", err)
	}
	defer b.Abort() //nolint:errcheck // a no-op once sent
	for _, v := range values {
		if err := b.Append(v.Region, v.ValidTime, v.IssuedAt, string(v.Kind), v.Source, v.TemperatureC, version, loaded); err != nil {
			return 0, fmt.Errorf("store weather: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return 0, fmt.Errorf("store weather: %w", err)
	}
	return len(values), nil
}

// Series is the values of one region over a range of hours, one per hour at most, in
// time order. Hours without a value are absent: Missing lists them.
type Series []Value

// Missing returns the hours of [from, to) that s has no value for, so that a caller falls
// back (or refuses) knowingly rather than reading a gap as a value.
func (s Series) Missing(from, to time.Time) []time.Time {
	have := make(map[int64]bool, len(s))
	for _, v := range s {
		have[v.ValidTime.Unix()] = true
	}
	var out []time.Time
	for h := from.UTC().Truncate(time.Hour); h.Before(to); h = h.Add(time.Hour) {
		if h.Before(from) {
			continue
		}
		if !have[h.Unix()] {
			out = append(out, h)
		}
	}
	return out
}

// Hourly returns the temperatures of every hour of [from, to) in order, one per hour, or,
// when any hour has no value, an error wrapping fault.ErrNotFound that says how many and
// which is first: the way to get a dense regressor without ever reading a gap as a value.
func (s Series) Hourly(from, to time.Time) ([]float64, error) {
	if missing := s.Missing(from, to); len(missing) > 0 {
		region := ""
		if len(s) > 0 {
			region = s[0].Region + ": "
		}
		return nil, fmt.Errorf("weather: %s%d hours of %s..%s have no value, the first %s: %w", region, len(missing),
			from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), missing[0].Format(time.RFC3339), fault.ErrNotFound)
	}
	byHour := make(map[int64]float64, len(s))
	for _, v := range s {
		byHour[v.ValidTime.Unix()] = v.TemperatureC
	}
	var out []float64
	for h := from.UTC().Truncate(time.Hour); h.Before(to); h = h.Add(time.Hour) {
		if !h.Before(from) {
			out = append(out, byHour[h.Unix()])
		}
	}
	return out, nil
}

// The latest issue wins per hour; at one issue time two sources tie and the greater source
// name wins, so that the answer never depends on the order of parts.
const forecastSQL = `SELECT valid_time,
    argMax(issued_at, (issued_at, source)), argMax(source, (issued_at, source)), argMax(temperature_c, (issued_at, source))
FROM weather FINAL
WHERE region = ? AND kind = 'forecast' AND (? = '' OR source = ?)
  AND issued_at <= ? AND valid_time >= ? AND valid_time < ?
GROUP BY valid_time ORDER BY valid_time`

const observedSQL = `SELECT valid_time,
    argMax(issued_at, source), argMax(source, source), argMax(temperature_c, source)
FROM weather FINAL
WHERE region = ? AND kind = 'observed' AND (? = '' OR source = ?)
  AND valid_time >= ? AND valid_time < ?
GROUP BY valid_time ORDER BY valid_time`

// Query selects the values of one region over the hours [From, To).
type Query struct {
	// Region is the meter registry's region.
	Region string
	// Source, when not empty, takes only this source's values; empty takes every source
	// (where two tie, the greater source name).
	Source string
	// From and To bound the valid times: [From, To).
	From, To time.Time
}

func (q Query) check() error {
	if err := schema.CheckRegion("region", q.Region); err != nil {
		return err
	}
	if q.Source != "" && !schema.ValidMeterID([]byte(q.Source)) {
		return fault.Invalid("source", "%q: want 1-64 characters of A-Z a-z 0-9 . _ : -", q.Source)
	}
	for _, t := range []struct {
		name string
		t    time.Time
	}{{"from", q.From}, {"to", q.To}} {
		if err := schema.CheckTime(t.name, t.t); err != nil {
			return err
		}
	}
	if !q.From.Before(q.To) {
		return fault.Invalid("to", "%s is not after from %s", q.To.UTC().Format(time.RFC3339), q.From.UTC().Format(time.RFC3339))
	}
	return nil
}

// Forecast returns, for each hour of q's range, the forecast issued last at or before
// issuedBy: what a model run at issuedBy could have known. It never returns an
// observation, and an hour no forecast issued by then covers is missing from the series.
func (s *Store) Forecast(ctx context.Context, q Query, issuedBy time.Time) (Series, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	if err := schema.CheckTime("issued_by", issuedBy); err != nil {
		return nil, err
	}
	return s.read(ctx, Forecast, q.Region, forecastSQL, q.Region, q.Source, q.Source, issuedBy.UTC(), q.From.UTC(), q.To.UTC())
}

// Observed returns the observations of each hour of q's range.
func (s *Store) Observed(ctx context.Context, q Query) (Series, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	return s.read(ctx, Observed, q.Region, observedSQL, q.Region, q.Source, q.Source, q.From.UTC(), q.To.UTC())
}

// read runs sql, whose rows are valid_time, issued_at, source, temperature_c, into values
// of kind and region.
func (s *Store) read(ctx context.Context, kind Kind, region, sql string, args ...any) (Series, error) {
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("read weather: %w", err)
	}
	defer rows.Close()
	var out Series
	for rows.Next() {
		v := Value{Region: region, Kind: kind}
		if err := rows.Scan(&v.ValidTime, &v.IssuedAt, &v.Source, &v.TemperatureC); err != nil {
			return nil, fmt.Errorf("read weather: %w", err)
		}
		v.ValidTime, v.IssuedAt = v.ValidTime.UTC(), v.IssuedAt.UTC()
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read weather: %w", err)
	}
	return out, nil
}
