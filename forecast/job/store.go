package job

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/table"
)

// ScopeMeter is the scope of a meter's forecast; every other scope is a schema.GroupKind.
const ScopeMeter = "meter"

// MaxHours is the most hours one forecast may hold (a day-ahead forecast holds the 23 to
// 25 hours of one local day; up to two days are accepted).
const MaxHours = 48

// FlushRows is the number of rows a ForecastBatch (and Score) buffers before it sends
// them to ClickHouse as one insert.
const FlushRows = 50_000

// Forecast is one row of the forecasts table: the forecast of one series made at one issue
// time (see schema/migrations/0031_forecasts.sql).
type Forecast struct {
	// Scope is ScopeMeter or a schema.GroupKind ("feeder", "region", "customer_class",
	// "tariff", "fleet").
	Scope string
	// ID is the meter id, or the group id (schema.FleetID for the fleet).
	ID string
	// Issued is the issue time the run was made for; stored to the second, in UTC.
	Issued time.Time
	// Start is the UTC start of the first forecast hour.
	Start time.Time
	// Wh holds the forecast energy of hour Start + i hours: 1 to MaxHours finite values.
	Wh []float64
	// Method names what produced the forecast: "model", "sum", "group-model" or a
	// baseline with its reason.
	Method string
	// ModelVersion is the forecast_models row of the model used; empty for a baseline.
	ModelVersion string
	// Scale is the level the shared model was scaled by (finite).
	Scale float64
	// NaiveMAE is the in-sample MAE of seasonal naive, the MASE denominator; NaN when the
	// history was too short, never infinite or negative.
	NaiveMAE float64
}

// ModelInfo is one row of the forecast_models table: a fitted model, its training window,
// features and errors (see schema/migrations/0032_forecast_models.sql).
type ModelInfo struct {
	// Issued is the issue time of the run that fitted the model.
	Issued time.Time
	// ModelVersion identifies the model; the forecasts name it.
	ModelVersion string
	// Class is the meter class or group series the model serves.
	Class string
	// Features describes the chosen spec.
	Features string
	// Lambda is the ridge strength (finite, not negative).
	Lambda float64
	// TrainedFrom and TrainedTo bound the training window [from, to), local dates of
	// which only year, month and day count.
	TrainedFrom, TrainedTo time.Time
	// ValidationDays is the number of days held out for validation (0 to 65535).
	ValidationDays int
	// Samples and Series count what the model was fitted on.
	Samples, Series int
	// FitMAE, ValidationMAE and BaselineValidationMAE are mean absolute errors on the
	// scaled series; NaN when not computed, never infinite.
	FitMAE, ValidationMAE, BaselineValidationMAE float64
}

// Store writes and reads forecasts, models and forecast accuracy in ClickHouse. It is safe
// for concurrent use; a ForecastBatch is not.
type Store struct {
	conn driver.Conn
	now  func() time.Time
}

// NewStore returns a store over conn, a connection to the platform database.
func NewStore(conn driver.Conn) (*Store, error) {
	if conn == nil {
		return nil, errors.New("forecast store: NewStore needs a ClickHouse connection")
	}
	return &Store{conn: conn, now: time.Now}, nil
}

// CheckSeries returns a fault.FieldError unless scope is ScopeMeter or a group kind and id
// a valid id of it: a meter id (schema.ValidMeterID) or a group id (schema.CheckGroupID).
// scopeField and idField name the fields in the error.
func CheckSeries(scopeField, scope, idField, id string) error {
	if scope == ScopeMeter {
		if !schema.ValidMeterID([]byte(id)) {
			return fault.Invalid(idField, "%q is not a meter id: 1-64 characters of A-Z a-z 0-9 . _ : -", id)
		}
		return nil
	}
	k, err := schema.ParseGroupKind(scope)
	if err != nil {
		return fault.Invalid(scopeField, "%q is not meter or a group kind (feeder, region, customer_class, tariff, fleet)", scope)
	}
	return schema.CheckGroupID(idField, k, id)
}

