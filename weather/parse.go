package weather

import (
	"io"
	"math"
	"strconv"
	"time"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/table"
)

// Kind says whether a value was observed or forecast.
type Kind string

// The kinds of value.
const (
	// Observed is a measured temperature.
	Observed Kind = "observed"
	// Forecast is a forecast temperature, with its source and issue time.
	Forecast Kind = "forecast"
)

// Value is the temperature of one region and hour, observed or forecast.
type Value struct {
	// Region is the meter registry's region.
	Region string `json:"region"`
	// ValidTime is the hour the value is for: the start of the hour, UTC.
	ValidTime time.Time `json:"valid_time"`
	// IssuedAt is when the forecast was issued; for an observation, ValidTime.
	IssuedAt time.Time `json:"issued_at"`
	// Kind is Observed or Forecast.
	Kind Kind `json:"kind"`
	// Source names the provider or model.
	Source string `json:"source"`
	// TemperatureC is the temperature in degrees Celsius.
	TemperatureC float64 `json:"temperature_c"`
}

// Columns are the columns of the weather CSV format, in any order; issued_at may be left
// out of a file that holds only observations.
var Columns = []string{"region", "valid_time", "issued_at", "kind", "source", "temperature_c"}

// The plausible range of a temperature: anything outside is a unit or data error.
const (
	minTemperatureC = -100
	maxTemperatureC = 70
)

// ParseCSV reads the weather CSV format: a header naming the columns of Columns in any
// order, then one row per region, hour and issue. valid_time and issued_at are RFC 3339;
// valid_time must fall on the hour; issued_at is required for forecasts, which may not be
// for an hour before their issue, and must be empty (or equal to valid_time) for
// observations; kind is observed or forecast; source is 1-64 characters of
// A-Z a-z 0-9 . _ : -; temperature_c is a finite number of degrees Celsius within
// -100..70. Lines starting with # are comments. Every error is a fault.FieldError whose
// field is the column and whose message names the line; a region, kind, source, issue and
// hour given twice is refused.
func ParseCSV(r io.Reader) ([]Value, error) {
	cr, err := table.NewCSVReader(r, "region", "valid_time", "kind", "source", "temperature_c")
	if err != nil {
		return nil, err
	}
	var out []Value
	seen := map[key]int{}
	for {
		ok, err := cr.Next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		v, err := valueOf(cr.Cell)
		if err != nil {
			return nil, cr.Invalid(err)
		}
		k := keyOf(v)
		if first, dup := seen[k]; dup {
			return nil, fault.Invalid("valid_time", "line %d: %s %s %s issued %s for %s is given again (first on line %d)",
				cr.Line(), v.Region, v.Kind, v.Source, v.IssuedAt.Format(time.RFC3339), v.ValidTime.Format(time.RFC3339), first)
		}
		seen[k] = cr.Line()
		out = append(out, v)
	}
}

// key is what identifies a value: a reload of the same key replaces it.
type key struct {
	region, source string
	kind           Kind
	issued, valid  int64
}

func keyOf(v Value) key {
	return key{v.Region, v.Source, v.Kind, v.IssuedAt.Unix(), v.ValidTime.Unix()}
}

// valueOf checks the cells of one row.
func valueOf(cell func(string) string) (Value, error) {
	var v Value
	v.Region = cell("region")
	if err := schema.CheckRegion("region", v.Region); err != nil {
		return v, err
	}
	switch k := Kind(cell("kind")); k {
	case Observed, Forecast:
		v.Kind = k
	default:
		return v, fault.Invalid("kind", "%q: want observed or forecast", cell("kind"))
	}
	v.Source = cell("source")
	if !schema.ValidMeterID([]byte(v.Source)) {
		return v, fault.Invalid("source", "%q: want 1-64 characters of A-Z a-z 0-9 . _ : -", v.Source)
	}
	var err error
	if v.ValidTime, err = schema.ParseTime("valid_time", cell("valid_time")); err != nil {
		return v, err
	}
	if !v.ValidTime.Truncate(time.Hour).Equal(v.ValidTime) {
		return v, fault.Invalid("valid_time", "%s is not on the hour: a value is for the hour starting at valid_time", cell("valid_time"))
	}
	issued := cell("issued_at")
	switch {
	case v.Kind == Forecast && issued == "":
		return v, fault.Invalid("issued_at", "a forecast needs the time it was issued")
	case issued == "":
		v.IssuedAt = v.ValidTime
	default:
		if v.IssuedAt, err = schema.ParseTime("issued_at", issued); err != nil {
			return v, err
		}
	}
	if v.Kind == Observed && !v.IssuedAt.Equal(v.ValidTime) {
		return v, fault.Invalid("issued_at", "%s: an observation has no issue time; leave it empty", issued)
	}
	if v.Kind == Forecast && v.ValidTime.Before(v.IssuedAt.Truncate(time.Hour)) {
		return v, fault.Invalid("valid_time", "%s is before the forecast's issue %s: that is no forecast", cell("valid_time"), issued)
	}
	t := cell("temperature_c")
	if v.TemperatureC, err = strconv.ParseFloat(t, 64); err != nil || math.IsNaN(v.TemperatureC) || math.IsInf(v.TemperatureC, 0) {
		return v, fault.Invalid("temperature_c", "%q is not a finite number", t)
	}
	if v.TemperatureC < minTemperatureC || v.TemperatureC > maxTemperatureC {
		return v, fault.Invalid("temperature_c", "%s °C is outside %d..%d: a unit or data error", t, minTemperatureC, maxTemperatureC)
	}
	return v, nil
}
