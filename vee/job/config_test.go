package job

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/vee"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		key    string // "" when valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"periodic run off", func(c *Config) { c.Interval = 0 }, ""},
		{"negative interval", func(c *Config) { c.Interval = -time.Second }, "vee.interval"},
		{"negative settle", func(c *Config) { c.Settle = -time.Second }, "vee.settle"},
		{"negative lateness", func(c *Config) { c.Lateness = -time.Hour }, "vee.lateness"},
		{"max gap below an interval", func(c *Config) { c.MaxGap = time.Minute }, "vee.max_gap"},
		{"history too long", func(c *Config) { c.HistoryDays = 400 }, "vee.history_days"},
		{"no batch", func(c *Config) { c.BatchMeters = 0 }, "vee.batch_meters"},
		{"no workers", func(c *Config) { c.Workers = 0 }, "vee.workers"},
		{"too many workers", func(c *Config) { c.Workers = 65 }, "vee.workers"},
		{"bad default rule", func(c *Config) { c.Rules.Default.Spike.Factor = 1 }, "vee.rules.default.spike.factor"},
		{"negative relay tolerance", func(c *Config) { c.Rules.Default.ConsumptionWhileDisconnected.ToleranceWh = -1 },
			"vee.rules.default.consumption_while_disconnected.tolerance_wh"},
		{"private database", func(c *Config) { c.PrivateDatabase = "mh_private" }, ""},
		{"private database not an identifier", func(c *Config) { c.PrivateDatabase = "mh; DROP" }, "vee.private_database"},
		{"bad class rule", func(c *Config) {
			rs := vee.DefaultRuleSet()
			rs.ZeroRun.MinDuration = 0
			c.Rules.Classes = map[string]vee.RuleSet{"industrial": rs}
		}, "vee.rules.classes.industrial.zero_run.min_duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.change(&c)
			err := c.Validate()
			if tt.key == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.key+":") {
				t.Fatalf("Validate = %v, want an error naming %s", err, tt.key)
			}
			if _, err := New(c, nil, nil); err == nil {
				t.Error("New accepted the configuration")
			}
		})
	}
}

func TestRulesYAML(t *testing.T) {
	in := `
interval: 1m
rules:
  default:
    spike: {factor: 4, min_wh: 500}
    timestamp: {max_lateness: 48h}
  classes:
    industrial:
      zero_run: {min_duration: 2h}
`
	c := DefaultConfig()
	if err := yaml.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if c.Interval != time.Minute || c.Rules.Default.Spike.Factor != 4 || c.Rules.Default.Spike.MinWh != 500 ||
		c.Rules.Default.Timestamp.MaxLateness != 48*time.Hour || c.Rules.Default.Spike.Percentile != 95 {
		t.Errorf("default rules: %+v", c.Rules.Default)
	}
	if c.Rules.Default.ConsumptionWhileDisconnected != (vee.ConsumptionWhileDisconnectedRule{Enabled: true}) {
		t.Errorf("relay rule defaults: %+v", c.Rules.Default.ConsumptionWhileDisconnected)
	}
	tol := DefaultConfig()
	if err := yaml.Unmarshal([]byte("rules: {default: {consumption_while_disconnected: {tolerance_wh: 5}}}"), &tol); err != nil ||
		tol.Rules.Default.ConsumptionWhileDisconnected.ToleranceWh != 5 {
		t.Errorf("consumption_while_disconnected.tolerance_wh: %v, %+v", err, tol.Rules.Default.ConsumptionWhileDisconnected)
	}
	ind := c.Rules.For("industrial")
	if ind.ZeroRun.MinDuration != 2*time.Hour || ind.Spike.Factor != 4 || ind.Timestamp.MaxLateness != 48*time.Hour {
		t.Errorf("a class starts from the configured default: %+v", ind)
	}
	if c.Rules.For("residential").ZeroRun.MinDuration != 24*time.Hour {
		t.Error("a class without rules does not use the default")
	}
	// What is printed reads back the same.
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "max_lateness: 48h0m0s") || !strings.Contains(string(out), "snap_tolerance: 30s") {
		t.Errorf("printed rules:\n%s", out)
	}
	back := DefaultConfig()
	if err := yaml.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if back.Rules.Default != c.Rules.Default || back.Rules.For("industrial") != ind {
		t.Errorf("round trip changed the rules:\n%s", out)
	}

	for _, bad := range []struct{ yaml, key string }{
		{"rules: {default: {spike: {factr: 2}}}", "vee.rules.default.spike.factr"},
		{"rules: {default: {spike: {factor: high}}}", "vee.rules.default.spike.factor"},
		{"rules: {classes: {industrial: {zero_run: {min_duration: 3}}}}", "vee.rules.classes.industrial.zero_run.min_duration"},
		{"rules: {defaults: {}}", "vee.rules.defaults"},
	} {
		c := DefaultConfig()
		if err := yaml.Unmarshal([]byte(bad.yaml), &c); err == nil || !strings.Contains(err.Error(), bad.key) {
			t.Errorf("%s: %v, want an error naming %s", bad.yaml, err, bad.key)
		}
	}
}

