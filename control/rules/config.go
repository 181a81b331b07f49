package rules

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
)

// Section is the configuration section of the rules, the prefix of the keys Validate names.
const Section = "control_rules"

// Config holds the safety rules of disconnection per region: the configuration section
// control_rules. A meter's region (from the registry) picks its rule set: Regions[region]
// when there is one, else Default.
type Config struct {
	// Default is the rule set of every region without an entry in Regions.
	Default Region `yaml:"default"`
	// Regions holds the rule sets of the regions that differ from Default, by the
	// registry's region name. In the YAML file a region's rule set starts from Default, so
	// it only names the keys that differ; set in Go, each entry is a whole rule set.
	// Regions are set in the YAML file only, not by environment variables.
	Regions map[string]Region `yaml:"regions"`
	// CacheTTL is how long a region's calendar and forecasts, once read, serve later
	// checks (at most 10m; 0: every check reads them), so that a bulk disconnect of a
	// region reads them once rather than per meter; a forecast or calendar loaded since is
	// seen after at most this long. The registry (life-support flag, notice date) is
	// read at every check.
	CacheTTL time.Duration `yaml:"cache_ttl"`
}

// maxCacheTTL is the largest Config.CacheTTL.
const maxCacheTTL = 10 * time.Minute

// Region is the rule set of one region. Every rule is evaluated in the meter's time zone
// on the local date and hour of Check.At.
type Region struct {
	// CutoffHour is the local hour (1-24) from which no disconnect is sent for the rest of
	// the day, so that a customer who pays can still be reconnected the same working day:
	// a disconnect at or after CutoffHour:00 local time is refused (rule cutoff_hour).
	// 24 means no cut-off.
	CutoffHour int `yaml:"cutoff_hour"`
	// BlockWeekends refuses disconnects on Saturdays and Sundays (rule weekend), except on
	// a substituted working day of the region's calendar.
	BlockWeekends bool `yaml:"block_weekends"`
	// BlockHolidays refuses disconnects on a public holiday of the region's calendar
	// (package calendar/holidays; rule holiday).
	BlockHolidays bool `yaml:"block_holidays"`
	// BlockDayBeforeHoliday refuses disconnects on the day before a public holiday of the
	// region's calendar (rule day_before_holiday).
	BlockDayBeforeHoliday bool `yaml:"block_day_before_holiday"`
	// RequireNotice refuses disconnects until NoticeDays days after the disconnect notice
	// date of the agreement in force (registry), and refuses them when that agreement has
	// no notice date or the meter supplies no agreement (rule notice_period).
	RequireNotice bool `yaml:"require_notice"`
	// NoticeDays is the notice period in days (0-365): a notice given on date N allows a
	// disconnect from the local date N + NoticeDays on.
	NoticeDays int `yaml:"notice_days"`
	// Moratorium is the weather moratorium (rule weather_moratorium).
	Moratorium Moratorium `yaml:"moratorium"`
}

// Moratorium refuses disconnects while extreme temperatures are forecast: when the
// latest forecast (package weather, the latest issue at or before Check.At) of the
// meter's region for an hour of the Hours hours from the hour of Check.At is below MinC or
// above MaxC, or when the forecast misses one of those hours.
type Moratorium struct {
	// Hours is how many hours ahead the forecast is looked at (1-240); 0 turns the
	// moratorium off.
	Hours int `yaml:"hours"`
	// MinC is the lowest temperature in °C that allows a disconnect.
	MinC float64 `yaml:"min_c"`
	// MaxC is the highest temperature in °C that allows a disconnect; above MinC.
	MaxC float64 `yaml:"max_c"`
}

// DefaultConfig returns the rule set every region gets unless configured otherwise:
// disconnects only on working days that are not the day before a holiday, before 14:00
// local time, 14 days after a notice, and not while below 0 °C or above 35 °C is
// forecast within 48 hours; calendars and forecasts reused for 30 seconds.
func DefaultConfig() Config {
	return Config{Default: Region{
		CutoffHour:            14,
		BlockWeekends:         true,
		BlockHolidays:         true,
		BlockDayBeforeHoliday: true,
		RequireNotice:         true,
		NoticeDays:            14,
		Moratorium:            Moratorium{Hours: 48, MinC: 0, MaxC: 35},
	}, CacheTTL: 30 * time.Second}
}

// For returns the rule set of region.
func (c Config) For(region string) Region {
	if r, ok := c.Regions[region]; ok {
		return r
	}
	return c.Default
}

