package job

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/fault"
)

// goodForecast returns a valid forecast of a 24-hour day; each test case breaks one field.
func goodForecast() Forecast {
	wh := make([]float64, 24)
	for i := range wh {
		wh[i] = float64(100 + i)
	}
	return Forecast{Scope: ScopeMeter, ID: "MTR-000001", Issued: time.Date(2026, 3, 27, 6, 0, 0, 0, time.UTC),
		Start: time.Date(2026, 3, 27, 23, 0, 0, 0, time.UTC), Wh: wh, Method: "model", ModelVersion: "v1",
		Scale: 120, NaiveMAE: 12.5}
}

// TestForecastValidate refuses each bad field with an error naming it, and accepts 23-,
// 25- and 48-hour forecasts, groups, the fleet and an unknown naive MAE.
func TestForecastValidate(t *testing.T) {
	for _, c := range []struct {
		name  string
		edit  func(*Forecast)
		field string // "" when valid
	}{
		{"valid", func(*Forecast) {}, ""},
		{"23 hours", func(f *Forecast) { f.Wh = f.Wh[:23] }, ""},
		{"25 hours", func(f *Forecast) { f.Wh = append(f.Wh, 1) }, ""},
		{"48 hours", func(f *Forecast) { f.Wh = make([]float64, 48) }, ""},
		{"feeder", func(f *Forecast) { f.Scope, f.ID = "feeder", "FDR 01" }, ""},
		{"fleet", func(f *Forecast) { f.Scope, f.ID = "fleet", "all" }, ""},
		{"naive MAE unknown", func(f *Forecast) { f.NaiveMAE = math.NaN() }, ""},
		{"baseline without model", func(f *Forecast) { f.Method, f.ModelVersion = "seasonal-naive-week: 5 days of history", "" }, ""},
		{"unknown scope", func(f *Forecast) { f.Scope = "street" }, "scope"},
		{"empty id", func(f *Forecast) { f.ID = "" }, "id"},
		{"bad meter id", func(f *Forecast) { f.ID = "MTR 1" }, "id"},
		{"fleet id", func(f *Forecast) { f.Scope, f.ID = "fleet", "everyone" }, "id"},
		{"empty group id", func(f *Forecast) { f.Scope, f.ID = "region", "" }, "id"},
		{"no hours", func(f *Forecast) { f.Wh = nil }, "wh"},
		{"49 hours", func(f *Forecast) { f.Wh = make([]float64, 49) }, "wh"},
		{"NaN hour", func(f *Forecast) { f.Wh[3] = math.NaN() }, "wh"},
		{"infinite hour", func(f *Forecast) { f.Wh[0] = math.Inf(1) }, "wh"},
		{"NaN scale", func(f *Forecast) { f.Scale = math.NaN() }, "scale"},
		{"infinite scale", func(f *Forecast) { f.Scale = math.Inf(-1) }, "scale"},
		{"infinite naive MAE", func(f *Forecast) { f.NaiveMAE = math.Inf(1) }, "naive_mae"},
		{"negative naive MAE", func(f *Forecast) { f.NaiveMAE = -1 }, "naive_mae"},
		{"no method", func(f *Forecast) { f.Method = "" }, "method"},
		{"issued before 1970", func(f *Forecast) { f.Issued = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) }, "issued"},
		{"start after 2105", func(f *Forecast) { f.Start = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC) }, "start"},
		{"end after 2105", func(f *Forecast) { f.Start = time.Date(2105, 12, 31, 12, 0, 0, 0, time.UTC) }, "wh"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := goodForecast()
			c.edit(&f)
			err := f.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var fe *fault.FieldError
			if !errors.As(err, &fe) || fe.Field != c.field || !errors.Is(err, fault.ErrInvalid) {
				t.Fatalf("error %v, want a field error on %s", err, c.field)
			}
		})
	}
}

// TestModelInfoValidate refuses each bad field of a model with an error naming it.
func TestModelInfoValidate(t *testing.T) {
	good := func() ModelInfo {
		return ModelInfo{Issued: time.Date(2026, 3, 27, 6, 0, 0, 0, time.UTC), ModelVersion: "v1", Class: "residential",
			Features: "lags=24 week day daytype", Lambda: 0.001, TrainedFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			TrainedTo: time.Date(2026, 3, 27, 0, 0, 0, 0, time.UTC), ValidationDays: 14, Samples: 1000, Series: 10,
			FitMAE: 0.1, ValidationMAE: 0.12, BaselineValidationMAE: math.NaN()}
	}
	for _, c := range []struct {
		name  string
		edit  func(*ModelInfo)
		field string
	}{
		{"valid", func(*ModelInfo) {}, ""},
		{"no version", func(m *ModelInfo) { m.ModelVersion = "" }, "model_version"},
		{"no class", func(m *ModelInfo) { m.Class = "" }, "class"},
		{"NaN lambda", func(m *ModelInfo) { m.Lambda = math.NaN() }, "lambda"},
		{"negative lambda", func(m *ModelInfo) { m.Lambda = -1 }, "lambda"},
		{"validation days", func(m *ModelInfo) { m.ValidationDays = 70000 }, "validation_days"},
		{"negative samples", func(m *ModelInfo) { m.Samples = -1 }, "samples"},
		{"negative series", func(m *ModelInfo) { m.Series = -1 }, "series"},
		{"reversed window", func(m *ModelInfo) { m.TrainedTo = m.TrainedFrom.AddDate(0, 0, -1) }, "trained_to"},
		{"infinite fit MAE", func(m *ModelInfo) { m.FitMAE = math.Inf(1) }, "fit_mae"},
		{"issued before 1970", func(m *ModelInfo) { m.Issued = time.Unix(-1, 0) }, "issued"},
	} {
		m := good()
		c.edit(&m)
		err := m.Validate()
		var fe *fault.FieldError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.field != "" && (!errors.As(err, &fe) || fe.Field != c.field):
			t.Errorf("%s: error %v, want a field error on %s", c.name, err, c.field)
		}
	}
}

// TestBatchRefusesBadForecast: Append wraps the validation error with the series and
// keeps nothing of it; a closed batch takes no more rows.
func TestBatchRefusesBadForecast(t *testing.T) {
	s := &Store{}
	b, err := s.NewForecastBatch(t.Context(), time.Date(2026, 3, 27, 6, 5, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	f := goodForecast()
	f.Wh[5] = math.NaN()
	err = b.Append(&f)
	if !errors.Is(err, fault.ErrInvalid) || !strings.Contains(err.Error(), "meter/MTR-000001") || !strings.Contains(err.Error(), "hour 5") {
		t.Errorf("Append of a NaN hour: %v", err)
	}
	if b.scope.Len() != 0 || len(b.arena) != 0 {
		t.Errorf("a refused forecast was buffered: %d rows, %d hours", b.scope.Len(), len(b.arena))
	}
	if err := b.Close(); err != nil { // nothing buffered: nothing sent
		t.Fatal(err)
	}
	g := goodForecast()
	if err := b.Append(&g); !errors.Is(err, errBatchClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if _, err := s.NewForecastBatch(t.Context(), time.Unix(-5, 0)); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("computed_at before 1970: %v", err)
	}
}