// Validate reports the first field of f that the forecasts table must not hold: an unknown
// scope or bad id, a time the store cannot hold, no or more than MaxHours hours, a
// non-finite value, an empty method or a bad naive MAE. The error is a fault.FieldError
// naming the field.
func (f *Forecast) Validate() error {
	if err := CheckSeries("scope", f.Scope, "id", f.ID); err != nil {
		return err
	}
	if err := schema.CheckTime("issued", f.Issued); err != nil {
		return err
	}
	if err := schema.CheckTime("start", f.Start); err != nil {
		return err
	}
	if n := len(f.Wh); n < 1 || n > MaxHours {
		return fault.Invalid("wh", "%d hours: want 1 to %d", n, MaxHours)
	}
	if err := schema.CheckTime("wh", f.Start.Add(time.Duration(len(f.Wh))*time.Hour)); err != nil {
		return err
	}
	for i, v := range f.Wh {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fault.Invalid("wh", "hour %d is %v: every value must be finite", i, v)
		}
	}
	if f.Method == "" {
		return fault.Invalid("method", "is required")
	}
	if math.IsNaN(f.Scale) || math.IsInf(f.Scale, 0) {
		return fault.Invalid("scale", "is %v: must be finite", f.Scale)
	}
	if math.IsInf(f.NaiveMAE, 0) || f.NaiveMAE < 0 {
		return fault.Invalid("naive_mae", "is %v: must be finite and not negative, or NaN when unknown", f.NaiveMAE)
	}
	return nil
}

// Validate reports the first field of m that the forecast_models table must not hold, as
// a fault.FieldError naming it.
func (m *ModelInfo) Validate() error {
	switch {
	case m.ModelVersion == "":
		return fault.Invalid("model_version", "is required")
	case m.Class == "":
		return fault.Invalid("class", "is required")
	case math.IsNaN(m.Lambda) || math.IsInf(m.Lambda, 0) || m.Lambda < 0:
		return fault.Invalid("lambda", "is %v: must be finite and not negative", m.Lambda)
	case m.ValidationDays < 0 || m.ValidationDays > math.MaxUint16:
		return fault.Invalid("validation_days", "is %d: want 0 to %d", m.ValidationDays, math.MaxUint16)
	case m.Samples < 0:
		return fault.Invalid("samples", "is %d: must not be negative", m.Samples)
	case m.Series < 0:
		return fault.Invalid("series", "is %d: must not be negative", m.Series)
	case m.TrainedTo.Before(m.TrainedFrom):
		return fault.Invalid("trained_to", "%s is before trained_from %s", m.TrainedTo.Format(time.DateOnly), m.TrainedFrom.Format(time.DateOnly))
	}
	for _, t := range []struct {
		name string
		t    time.Time
	}{{"issued", m.Issued}, {"trained_from", m.TrainedFrom}, {"trained_to", m.TrainedTo}} {
		if err := schema.CheckTime(t.name, t.t); err != nil {
			return err
		}
	}
	for _, v := range []struct {
		name string
		v    float64
	}{{"fit_mae", m.FitMAE}, {"validation_mae", m.ValidationMAE}, {"baseline_validation_mae", m.BaselineValidationMAE}} {
		if math.IsInf(v.v, 0) || v.v < 0 {
			return fault.Invalid(v.name, "is %v: must be finite and not negative, or NaN when not computed", v.v)
		}
	}
	return nil
}

const insertForecasts = `INSERT INTO forecasts (scope, id, issued, start, wh, method, model_version, scale, naive_mae, computed_at)`

const insertModels = `INSERT INTO forecast_models (issued, model_version, class, features, lambda, trained_from, trained_to, validation_days, samples, series, fit_mae, validation_mae, baseline_validation_mae, computed_at)`

