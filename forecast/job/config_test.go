package job

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"issue minute", func(c *Config) { c.IssueAt = "10:30" }, "forecast.issue_at"},
		{"issue text", func(c *Config) { c.IssueAt = "ten" }, "forecast.issue_at"},
		{"zone", func(c *Config) { c.Zone = "Mars/Olympus" }, "forecast.zone"},
		{"local zone", func(c *Config) { c.Zone = "Local" }, "forecast.zone"},
		{"history", func(c *Config) { c.HistoryDays = 10 }, "forecast.history_days"},
		{"validation", func(c *Config) { c.ValidationDays = 0 }, "forecast.validation_days"},
		{"train meters", func(c *Config) { c.TrainMeters = 0 }, "forecast.train_meters"},
		{"no lambdas", func(c *Config) { c.Lambdas = nil }, "forecast.lambdas"},
		{"negative lambda", func(c *Config) { c.Lambdas = []float64{-1} }, "forecast.lambdas"},
		{"workers", func(c *Config) { c.Workers = -1 }, "forecast.workers"},
		{"chunk", func(c *Config) { c.ChunkMeters = 0 }, "forecast.chunk_meters"},
		{"group kind", func(c *Config) { c.GroupMethod = map[string]string{"street": "sum"} }, "forecast.group_method"},
		{"group method", func(c *Config) { c.GroupMethod = map[string]string{"feeder": "mean"} }, "forecast.group_method.feeder"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to name %s", err, tc.want)
			}
		})
	}
}

func TestNextIssue(t *testing.T) {
	c := DefaultConfig()
	c.Zone = "Europe/Berlin"
	tests := []struct {
		now, want string
	}{
		{"2026-06-01T07:59:59Z", "2026-06-01T08:00:00Z"}, // 10:00 CEST
		{"2026-06-01T08:00:00Z", "2026-06-02T08:00:00Z"}, // strictly after
		{"2026-10-24T09:00:00Z", "2026-10-25T09:00:00Z"}, // 10:00 CET after the clocks go back
		{"2026-03-28T09:00:00Z", "2026-03-29T08:00:00Z"}, // 10:00 CEST after they go forward
	}
	for _, tc := range tests {
		now, _ := time.Parse(time.RFC3339, tc.now)
		got, err := c.NextIssue(now)
		if err != nil {
			t.Fatal(err)
		}
		if got.Format(time.RFC3339) != tc.want {
			t.Errorf("NextIssue(%s) = %s, want %s", tc.now, got.Format(time.RFC3339), tc.want)
		}
	}
}
