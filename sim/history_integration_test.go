package sim

import (
	"context"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestHistoryProfiles checks that History writes every consumption_profiles column
// consistently, as the VEE job would for 15-minute data: 24 elements, 4 intervals per
// hour, the largest quarter and half hour of a split of the hour's energy (max15_wh * 4
// and max30_wh * 2 at least the hour's energy, max15_wh ≤ max30_wh ≤ wh, the split
// uneven), and nothing estimated, edited or substituted.
func TestHistoryProfiles(t *testing.T) {
	ctx := context.Background()
	_, conn := testenv.ClickHouse(t)
	h := History{Meters: 40, First: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), Days: 2, Regions: 3, Seed: 7}
	if err := h.Insert(ctx, conn, false); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT meter_id, day, wh, intervals, max15_wh, max30_wh, estimated, edited, substituted, substituted_wh
FROM consumption_profiles FINAL ORDER BY meter_id, day`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n, hours, uneven15, uneven30 := 0, 0, 0, 0
	for rows.Next() {
		var id string
		var day time.Time
		var wh, max15, max30, substWh []int64
		var intervals, est, edit, subst []uint8
		if err := rows.Scan(&id, &day, &wh, &intervals, &max15, &max30, &est, &edit, &subst, &substWh); err != nil {
			t.Fatal(err)
		}
		n++
		for _, l := range []int{len(wh), len(intervals), len(max15), len(max30), len(est), len(edit), len(subst), len(substWh)} {
			if l != 24 {
				t.Fatalf("%s %s: arrays of %d, %d, %d, %d, %d, %d, %d, %d elements; want 24 each", id, day.Format(time.DateOnly),
					len(wh), len(intervals), len(max15), len(max30), len(est), len(edit), len(subst), len(substWh))
			}
		}
		for i := range wh {
			hours++
			if intervals[i] != 4 || est[i] != 0 || edit[i] != 0 || subst[i] != 0 || substWh[i] != 0 {
				t.Errorf("%s %s hour %d: intervals %d, estimated %d, edited %d, substituted %d (%d Wh); want 4 and zeros",
					id, day.Format(time.DateOnly), i, intervals[i], est[i], edit[i], subst[i], substWh[i])
			}
			// Quarter weights are 8 … 12, so a quarter holds at most a third of the hour
			// (plus the rounding of three quarters) and a block at most 3/5 of it.
			if wh[i] < 0 || max15[i] < 0 || 4*max15[i] < wh[i] || 2*max30[i] < wh[i] || max15[i] > max30[i] ||
				max30[i] > wh[i] || 3*max15[i] > wh[i]+9 || 5*max30[i] > 3*wh[i]+15 {
				t.Errorf("%s %s hour %d: wh %d, max15 %d, max30 %d are no split of the hour into quarters",
					id, day.Format(time.DateOnly), i, wh[i], max15[i], max30[i])
			}
			if 4*max15[i] > wh[i] {
				uneven15++
			}
			if 2*max30[i] > wh[i] {
				uneven30++
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != h.Meters*h.Days {
		t.Errorf("%d profiles, want %d", n, h.Meters*h.Days)
	}
	if uneven15 < hours*9/10 || uneven30 < hours/2 {
		t.Errorf("of %d hours, %d have a quarter above the average and %d a block above half: the split is too even", hours, uneven15, uneven30)
	}
}
