package job

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"time"

	"github.com/meterhouse/meterhouse/schema"
)

// Config configures the forecast job: the configuration section forecast.
type Config struct {
	// Schedule runs the job inside serve every day at IssueAt; false leaves it to
	// meterhouse forecast run.
	Schedule bool `yaml:"schedule"`
	// IssueAt is the local time of day (HH:MM, a whole hour) of the daily issue in Zone.
	// Its forecasts are for each meter's next local day, so the horizon reaches from
	// 24 − IssueAt to 48 − IssueAt hours (14 to 38 hours for 10:00).
	IssueAt string `yaml:"issue_at"`
	// Zone is the IANA time zone of IssueAt and of the groups' and fleet's days.
	Zone string `yaml:"zone"`
	// Region is the calendar region (package calendar/holidays) of the groups that span
	// regions: feeders, customer classes, tariffs and the fleet (a region group uses its
	// own calendar, a meter its region's). Empty: Monday to Friday are working days.
	Region string `yaml:"region"`
	// HistoryDays is the training window of the shared models, in days before the issue
	// day (the issue's own day is never a training target).
	HistoryDays int `yaml:"history_days"`
	// ValidationDays is how many of the last training days are held out to choose the
	// features and the ridge strength; the chosen model is then refitted on all days.
	ValidationDays int `yaml:"validation_days"`
	// TrainMeters is how many meters of each class (customer class and time zone) the
	// shared model is fitted on: the same meters on every run (the smallest hashes of
	// their ids), so a replay fits the same model.
	TrainMeters int `yaml:"train_meters"`
	// Lambdas are the ridge strengths tried (relative to the number of samples).
	Lambdas []float64 `yaml:"lambdas"`
	// Workers is the number of goroutines forecasting meters (default: the number of CPUs).
	Workers int `yaml:"workers"`
	// ChunkMeters bounds the meters of one history query (a range of meter ids, so that
	// ClickHouse's sort of the rows by meter stays small); the rows stream to the workers
	// a meter at a time.
	ChunkMeters int `yaml:"chunk_meters"`
	// WeatherSource, when set, takes temperatures of that source only (see package weather).
	WeatherSource string `yaml:"weather_source"`
	// GroupMethod chooses, per group kind, how a group's forecast is made: "sum" (the sum of
	// its meters' forecasts) or "own" (a model shared by the kind's groups over their
	// group_consumption, falling back to the sum when it cannot be fitted). Kinds not listed
	// use "sum". The default is what bench forecast measured as more accurate on its
	// held-back day: own for feeders, regions and the fleet (their own models' errors were
	// a quarter to a tenth of the sum's), sum for customer classes and tariffs (three and
	// two groups: too few series for a shared group model).
	GroupMethod map[string]string `yaml:"group_method"`
	// ScoreDays is how many days of past issues each run scores against the actuals that
	// have arrived since (late readings and edits are picked up on the next runs).
	ScoreDays int `yaml:"score_days"`
}

// DefaultConfig issues at 10:00 UTC from eight weeks of history, choosing on the last week.
func DefaultConfig() Config {
	return Config{
		Schedule:       true,
		IssueAt:        "10:00",
		Zone:           "UTC",
		HistoryDays:    56,
		ValidationDays: 7,
		TrainMeters:    2000,
		Lambdas:        []float64{1e-4, 1e-3, 1e-2, 1e-1},
		ChunkMeters:    50000,
		ScoreDays:      7,
		GroupMethod:    map[string]string{"feeder": GroupOwn, "region": GroupOwn, "fleet": GroupOwn},
	}
}

// Group methods of Config.GroupMethod.
const (
	GroupSum = "sum"
	GroupOwn = "own"
)

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	if _, err := c.issueHour(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.location(); err != nil {
		errs = append(errs, err)
	}
	if c.ValidationDays < 1 {
		errs = append(errs, fmt.Errorf("forecast.validation_days %d: want ≥ 1", c.ValidationDays))
	}
	if min := 7 + 2 + c.ValidationDays + 1; c.HistoryDays < min || c.HistoryDays > 366 {
		errs = append(errs, fmt.Errorf("forecast.history_days %d: want %d … 366 (a week for the inputs, training days and forecast.validation_days)", c.HistoryDays, min))
	}
	if c.TrainMeters < 1 || c.TrainMeters > 100000 {
		errs = append(errs, fmt.Errorf("forecast.train_meters %d: want 1 … 100000", c.TrainMeters))
	}
	if len(c.Lambdas) == 0 {
		errs = append(errs, errors.New("forecast.lambdas: want at least one ridge strength"))
	}
	for _, l := range c.Lambdas {
		if l < 0 || math.IsNaN(l) || math.IsInf(l, 0) {
			errs = append(errs, fmt.Errorf("forecast.lambdas: %v: want finite values ≥ 0", l))
		}
	}
	if c.Workers < 0 || c.Workers > 256 {
		errs = append(errs, fmt.Errorf("forecast.workers %d: want 0 (one per CPU) … 256", c.Workers))
	}
	if c.ChunkMeters < 1 || c.ChunkMeters > 1000000 {
		errs = append(errs, fmt.Errorf("forecast.chunk_meters %d: want 1 … 1000000", c.ChunkMeters))
	}
	if c.ScoreDays < 0 || c.ScoreDays > 366 {
		errs = append(errs, fmt.Errorf("forecast.score_days %d: want 0 … 366", c.ScoreDays))
	}
	for k, m := range c.GroupMethod {
		if _, err := schema.ParseGroupKind(k); err != nil {
			errs = append(errs, fmt.Errorf("forecast.group_method: %w", err))
		}
		if m != GroupSum && m != GroupOwn {
			errs = append(errs, fmt.Errorf("forecast.group_method.%s: %q: want sum or own", k, m))
		}
	}
	return errors.Join(errs...)
}

// issueHour parses IssueAt.
func (c Config) issueHour() (int, error) {
	t, err := time.Parse("15:04", c.IssueAt)
	if err != nil || t.Minute() != 0 {
		return 0, fmt.Errorf("forecast.issue_at %q: want a whole hour like 10:00", c.IssueAt)
	}
	return t.Hour(), nil
}

// location loads Zone.
func (c Config) location() (*time.Location, error) {
	loc, err := time.LoadLocation(c.Zone)
	if err != nil || c.Zone == "" || c.Zone == "Local" {
		return nil, fmt.Errorf("forecast.zone %q: want an IANA time zone like Europe/Berlin", c.Zone)
	}
	return loc, nil
}

// workers returns the number of forecasting goroutines.
func (c Config) workers() int {
	if c.Workers > 0 {
		return c.Workers
	}
	return runtime.NumCPU()
}

// groupMethod returns the method of group kind k.
func (c Config) groupMethod(k schema.GroupKind) string {
	if m, ok := c.GroupMethod[string(k)]; ok {
		return m
	}
	return GroupSum
}

// NextIssue returns the first issue time strictly after t.
func (c Config) NextIssue(t time.Time) (time.Time, error) {
	h, err := c.issueHour()
	if err != nil {
		return time.Time{}, err
	}
	loc, err := c.location()
	if err != nil {
		return time.Time{}, err
	}
	l := t.In(loc)
	for d := 0; d < 3; d++ {
		at := time.Date(l.Year(), l.Month(), l.Day()+d, h, 0, 0, 0, loc)
		if at.After(t) {
			return at.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("forecast: no issue time after %s", t)
}
