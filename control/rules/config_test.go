package rules

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/meterhouse/meterhouse/fault"
)

// TestConfigValidate checks that the default validates and that each bad field is a
// field error naming its full key.
func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("the default: %v", err)
	}
	for name, tc := range map[string]struct {
		edit  func(*Config)
		field string
	}{
		"no cut-off":         {func(c *Config) { c.Default.CutoffHour = 24 }, ""},
		"moratorium off":     {func(c *Config) { c.Default.Moratorium = Moratorium{} }, ""},
		"cut-off 0":          {func(c *Config) { c.Default.CutoffHour = 0 }, "control_rules.default.cutoff_hour"},
		"cut-off 25":         {func(c *Config) { c.Default.CutoffHour = 25 }, "control_rules.default.cutoff_hour"},
		"negative notice":    {func(c *Config) { c.Default.NoticeDays = -1 }, "control_rules.default.notice_days"},
		"moratorium hours":   {func(c *Config) { c.Default.Moratorium.Hours = 241 }, "control_rules.default.moratorium.hours"},
		"min above max":      {func(c *Config) { c.Default.Moratorium.MinC = 40 }, "control_rules.default.moratorium.max_c"},
		"implausible max":    {func(c *Config) { c.Default.Moratorium.MaxC = 95 }, "control_rules.default.moratorium.max_c"},
		"implausible min":    {func(c *Config) { c.Default.Moratorium.MinC = -273 }, "control_rules.default.moratorium.min_c"},
		"region cut-off":     {func(c *Config) { c.Regions = map[string]Region{"DE-BE": {CutoffHour: 30}} }, "control_rules.regions.DE-BE.cutoff_hour"},
		"region notice days": {func(c *Config) { r := c.Default; r.NoticeDays = 400; c.Regions = map[string]Region{"DE-BE": r} }, "control_rules.regions.DE-BE.notice_days"},
		"no cache":           {func(c *Config) { c.CacheTTL = 0 }, ""},
		"cache too long":     {func(c *Config) { c.CacheTTL = time.Hour }, "control_rules.cache_ttl"},
		"negative cache":     {func(c *Config) { c.CacheTTL = -time.Second }, "control_rules.cache_ttl"},
		"bad region name":    {func(c *Config) { c.Regions = map[string]Region{"DE BE": c.Default} }, "control_rules.regions.DE BE"},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		err := c.Validate()
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		var fe *fault.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.HasPrefix(err.Error(), tc.field+": ") {
			t.Errorf("%s: %v, want a field error on %s", name, err, tc.field)
		}
	}
}

// TestConfigYAML checks that a region's rule set in the file starts from the default, so
// it only names what differs, and that an unknown key is refused by name.
func TestConfigYAML(t *testing.T) {
	c := DefaultConfig()
	in := `
regions:
  DE-BE: {cutoff_hour: 16, moratorium: {min_c: -5}}
  AU-VIC: {block_day_before_holiday: false}
default:
  notice_days: 7
cache_ttl: 2m
`
	if err := yaml.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig().Default
	want.NoticeDays = 7
	if c.Default != want {
		t.Errorf("default: %+v, want %+v", c.Default, want)
	}
	be := want
	be.CutoffHour, be.Moratorium.MinC = 16, -5
	if got := c.For("DE-BE"); got != be {
		t.Errorf("DE-BE: %+v, want %+v", got, be)
	}
	vic := want
	vic.BlockDayBeforeHoliday = false
	if got := c.For("AU-VIC"); got != vic {
		t.Errorf("AU-VIC: %+v, want %+v", got, vic)
	}
	if c.CacheTTL != 2*time.Minute {
		t.Errorf("cache_ttl: %s, want 2m", c.CacheTTL)
	}
	if got := c.For("elsewhere"); got != want {
		t.Errorf("a region without an entry: %+v, want the default", got)
	}
	for bad, key := range map[string]string{
		"default: {cutoff: 3}":                      "control_rules.default.cutoff",
		"regions: {DE-BE: {moratorium: {max: 30}}}": "control_rules.regions.DE-BE.moratorium.max",
		"region: {}":                                   "control_rules.region",
		"default: {cutoff_hour: late}":                 "control_rules.default",
		"regions: [DE-BE]":                             "control_rules.regions",
		"default: {block_weekends: true, hours: 24}\n": "control_rules.default.hours",
	} {
		c := DefaultConfig()
		if err := yaml.Unmarshal([]byte(bad), &c); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: %v, want an error naming %s", bad, err, key)
		}
	}
}
