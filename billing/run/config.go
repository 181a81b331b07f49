package run

import (
	"errors"
	"fmt"
	"time"
)

// Config configures the scheduled billing run: the configuration section billing.
type Config struct {
	// Schedule runs the billing job inside serve every day at RunAt; false leaves it to
	// meterhouse bill run.
	Schedule bool `yaml:"schedule"`
	// RunAt is the local time of day (HH:MM) of the daily run in Zone.
	RunAt string `yaml:"run_at"`
	// Zone is the IANA time zone of RunAt and of the dates that end billing periods.
	Zone string `yaml:"zone"`
	// RerunDays is how many days a period is billed again after it ends: the day after its
	// last day and the RerunDays − 1 days after that. Agreements held for data not yet
	// validated are billed once it is; the others are unchanged (nothing is issued), or get
	// an adjustment when their data was corrected meanwhile.
	RerunDays int `yaml:"rerun_days"`
	// FullRecompute bills every agreement from its 15-minute rows instead of the fast path
	// from daily profiles (the same bills, far slower: for a check, or when profiles are
	// being backfilled).
	FullRecompute bool `yaml:"full_recompute"`
}

// DefaultConfig runs at 06:00 UTC and bills each period on the five days after it ends.
func DefaultConfig() Config {
	return Config{Schedule: true, RunAt: "06:00", Zone: "UTC", RerunDays: 5}
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	if _, err := time.Parse("15:04", c.RunAt); err != nil {
		errs = append(errs, fmt.Errorf("billing.run_at %q: want a time of day like 06:00", c.RunAt))
	}
	if _, err := time.LoadLocation(c.Zone); err != nil || c.Zone == "" || c.Zone == "Local" {
		errs = append(errs, fmt.Errorf("billing.zone %q: want an IANA time zone like Europe/Berlin", c.Zone))
	}
	if c.RerunDays < 1 || c.RerunDays > 28 {
		errs = append(errs, fmt.Errorf("billing.rerun_days %d: want 1 … 28", c.RerunDays))
	}
	return errors.Join(errs...)
}

// DuePeriods returns the periods a run on local date today bills: for each of the last
// rerunDays days d (today included) whose day of the month is a cycle day (1–28), the
// period of that cycle day that ended the day before d, [d − 1 month, d).
func DuePeriods(today time.Time, rerunDays int) []Period {
	var out []Period
	for k := range rerunDays {
		d := time.Date(today.Year(), today.Month(), today.Day()-k, 0, 0, 0, 0, time.UTC)
		if d.Day() > 28 {
			continue
		}
		out = append(out, Period{From: d.AddDate(0, -1, 0), To: d, CycleDay: d.Day()})
	}
	return out
}
