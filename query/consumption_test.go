package query

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

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
			[]Point{{h(1), 30}, {h(2), 60}}},
		{"known start register", 90, true,
			[]bucket{{h(0), 100}, {h(1), 130}},
			[]Point{{h(0), 10}, {h(1), 30}}},
		{"gap goes to the bucket after it", 90, true,
			[]bucket{{h(0), 100}, {h(3), 160}},
			[]Point{{h(0), 10}, {h(3), 60}}},
		{"register going backwards stays visible", 100, true,
			[]bucket{{h(0), 95}},
			[]Point{{h(0), -5}}},
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
	for _, step := range []Step{Step15m, Step1h, Step1d} {
		buckets, before := consumptionSQL(step)
		got := "-- buckets\n" + buckets + "\n-- before\n" + before + "\n"
		path := filepath.Join("testdata", "consumption_"+string(step)+".sql")
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("step %s SQL changed:\n%s\nwant:\n%s", step, got, want)
		}
	}
}