// Validate reports every invalid field as a fault.FieldError naming its full key, like
// control_rules.regions.DE-BE.cutoff_hour.
func (c Config) Validate() error {
	errs := c.Default.validate(Section+".default", nil)
	if c.CacheTTL < 0 || c.CacheTTL > maxCacheTTL {
		errs = append(errs, fault.Invalid(Section+".cache_ttl", "%s: want 0 … %s", c.CacheTTL, maxCacheTTL))
	}
	names := make([]string, 0, len(c.Regions))
	for name := range c.Regions {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		key := Section + ".regions." + name
		if err := schema.CheckRegion(key, name); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = c.Regions[name].validate(key, errs)
	}
	return errors.Join(errs...)
}

// validate appends the errors of r, whose key is key, to errs.
func (r Region) validate(key string, errs []error) []error {
	if r.CutoffHour < 1 || r.CutoffHour > 24 {
		errs = append(errs, fault.Invalid(key+".cutoff_hour", "%d: want 1 … 24 (24: no cut-off)", r.CutoffHour))
	}
	if r.NoticeDays < 0 || r.NoticeDays > 365 {
		errs = append(errs, fault.Invalid(key+".notice_days", "%d: want 0 … 365", r.NoticeDays))
	}
	m := r.Moratorium
	if m.Hours < 0 || m.Hours > 240 {
		errs = append(errs, fault.Invalid(key+".moratorium.hours", "%d: want 0 (off) … 240", m.Hours))
	}
	for _, t := range []struct {
		name string
		v    float64
	}{{"min_c", m.MinC}, {"max_c", m.MaxC}} {
		if math.IsNaN(t.v) || t.v < -100 || t.v > 70 {
			errs = append(errs, fault.Invalid(key+".moratorium."+t.name, "%v: want a temperature within -100 … 70 °C", t.v))
		}
	}
	if m.Hours > 0 && !(m.MinC < m.MaxC) {
		errs = append(errs, fault.Invalid(key+".moratorium.max_c", "%v is not above min_c %v", m.MaxC, m.MinC))
	}
	return errs
}

// UnmarshalYAML overlays the keys present in node on c: default first, then each region,
// which starts from the resulting default rule set (or from its own entry when c already
// has one). An unknown key is an error naming it.
func (c *Config) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: line %d: want a mapping with default and regions", Section, node.Line)
	}
	var regions *yaml.Node
	for i := 0; i+1 < len(node.Content); i += 2 {
		switch k, v := node.Content[i].Value, node.Content[i+1]; k {
		case "default":
			if err := decodeRegion(v, &c.Default, Section+".default"); err != nil {
				return err
			}
		case "regions":
			regions = v
		case "cache_ttl":
			if err := v.Decode(&c.CacheTTL); err != nil {
				return fmt.Errorf("%s.cache_ttl: %w", Section, err)
			}
		default:
			return fmt.Errorf("%s.%s: line %d: unknown key (want default, regions or cache_ttl)", Section, k, node.Content[i].Line)
		}
	}
	if regions == nil || regions.Tag == "!!null" {
		return nil
	}
	if regions.Kind != yaml.MappingNode {
		return fmt.Errorf("%s.regions: line %d: want a mapping of region names to rule sets", Section, regions.Line)
	}
	if c.Regions == nil {
		c.Regions = map[string]Region{}
	}
	for i := 0; i+1 < len(regions.Content); i += 2 {
		name := regions.Content[i].Value
		r, ok := c.Regions[name]
		if !ok {
			r = c.Default
		}
		if err := decodeRegion(regions.Content[i+1], &r, Section+".regions."+name); err != nil {
			return err
		}
		c.Regions[name] = r
	}
	return nil
}

// decodeRegion overlays node on r, refusing keys that Region does not have.
func decodeRegion(node *yaml.Node, r *Region, key string) error {
	if err := knownKeys(node, reflect.TypeOf(*r), key); err != nil {
		return err
	}
	if err := node.Decode(r); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// knownKeys checks that every key of the mapping node is a yaml key of the struct type t,
// recursing into struct fields.
func knownKeys(node *yaml.Node, t reflect.Type, key string) error {
	if node.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: line %d: want a mapping", key, node.Line)
	}
	fields := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		fields[name] = t.Field(i).Type
		names = append(names, name)
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k := node.Content[i].Value
		ft, ok := fields[k]
		if !ok {
			return fmt.Errorf("%s.%s: line %d: unknown key (want one of %s)", key, k, node.Content[i].Line, strings.Join(names, ", "))
		}
		if ft.Kind() == reflect.Struct {
			if err := knownKeys(node.Content[i+1], ft, key+"."+k); err != nil {
				return err
			}
		}
	}
	return nil
}