// insertColumns sends one columnar insert of n rows: cols are the column slices in the
// order sql names them. what names the rows in errors.
func (s *Store) insertColumns(ctx context.Context, sql, what string, n int, cols ...any) error {
	if n == 0 {
		return nil
	}
	bctx, sent := schema.BatchContext(ctx)
	defer sent()
	b, err := s.conn.PrepareBatch(bctx, sql)
	if err != nil {
		return fmt.Errorf("prepare %s insert: %w", what, err)
	}
	defer b.Abort() //nolint:errcheck // a no-op once sent
	for i, c := range cols {
		if err := b.Column(i).Append(c); err != nil {
			return fmt.Errorf("append %s column %d: %w", what, i, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert %d %s: %w", n, what, err)
	}
	return nil
}

// ForecastBatch buffers forecasts and writes them to the forecasts table FlushRows at a
// time. Rows with the key of a stored row (scope, id, issued) replace it. It is not safe
// for concurrent use. Make one with Store.NewForecastBatch and Close it.
type ForecastBatch struct {
	s          *Store
	ctx        context.Context
	computedAt time.Time
	closed     bool
	written    int

	scope, id, method, version *table.Col[string]
	issued, start, at          *table.Col[time.Time]
	scale, naive               *table.Col[float64]
	// arena holds the hours of every buffered row one after the other, lens the number
	// of each row's; flush cuts wh out of them, so that Append allocates nothing once the
	// buffers have grown (package table has no list-of-float column).
	arena []float64
	lens  []int
	wh    [][]float64
}

// NewForecastBatch returns a batch whose rows are written with computed_at computedAt
// (the replacement version: a later one replaces an earlier one) under ctx.
func (s *Store) NewForecastBatch(ctx context.Context, computedAt time.Time) (*ForecastBatch, error) {
	if err := schema.CheckTime("computed_at", computedAt); err != nil {
		return nil, fmt.Errorf("forecast batch: %w", err)
	}
	return &ForecastBatch{
		s: s, ctx: ctx, computedAt: computedAt.UTC().Truncate(time.Second),
		scope: table.Strings("scope", nil), id: table.Strings("id", nil),
		method: table.Strings("method", nil), version: table.Strings("model_version", nil),
		issued: table.Times("issued", nil), start: table.Times("start", nil), at: table.Times("computed_at", nil),
		scale: table.Float64s("scale", nil), naive: table.Float64s("naive_mae", nil),
	}, nil
}

// errBatchClosed is returned by Append after Close.
var errBatchClosed = errors.New("forecast batch: closed")

// Append validates f (Forecast.Validate) and buffers a copy of it, sending the buffer
// once it holds FlushRows rows. f may be reused after Append returns.
func (b *ForecastBatch) Append(f *Forecast) error {
	if b.closed {
		return errBatchClosed
	}
	if err := f.Validate(); err != nil {
		return fmt.Errorf("forecast %s/%s issued %s: %w", f.Scope, f.ID, f.Issued.UTC().Format(time.RFC3339), err)
	}
	b.scope.Append(f.Scope)
	b.id.Append(f.ID)
	b.issued.Append(f.Issued.UTC().Truncate(time.Second))
	b.start.Append(f.Start.UTC().Truncate(time.Second))
	b.arena = append(b.arena, f.Wh...)
	b.lens = append(b.lens, len(f.Wh))
	b.method.Append(f.Method)
	b.version.Append(f.ModelVersion)
	b.scale.Append(f.Scale)
	b.naive.Append(f.NaiveMAE)
	b.at.Append(b.computedAt)
	if b.scope.Len() >= FlushRows {
		return b.flush()
	}
	return nil
}

// flush sends the buffered rows and empties the buffers, keeping their memory.
func (b *ForecastBatch) flush() error {
	n := b.scope.Len()
	if n == 0 {
		return nil
	}
	// The hours are cut from the arena now that it no longer moves.
	b.wh = b.wh[:0]
	off := 0
	for _, l := range b.lens {
		b.wh = append(b.wh, b.arena[off:off+l:off+l])
		off += l
	}
	err := b.s.insertColumns(b.ctx, insertForecasts, "forecasts", n, b.scope.Values, b.id.Values, b.issued.Values,
		b.start.Values, b.wh, b.method.Values, b.version.Values, b.scale.Values, b.naive.Values, b.at.Values)
	if err != nil {
		return err
	}
	b.written += n
	for _, c := range []table.Column{b.scope, b.id, b.method, b.version, b.issued, b.start, b.at, b.scale, b.naive} {
		c.Reset()
	}
	clear(b.wh)
	b.wh, b.arena, b.lens = b.wh[:0], b.arena[:0], b.lens[:0]
	return nil
}

// Close sends the rows still buffered. The batch takes no rows after; closing it again
// does nothing.
func (b *ForecastBatch) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	return b.flush()
}

// Written returns the number of rows sent so far.
func (b *ForecastBatch) Written() int { return b.written }

// WriteModels validates ms (ModelInfo.Validate) and writes them to forecast_models in one
// insert, with computed_at computedAt: rows with the key of stored ones (issued,
// model_version) replace them.
func (s *Store) WriteModels(ctx context.Context, ms []ModelInfo, computedAt time.Time) error {
	if err := schema.CheckTime("computed_at", computedAt); err != nil {
		return fmt.Errorf("write models: %w", err)
	}
	n := len(ms)
	issued, from, to, at := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	version, class, features := make([]string, n), make([]string, n), make([]string, n)
	lambda, fit, val, base := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	days := make([]uint16, n)
	samples, series := make([]uint64, n), make([]uint64, n)
	for i := range ms {
		m := &ms[i]
		if err := m.Validate(); err != nil {
			return fmt.Errorf("model %q: %w", m.ModelVersion, err)
		}
		issued[i], at[i] = m.Issued.UTC().Truncate(time.Second), computedAt.UTC().Truncate(time.Second)
		from[i], to[i] = dateOf(m.TrainedFrom), dateOf(m.TrainedTo)
		version[i], class[i], features[i] = m.ModelVersion, m.Class, m.Features
		lambda[i], fit[i], val[i], base[i] = m.Lambda, m.FitMAE, m.ValidationMAE, m.BaselineValidationMAE
		days[i], samples[i], series[i] = uint16(m.ValidationDays), uint64(m.Samples), uint64(m.Series)
	}
	return s.insertColumns(ctx, insertModels, "forecast models", n, issued, version, class, features, lambda,
		from, to, days, samples, series, fit, val, base, at)
}

// dateOf returns the calendar date of t (in t's location) as midnight UTC, the way a Date
// column stores it.
func dateOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// forecastSQL reads a series' latest issue at or before a time.
const forecastSQL = `SELECT issued, start, wh, method, model_version, scale, naive_mae
FROM forecasts FINAL
WHERE scope = ? AND id = ? AND issued <= ?
ORDER BY issued DESC
LIMIT 1`

// Forecast returns the forecast of a series issued last at or before issuedBy, and false
// when there is none.
func (s *Store) Forecast(ctx context.Context, scope, id string, issuedBy time.Time) (Forecast, bool, error) {
	if err := CheckSeries("scope", scope, "id", id); err != nil {
		return Forecast{}, false, err
	}
	if err := schema.CheckTime("issued", issuedBy); err != nil {
		return Forecast{}, false, err
	}
	rows, err := s.conn.Query(ctx, forecastSQL, scope, id, issuedBy.UTC())
	if err != nil {
		return Forecast{}, false, fmt.Errorf("read forecast %s/%s: %w", scope, id, err)
	}
	defer rows.Close()
	f := Forecast{Scope: scope, ID: id}
	found := false
	for rows.Next() {
		if err := rows.Scan(&f.Issued, &f.Start, &f.Wh, &f.Method, &f.ModelVersion, &f.Scale, &f.NaiveMAE); err != nil {
			return Forecast{}, false, fmt.Errorf("read forecast %s/%s: %w", scope, id, err)
		}
		f.Issued, f.Start, found = f.Issued.UTC(), f.Start.UTC(), true
	}
	if err := rows.Err(); err != nil {
		return Forecast{}, false, fmt.Errorf("read forecast %s/%s: %w", scope, id, err)
	}
	return f, found, nil
}
