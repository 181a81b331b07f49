package job

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
)

// TestRunsOfOneJobAreSerialized runs range runs and edit recomputations of one job at
// once, at the same clock second: the job's own lock serializes them, so that each
// run's computed_at is above the one before it, and none is written twice.
func TestRunsOfOneJobAreSerialized(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	from, to := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	d := simulate(t, 6, from, to, to)
	ctx := context.Background()
	if err := schema.InsertMeters(ctx, conn, d.meters); err != nil {
		t.Fatal(err)
	}
	insertReadings(t, conn, d.readings)
	clock := to.Add(10 * time.Minute)
	j := newJob(t, conn, testConfig(), &clock)

	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		got []time.Time
	)
	for i := range 6 {
		wg.Go(func() {
			var res Result
			var err error
			if i%2 == 0 {
				res, err = j.RunRange(ctx, from, to)
			} else {
				res, err = j.Recompute(ctx, d.meters[0].MeterID, from.Add(24*time.Hour), from.Add(25*time.Hour))
			}
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got = append(got, res.ComputedAt)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(got, time.Time.Compare)
	if len(slices.Compact(slices.Clone(got))) != 6 {
		t.Errorf("computed_at of 6 concurrent runs: %v, want 6 distinct versions", got)
	}
}
