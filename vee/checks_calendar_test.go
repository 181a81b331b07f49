package vee

import (
	"testing"
	"time"
)

// TestSlotsInDayWithoutMidnight checks that the daily-usage rule counts the slots of a
// local day from its first instant: 92 for America/Sao_Paulo's 2018-11-04 (it began at
// 01:00), 100 for 2019-02-16 (the clock fell back at the next midnight).
func TestSlotsInDayWithoutMidnight(t *testing.T) {
	sp, err := time.LoadLocation("America/Sao_Paulo")
	if err != nil {
		t.Fatal(err)
	}
	p := &processor{d: 15 * time.Minute, loc: sp}
	for _, c := range []struct {
		y    int
		m    time.Month
		d    int
		want int64
	}{{2018, 11, 3, 96}, {2018, 11, 4, 92}, {2018, 11, 5, 96}, {2019, 2, 16, 100}, {2019, 2, 17, 96}} {
		if got := p.slotsInDay(c.y, c.m, c.d); got != c.want {
			t.Errorf("slotsInDay(%d-%02d-%02d) = %d, want %d", c.y, c.m, c.d, got, c.want)
		}
	}
}
