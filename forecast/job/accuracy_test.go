package job

import (
	"math"
	"testing"
)

// TestMeasure checks the accuracy measures against values computed by hand.
func TestMeasure(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		name             string
		forecast, actual []float64
		complete         []bool
		naive            float64
		want             Errors
	}{
		{
			// errors +10, −20, +5 on an actual of 0; hour 2 is incomplete and not counted.
			// |e| = 10, 20, 5: MAE 35/3; e² = 100, 400, 25: RMSE √175; bias −5/3;
			// MAPE over actual > 0: (10/100 + 20/200)/2 = 0.1; MASE = (35/3)/5.
			name:     "hand-computed",
			forecast: []float64{110, 180, 999, 5},
			actual:   []float64{100, 200, 0, 0},
			complete: []bool{true, true, false, true},
			naive:    5,
			want: Errors{Hours: 3, ActualWh: 300, ForecastWh: 295, MAE: 35.0 / 3, RMSE: math.Sqrt(175),
				MAPE: 0.1, Bias: -5.0 / 3, MASE: 35.0 / 15},
		},
		{
			name: "no positive actual, naive MAE unknown", forecast: []float64{1, 2}, actual: []float64{0, 0},
			complete: []bool{true, true}, naive: nan,
			want: Errors{Hours: 2, ActualWh: 0, ForecastWh: 3, MAE: 1.5, RMSE: math.Sqrt(2.5), MAPE: nan, Bias: 1.5, MASE: nan},
		},
		{
			name: "naive MAE zero", forecast: []float64{4}, actual: []float64{2}, complete: []bool{true}, naive: 0,
			want: Errors{Hours: 1, ActualWh: 2, ForecastWh: 4, MAE: 2, RMSE: 2, MAPE: 1, Bias: 2, MASE: nan},
		},
		{
			name: "no complete hour", forecast: []float64{4, 5}, actual: []float64{2, 3}, complete: []bool{false, false}, naive: 1,
			want: Errors{MAE: nan, RMSE: nan, MAPE: nan, Bias: nan, MASE: nan},
		},
		{
			name: "actuals shorter than the forecast", forecast: []float64{4, 5, 6}, actual: []float64{2}, complete: []bool{true}, naive: 2,
			want: Errors{Hours: 1, ActualWh: 2, ForecastWh: 4, MAE: 2, RMSE: 2, MAPE: 1, Bias: 2, MASE: 1},
		},
	} {
		got := Measure(c.forecast, c.actual, c.complete, c.naive)
		if got.Hours != c.want.Hours {
			t.Errorf("%s: hours %d, want %d", c.name, got.Hours, c.want.Hours)
		}
		for _, v := range []struct {
			name      string
			got, want float64
		}{
			{"actual_wh", got.ActualWh, c.want.ActualWh}, {"forecast_wh", got.ForecastWh, c.want.ForecastWh},
			{"mae", got.MAE, c.want.MAE}, {"rmse", got.RMSE, c.want.RMSE}, {"mape", got.MAPE, c.want.MAPE},
			{"bias", got.Bias, c.want.Bias}, {"mase", got.MASE, c.want.MASE},
		} {
			if !sameFloat(v.got, v.want) {
				t.Errorf("%s: %s = %v, want %v", c.name, v.name, v.got, v.want)
			}
		}
	}
}

// sameFloat reports whether a and b are both NaN or within 1e-9 relative.
func sameFloat(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}

// TestGroupHourComplete: an hour counts when every interval of its members is there,
// measured or estimated.
func TestGroupHourComplete(t *testing.T) {
	for _, c := range []struct {
		intervals, expected, estimated uint32
		want                           bool
	}{{8, 8, 0, true}, {6, 8, 2, true}, {6, 8, 0, false}, {0, 0, 0, false}} {
		if got := groupHourComplete(c.intervals, c.expected, c.estimated); got != c.want {
			t.Errorf("groupHourComplete(%d, %d, %d) = %v", c.intervals, c.expected, c.estimated, got)
		}
	}
}
