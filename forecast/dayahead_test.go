package forecast

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// recursivePanel builds series whose every day is constant, day k = a·level(k−1) +
// b·(day k−2), from random first days: a spec with one lag at issue hour 0 (hour 23 of
// day k−2 is the last known hour for target day k) is then exactly linear with intercept a
// and lag coefficient b in level units.
func recursivePanel(a, b float64, series, days int) *Panel {
	rng := rand.New(rand.NewPCG(1, 2))
	p := &Panel{First: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), Days: days}
	for range series {
		c := make([]float64, days)
		for k := range 8 {
			c[k] = 50 + 100*rng.Float64()
		}
		for k := 8; k < days; k++ {
			var lv float64
			for j := k - 8; j < k-1; j++ {
				lv += c[j]
			}
			lv /= 7
			c[k] = a*lv + b*c[k-2]
		}
		s := &DaySeries{Load: make([]float64, days*HoursPerDay), Types: make([]DayType, days+1)}
		for k, v := range c {
			for h := range HoursPerDay {
				s.Load[k*HoursPerDay+h] = v
			}
		}
		p.Series = append(p.Series, s)
	}
	return p
}

func TestFitDayAheadHandCase(t *testing.T) {
	const a, b = 0.3, 0.6
	p := recursivePanel(a, b, 6, 12)
	sp := DayAheadSpec{IssueHour: 0, Lags: 1}
	m, err := FitDayAhead(p, sp, firstIssueDay, p.Days-1)
	if err != nil {
		t.Fatal(err)
	}
	for h := range HoursPerDay {
		if got := m.folded[h]; math.Abs(got-a) > 1e-9 {
			t.Errorf("intercept of hour %d = %.12f, want %v", h, got, a)
		}
		if got := m.folded[HoursPerDay+h]; math.Abs(got-b) > 1e-9 {
			t.Errorf("lag coefficient of hour %d = %.12f, want %v", h, got, b)
		}
	}
	if m.FitMAE > 1e-9 {
		t.Errorf("fit MAE %g, want 0 on an exact linear relation", m.FitMAE)
	}
	// The forecast of the last day from the day before it is the day itself.
	s := p.Series[2]
	d := p.Days - 2
	f, err := m.Predict(p, s, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := s.Load[(d+1)*HoursPerDay]
	for h, v := range f {
		if math.Abs(v-want) > 1e-7*want {
			t.Errorf("hour %d: forecast %.9f, want %.9f", h, v, want)
		}
	}
}

// fleetPanel simulates meters with their own level, a daily shape, a weekend effect, a
// holiday (the series' day 30) and a temperature response, plus noise.
func fleetPanel(series, days int, noise float64) *Panel {
	rng := rand.New(rand.NewPCG(7, 8))
	p := &Panel{First: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), Days: days} // a Monday
	temp := make([]float64, (days+1)*HoursPerDay)
	for i := range temp {
		day, h := i/HoursPerDay, i%HoursPerDay
		temp[i] = 20 + 6*math.Sin(2*math.Pi*float64(day)/17) + 5*math.Sin(2*math.Pi*float64(h-9)/24)
	}
	types := make([]DayType, days+1)
	for d := range types {
		switch p.weekday(d) {
		case time.Saturday, time.Sunday:
			types[d] = DayWeekend
		}
	}
	if days > 30 {
		types[30] = DayHoliday
	}
	for range series {
		level := 200 + 800*rng.Float64()
		peak := 17 + rng.IntN(4)
		s := &DaySeries{Load: make([]float64, days*HoursPerDay), Temp: temp, Types: types}
		for i := range s.Load {
			day, h := i/HoursPerDay, i%HoursPerDay
			shape := 0.6 + 0.8*math.Exp(-float64((h-peak)*(h-peak))/8) + 0.3*math.Exp(-float64((h-7)*(h-7))/4)
			if types[day] != DayWorking {
				shape *= 0.8
			}
			t := temp[i] - 18
			shape *= 1 + 0.004*t*t
			s.Load[i] = level * shape * (1 + noise*rng.NormFloat64())
		}
		p.Series = append(p.Series, s)
	}
	return p
}

