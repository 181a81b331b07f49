package run

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.RunAt = "6am" }, "billing.run_at"},
		{func(c *Config) { c.Zone = "Atlantis/Center" }, "billing.zone"},
		{func(c *Config) { c.RerunDays = 0 }, "billing.rerun_days"},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want it to name %s", err, tc.want)
		}
	}
}

func TestDuePeriods(t *testing.T) {
	tests := []struct {
		today string
		days  int
		want  []string // cycle day: from … to
	}{
		{"2026-03-02", 2, []string{"2: 2026-02-02 … 2026-03-02", "1: 2026-02-01 … 2026-03-01"}},
		{"2026-03-01", 3, []string{"1: 2026-02-01 … 2026-03-01", "28: 2026-01-28 … 2026-02-28", "27: 2026-01-27 … 2026-02-27"}},
		// The 29th to 31st are no cycle day.
		{"2026-01-31", 3, nil},
		{"2026-02-01", 3, []string{"1: 2026-01-01 … 2026-02-01"}},
	}
	for _, tc := range tests {
		today, _ := time.Parse(time.DateOnly, tc.today)
		var got []string
		for _, p := range DuePeriods(today, tc.days) {
			got = append(got, fmt.Sprintf("%d: %s … %s", p.CycleDay, p.From.Format(time.DateOnly), p.To.Format(time.DateOnly)))
		}
		if strings.Join(got, "; ") != strings.Join(tc.want, "; ") {
			t.Errorf("DuePeriods(%s, %d) = %q, want %q", tc.today, tc.days, got, tc.want)
		}
	}
}
