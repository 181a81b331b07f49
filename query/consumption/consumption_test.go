package consumption

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
)

func TestDeltas(t *testing.T) {
	h := func(i int) time.Time { return time.Date(2026, 1, 1, i, 0, 0, 0, time.UTC) }
	tests := []struct {
		name    string
		prev    int64
		hasPrev bool
		buckets []bucket
		want    []Point
	}{
		{"no start register drops the first bucket", 0, false,
			[]bucket{{h(0), 100}, {h(1), 130}, {h(2), 190}},
			[]Point{{Start: h(1), Wh: 30}, {Start: h(2), Wh: 60}}},
		{"known start register", 90, true,
			[]bucket{{h(0), 100}, {h(1), 130}},
			[]Point{{Start: h(0), Wh: 10}, {Start: h(1), Wh: 30}}},
		{"gap goes to the bucket after it", 90, true,
			[]bucket{{h(0), 100}, {h(3), 160}},
			[]Point{{Start: h(0), Wh: 10}, {Start: h(3), Wh: 60}}},
		{"register going backwards stays visible", 100, true,
			[]bucket{{h(0), 95}},
			[]Point{{Start: h(0), Wh: -5}}},
		{"nothing", 5, true, nil, []Point{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := deltas(tt.prev, tt.hasPrev, tt.buckets)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			// The points always add up to the register difference they span.
			if len(got) > 0 {
				var sum int64
				for _, p := range got {
					sum += p.Wh
				}
				first := tt.prev
				if !tt.hasPrev {
					first = tt.buckets[0].reg
				}
				if want := tt.buckets[len(tt.buckets)-1].reg - first; sum != want {
					t.Fatalf("points sum to %d, register difference is %d", sum, want)
				}
			}
		})
	}
}

func TestParseStep(t *testing.T) {
	for _, s := range []string{"15m", "1h", "1d"} {
		st, err := ParseStep(s)
		if err != nil || string(st) != s {
			t.Errorf("ParseStep(%s) = %v, %v", s, st, err)
		}
	}
	for _, s := range []string{"", "5m", "1mo", "60m"} {
		if _, err := ParseStep(s); err == nil {
			t.Errorf("ParseStep(%q) accepted", s)
		}
	}
}

// TestConsumptionSQL pins the SQL each step runs; refresh with go test -update.
func TestConsumptionSQL(t *testing.T) {
	for _, step := range []Step{Step15m, Step1h, Step1d, Step1mo} {
		testenv.Golden(t, filepath.Join("testdata", "consumption_"+string(step)+".sql"), consumptionSQL(step)+"\n")
	}
	testenv.Golden(t, filepath.Join("testdata", "register_before.sql"), registerBeforeSQL+"\n")
}

// TestValidatedSQL pins the SQL of validated consumption; refresh with go test -update.
func TestValidatedSQL(t *testing.T) {
	for _, step := range []Step{Step15m, Step1h, Step1d, Step1mo} {
		testenv.Golden(t, filepath.Join("testdata", "validated_"+string(step)+".sql"), validatedSQL(step)+"\n")
	}
	for _, step := range []Step{Step15m, Step1h} {
		testenv.Golden(t, filepath.Join("testdata", "validated_final_"+string(step)+".sql"), validatedFinalSQL(step)+"\n")
	}
}

func TestParseMeterStep(t *testing.T) {
	for _, s := range []string{"15m", "1h", "1d", "1mo"} {
		if st, err := ParseMeterStep(s); err != nil || string(st) != s {
			t.Errorf("ParseMeterStep(%s) = %v, %v", s, st, err)
		}
	}
	for _, s := range []string{"", "1w", "month", "60m"} {
		if _, err := ParseMeterStep(s); err == nil {
			t.Errorf("ParseMeterStep(%q) accepted", s)
		}
	}
}

// TestStepBuckets checks bucket boundaries in a time zone, across both daylight-saving
// changes of Europe/Berlin in 2026 (a 23-hour and a 25-hour day) and of America/Sao_Paulo,
// where a day began at 01:00.
func TestStepBuckets(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	saoPaulo, err := time.LoadLocation("America/Sao_Paulo")
	if err != nil {
		t.Fatal(err)
	}
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		step        Step
		loc         *time.Location
		t           string
		floor, next string
	}{
		{Step15m, berlin, "2026-03-29T01:07:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:15:00Z"},
		{Step1h, berlin, "2026-03-29T01:07:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"},
		{Step1d, time.UTC, "2026-03-29T01:07:00Z", "2026-03-29T00:00:00Z", "2026-03-30T00:00:00Z"},
		{Step1d, berlin, "2026-03-29T12:00:00Z", "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"}, // 23 hours
		{Step1d, berlin, "2026-10-25T12:00:00Z", "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"}, // 25 hours
		{Step1d, berlin, "2026-10-24T22:00:00Z", "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"},
		{Step1mo, berlin, "2026-03-31T22:30:00Z", "2026-03-31T22:00:00Z", "2026-04-30T22:00:00Z"},
		{Step1mo, berlin, "2026-03-15T00:00:00Z", "2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z"},
		{Step1mo, time.UTC, "2026-12-31T23:59:59Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		// America/Sao_Paulo: 2018-11-04 has no midnight (it starts at 01:00, 23 hours).
		{Step1d, saoPaulo, "2018-11-04T12:00:00Z", "2018-11-04T03:00:00Z", "2018-11-05T02:00:00Z"},
		{Step1d, saoPaulo, "2018-11-03T12:00:00Z", "2018-11-03T03:00:00Z", "2018-11-04T03:00:00Z"},
		{Step1d, saoPaulo, "2019-02-16T12:00:00Z", "2019-02-16T02:00:00Z", "2019-02-17T03:00:00Z"}, // 25 hours
	}
	for _, tt := range tests {
		t.Run(string(tt.step)+" "+tt.loc.String()+" "+tt.t, func(t *testing.T) {
			f := tt.step.floor(utc(tt.t), tt.loc)
			if !f.Equal(utc(tt.floor)) {
				t.Errorf("floor = %s, want %s", f.Format(time.RFC3339), tt.floor)
			}
			if n := tt.step.next(f, tt.loc); !n.Equal(utc(tt.next)) {
				t.Errorf("next = %s, want %s", n.Format(time.RFC3339), tt.next)
			}
		})
	}
}