func TestSelectDayAheadBeatsSeasonalNaive(t *testing.T) {
	p := fleetPanel(40, 42, 0.05)
	specs := []DayAheadSpec{
		{IssueHour: 10, Lags: 24, Week: true, Yesterday: true},
		{IssueHour: 10, Lags: 24, Week: true, Yesterday: true, DayType: true},
		{IssueHour: 10, Lags: 24, Week: true, Yesterday: true, DayType: true, Temp: true},
	}
	sel, err := SelectDayAhead(p, specs, []float64{1e-4, 1e-2}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(sel.Candidates) != 6 {
		t.Fatalf("%d candidates, want 6", len(sel.Candidates))
	}
	if !sel.Model.Spec.Temp || !sel.Model.Spec.DayType {
		t.Errorf("chose %s; the simulated load depends on temperature and day type", sel.Model.Spec)
	}
	if rel := sel.ValidationMAE / sel.BaselineMAE; !(rel < 0.6) {
		t.Errorf("validation MAE %.4f vs seasonal naive %.4f (relative %.3f), want < 0.6", sel.ValidationMAE, sel.BaselineMAE, rel)
	}
	// The holiday (day 30) is in the training days: the model forecasts it lower than the
	// same weekday a week earlier.
	s := p.Series[0]
	f, err := sel.Model.Predict(p, s, 29, nil)
	if err != nil {
		t.Fatal(err)
	}
	var fs, ws float64
	for h := range HoursPerDay {
		fs += f[h]
		ws += s.Load[23*HoursPerDay+h]
	}
	if !(fs < 0.95*ws) {
		t.Errorf("holiday forecast %.0f Wh, the working day a week earlier %.0f Wh: want the holiday lower", fs, ws)
	}
}

func TestDayAheadMissingHistory(t *testing.T) {
	p := fleetPanel(1, 20, 0)
	s := p.Series[0]
	m, err := FitDayAhead(fleetPanel(30, 20, 0.05), DayAheadSpec{IssueHour: 10, Lags: 24, Week: true, Lambda: 1e-3}, firstIssueDay, 19)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Predict(p, s, 5, nil); !errors.Is(err, ErrNoHistory) {
		t.Errorf("issue day 5: %v, want ErrNoHistory (the level needs 7 days)", err)
	}
	s.Load[12*HoursPerDay+9] = math.NaN() // the last hour before the issue on day 12
	if _, err := m.Predict(p, s, 12, nil); !errors.Is(err, ErrNoHistory) {
		t.Errorf("missing lag: %v, want ErrNoHistory", err)
	}
	b, f, err := FallbackBaseline(s, 12, 10)
	if err != nil || b != BaselineWeek {
		t.Fatalf("fallback %q, %v: want %q", b, err, BaselineWeek)
	}
	if f[3] != s.Load[6*HoursPerDay+3] {
		t.Errorf("seasonal naive hour 3 = %v, want day 6's %v", f[3], s.Load[6*HoursPerDay+3])
	}
	s.Load[12*HoursPerDay+9] = 1
	for i := 6 * HoursPerDay; i < 7*HoursPerDay; i++ {
		s.Load[i] = math.NaN()
	}
	if b, _, err := FallbackBaseline(s, 12, 10); err != nil || b != BaselineDay {
		t.Errorf("without day 6: fallback %q, %v, want %q", b, err, BaselineDay)
	}
}

func TestPredictBaseline(t *testing.T) {
	s := &DaySeries{Load: make([]float64, 9*HoursPerDay)}
	for i := range s.Load {
		s.Load[i] = float64(i)
	}
	const d, issue = 8, 10
	tests := []struct {
		b    Baseline
		h    int
		want float64
	}{
		{BaselineWeek, 0, 2 * HoursPerDay},
		{BaselineWeek, 23, 2*HoursPerDay + 23},
		{BaselineDay, 9, 8*HoursPerDay + 9},   // before the issue hour: day D
		{BaselineDay, 10, 7*HoursPerDay + 10}, // from it on: day D−1
		{BaselineLast, 17, 8*HoursPerDay + 9},
	}
	for _, tc := range tests {
		f, err := PredictBaseline(s, d, issue, tc.b)
		if err != nil {
			t.Fatalf("%s: %v", tc.b, err)
		}
		if f[tc.h] != tc.want {
			t.Errorf("%s hour %d = %v, want %v", tc.b, tc.h, f[tc.h], tc.want)
		}
	}
	// Day D's hours from the issue on are never read, even when present.
	if got := NaiveMAE(s, d, issue); got != 7*HoursPerDay {
		t.Errorf("NaiveMAE = %v, want %v", got, 7*HoursPerDay)
	}
}

func TestClockHoursDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		day  time.Time
		n    int
	}{
		{"spring forward", time.Date(2026, 3, 29, 0, 0, 0, 0, berlin), 23},
		{"ordinary", time.Date(2026, 6, 1, 0, 0, 0, 0, berlin), 24},
		{"fall back", time.Date(2026, 10, 25, 0, 0, 0, 0, berlin), 25},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := tc.day.UTC()
			if n := int(time.Date(tc.day.Year(), tc.day.Month(), tc.day.Day()+1, 0, 0, 0, 0, berlin).Sub(tc.day).Hours()); n != tc.n {
				t.Fatalf("day has %d hours, want %d", n, tc.n)
			}
			wh := make([]float64, tc.n)
			for i := range wh {
				wh[i] = float64(10 * start.Add(time.Duration(i)*time.Hour).In(berlin).Hour())
			}
			var c [HoursPerDay]float64
			ClockHours(&c, start, berlin, wh, nil)
			for h, v := range c {
				if v != float64(10*h) {
					t.Errorf("clock hour %d = %v, want %v", h, v, 10*h)
				}
			}
			back := UTCHours(nil, start, berlin, tc.n, &c)
			for i, v := range back {
				if v != wh[i] {
					t.Errorf("UTC hour %d = %v, want %v", i, v, wh[i])
				}
			}
		})
	}
	// An unknown hour is NaN, a doubled one the mean of its two.
	start := time.Date(2026, 10, 25, 0, 0, 0, 0, berlin).UTC()
	wh := make([]float64, 25)
	wh[2], wh[3] = 4, 8 // 02:00 CEST and 02:00 CET
	known := make([]bool, 25)
	for i := range known {
		known[i] = i != 5
	}
	var c [HoursPerDay]float64
	ClockHours(&c, start, berlin, wh, known)
	if c[2] != 6 {
		t.Errorf("doubled clock hour 2 = %v, want the mean 6", c[2])
	}
	if !math.IsNaN(c[4]) {
		t.Errorf("unknown clock hour 4 = %v, want NaN", c[4])
	}
}

func BenchmarkDayAheadPredict(b *testing.B) {
	p := fleetPanel(50, 30, 0.05)
	m, err := FitDayAhead(p, DayAheadSpec{IssueHour: 10, Lags: 24, Week: true, Yesterday: true, DayType: true, Temp: true, Lambda: 1e-3}, firstIssueDay, 29)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]float64, m.Spec.Width())
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := m.Predict(p, p.Series[i%50], 28, buf); err != nil {
			b.Fatal(err)
		}
	}
}