func TestEditRequestParse(t *testing.T) {
	wh := int64(250)
	neg, huge, spreadMax, spreadOver := int64(-1), int64(DefaultMaxEditWh+1), int64(8*DefaultMaxEditWh), int64(8*DefaultMaxEditWh+1)
	tests := []struct {
		name  string
		req   EditRequest
		field string // "" when valid
	}{
		{"one interval", EditRequest{Start: "2026-01-01T10:00:00Z", Wh: &wh, Reason: "r"}, ""},
		{"range spread", EditRequest{Start: "2026-01-01T10:00:00+01:00", End: "2026-01-01T12:00:00Z", Wh: &wh, Mode: "spread", Reason: "r"}, ""},
		{"spread at the limit", EditRequest{Start: "2026-01-01T10:00:00Z", End: "2026-01-01T12:00:00Z", Wh: &spreadMax, Mode: "spread", Reason: "r"}, ""},
		{"last whole interval the store holds", EditRequest{Start: "2105-12-31T23:30:00Z", End: "2105-12-31T23:45:00Z", Wh: &wh, Reason: "r"}, ""},
		{"no start", EditRequest{Wh: &wh, Reason: "r"}, "start"},
		{"off grid", EditRequest{Start: "2026-01-01T10:05:00Z", Wh: &wh, Reason: "r"}, "start"},
		{"bad end", EditRequest{Start: "2026-01-01T10:00:00Z", End: "soon", Wh: &wh, Reason: "r"}, "end"},
		{"end before start", EditRequest{Start: "2026-01-01T10:00:00Z", End: "2026-01-01T09:00:00Z", Wh: &wh, Reason: "r"}, "end"},
		{"too long", EditRequest{Start: "2026-01-01T00:00:00Z", End: "2026-03-01T00:00:00Z", Wh: &wh, Reason: "r"}, "end"},
		{"no value", EditRequest{Start: "2026-01-01T10:00:00Z", Reason: "r"}, "wh"},
		{"bad mode", EditRequest{Start: "2026-01-01T10:00:00Z", Wh: &wh, Mode: "all", Reason: "r"}, "mode"},
		{"no reason", EditRequest{Start: "2026-01-01T10:00:00Z", Wh: &wh}, "reason"},
		// Times a DateTime column cannot hold (they were stored wrapped around).
		{"start in 2163", EditRequest{Start: "2163-01-01T10:00:00Z", Wh: &wh, Reason: "r"}, "start"},
		{"start in 1900", EditRequest{Start: "1900-01-01T00:00:00Z", Wh: &wh, Reason: "r"}, "start"},
		{"end in 2200", EditRequest{Start: "2105-12-01T00:00:00Z", End: "2200-01-01T00:00:00Z", Wh: &wh, Reason: "r"}, "end"},
		{"default end past the store", EditRequest{Start: "2105-12-31T23:45:00Z", Wh: &wh, Reason: "r"}, "end"},
		// Implausible values.
		{"negative", EditRequest{Start: "2026-01-01T10:00:00Z", Wh: &neg, Reason: "r"}, "wh"},
		{"above the limit", EditRequest{Start: "2026-01-01T10:00:00Z", Wh: &huge, Reason: "r"}, "wh"},
		{"spread above the limit", EditRequest{Start: "2026-01-01T10:00:00Z", End: "2026-01-01T12:00:00Z", Wh: &spreadOver, Mode: "spread", Reason: "r"}, "wh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := tt.req.parse("m", DefaultMaxEditWh)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if e.Mode == "" || !e.End.After(e.Start) || e.Wh != *tt.req.Wh {
					t.Errorf("parsed %+v", e)
				}
				return
			}
			if !errors.Is(err, fault.ErrInvalid) || !strings.HasPrefix(err.Error(), tt.field+":") {
				t.Errorf("parse = %v, want an error on %s", err, tt.field)
			}
		})
	}
}

func TestMaxEditWhValidate(t *testing.T) {
	for _, v := range []int{0, -1, maxMaxEditWh + 1, 1_000_000_000_000} { // 1e12 Wh overflowed a large group's year
		c := DefaultConfig()
		c.MaxEditWh = v
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "vee.max_edit_wh") {
			t.Errorf("max_edit_wh %d: %v, want an error naming vee.max_edit_wh", v, err)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default: %v", err)
	}
	c := DefaultConfig()
	c.MaxEditWh = maxMaxEditWh
	if err := c.Validate(); err != nil {
		t.Errorf("max_edit_wh %d: %v, want it accepted", maxMaxEditWh, err)
	}
}

// TestMaxEditWhNoOverflow checks the margin maxMaxEditWh promises: a leap year of
// quarter hours at the maximum, summed over a group of maxGroupMeters meters, fits an
// int64.
func TestMaxEditWhNoOverflow(t *testing.T) {
	quarters := int64(366 * 24 * time.Hour / Interval)
	if quarters != 35_136 {
		t.Fatalf("%d quarter hours in a leap year", quarters)
	}
	if limit := int64(math.MaxInt64) / quarters / maxGroupMeters; maxMaxEditWh > limit {
		t.Errorf("maxMaxEditWh %d: a year of %d meters overflows int64 above %d Wh per interval", int64(maxMaxEditWh), maxGroupMeters, limit)
	}
	if maxMaxEditWh < DefaultMaxEditWh {
		t.Errorf("maxMaxEditWh %d is below the default %d", int64(maxMaxEditWh), DefaultMaxEditWh)
	}
}
