package job

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/internal/testenv"
)

// newTestStore returns a store over a fresh database.
func newTestStore(t *testing.T) (*Store, driver.Conn) {
	t.Helper()
	_, conn := testenv.ClickHouse(t)
	s, err := NewStore(conn)
	if err != nil {
		t.Fatal(err)
	}
	return s, conn
}

// writeForecasts writes fs in one batch with computed_at at.
func writeForecasts(t *testing.T, s *Store, at time.Time, fs ...Forecast) {
	t.Helper()
	b, err := s.NewForecastBatch(context.Background(), at)
	if err != nil {
		t.Fatal(err)
	}
	for i := range fs {
		if err := b.Append(&fs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if b.Written() != len(fs) {
		t.Fatalf("batch wrote %d rows, want %d", b.Written(), len(fs))
	}
}

// TestStoreRoundTrip writes two issues of a meter and re-writes one: the re-write replaces
// it (one row per key with FINAL), Forecast returns the latest issue at or before a time,
// and the caller's slices may be reused once Append returned. A batch of more than
// FlushRows rows is sent in parts, all of them stored; models are stored.
func TestStoreRoundTrip(t *testing.T) {
	s, conn := newTestStore(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 27, 7, 0, 0, 0, time.UTC)
	first, second := goodForecast(), goodForecast()
	second.Issued = first.Issued.Add(24 * time.Hour)
	second.Start = first.Start.Add(24 * time.Hour)
	second.Wh = second.Wh[:23] // the spring-forward day
	second.NaiveMAE = math.NaN()
	writeForecasts(t, s, at, first, second)
	first.Wh[0] = -1 // the batch kept its own copy

	redo := goodForecast()
	redo.Method, redo.ModelVersion = "seasonal-naive-week: 5 days of history", ""
	for i := range redo.Wh {
		redo.Wh[i] = 7
	}
	writeForecasts(t, s, at.Add(time.Hour), redo)

	var n, all uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM forecasts FINAL WHERE scope = 'meter' AND id = 'MTR-000001'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM forecasts").Scan(&all); err != nil {
		t.Fatal(err)
	}
	if n != 2 || all != 3 {
		t.Errorf("%d rows with FINAL (%d stored), want 2 (3)", n, all)
	}
	for _, c := range []struct {
		by         time.Time
		found      bool
		issued     time.Time
		hours      int
		method     string
		naiveIsNaN bool
	}{
		{first.Issued.Add(-time.Second), false, time.Time{}, 0, "", false},
		{first.Issued, true, first.Issued, 24, redo.Method, false},
		{second.Issued.Add(-time.Second), true, first.Issued, 24, redo.Method, false},
		{second.Issued.Add(time.Hour), true, second.Issued, 23, "model", true},
	} {
		f, ok, err := s.Forecast(ctx, ScopeMeter, "MTR-000001", c.by)
		if err != nil {
			t.Fatal(err)
		}
		if ok != c.found || ok && (!f.Issued.Equal(c.issued) || len(f.Wh) != c.hours || f.Method != c.method || math.IsNaN(f.NaiveMAE) != c.naiveIsNaN) {
			t.Errorf("Forecast by %s: %v %+v, want found %v issued %s with %d hours by %s", c.by, ok, f, c.found, c.issued, c.hours, c.method)
		}
		if ok && c.issued.Equal(first.Issued) && (f.Wh[0] != 7 || f.ModelVersion != "" || f.Scale != 120 || f.NaiveMAE != 12.5 || !f.Start.Equal(first.Start)) {
			t.Errorf("re-written forecast read back as %+v", f)
		}
	}
	if _, ok, err := s.Forecast(ctx, "feeder", "FDR-01", second.Issued); ok || err != nil {
		t.Errorf("forecast of a feeder without one: %v %v", ok, err)
	}

	// More than FlushRows rows in one batch.
	many := make([]Forecast, FlushRows+3)
	for i := range many {
		many[i] = Forecast{Scope: ScopeMeter, ID: fmt.Sprintf("M-%06d", i), Issued: first.Issued, Start: first.Start,
			Wh: []float64{float64(i), 1}, Method: "model", Scale: 1, NaiveMAE: 1}
	}
	writeForecasts(t, s, at, many...)
	var got, sum float64
	if err := conn.QueryRow(ctx, "SELECT toFloat64(count()), sum(wh[1]) FROM forecasts FINAL WHERE id LIKE 'M-%'").Scan(&got, &sum); err != nil {
		t.Fatal(err)
	}
	if k := float64(len(many)); got != k || sum != k*(k-1)/2 {
		t.Errorf("%v rows summing to %v, want %v summing to %v", got, sum, k, k*(k-1)/2)
	}

	models := []ModelInfo{{Issued: first.Issued, ModelVersion: "v1", Class: "residential", Features: "lags=24 week", Lambda: 0.01,
		TrainedFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), TrainedTo: time.Date(2026, 3, 27, 0, 0, 0, 0, time.UTC),
		ValidationDays: 14, Samples: 500, Series: 3, FitMAE: 0.1, ValidationMAE: 0.2, BaselineValidationMAE: 0.3},
		{Issued: first.Issued, ModelVersion: "v2", Class: "feeder/FDR-01", Lambda: 0, ValidationMAE: math.NaN(),
			TrainedFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), TrainedTo: time.Date(2026, 3, 27, 0, 0, 0, 0, time.UTC)}}
	for range 2 { // a re-run replaces
		if err := s.WriteModels(ctx, models, at); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := conn.Query(ctx, "SELECT model_version, class, toString(trained_from), toString(trained_to), validation_days, samples, isNaN(validation_mae) FROM forecast_models FINAL ORDER BY model_version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var v, c, from, to string
		var days uint16
		var samples uint64
		var nan uint8
		if err := rows.Scan(&v, &c, &from, &to, &days, &samples, &nan); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprintf("%s %s %s %s %d %d %d", v, c, from, to, days, samples, nan))
	}
	want := []string{"v1 residential 2026-01-01 2026-03-27 14 500 0", "v2 feeder/FDR-01 2026-01-01 2026-03-27 0 0 1"}
	if !slices.Equal(lines, want) {
		t.Errorf("models %q, want %q", lines, want)
	}
	bad := models[:1:1]
	bad[0].Lambda = math.Inf(1)
	if err := s.WriteModels(ctx, bad, at); err == nil {
		t.Error("a model with an infinite lambda was written")
	}
}
