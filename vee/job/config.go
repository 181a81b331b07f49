package job

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/meterhouse/meterhouse/vee"
)

// Config configures the VEE job: the configuration section vee.
type Config struct {
	// Interval is how often serve runs the job; 0 disables the periodic run (the job then
	// runs only through meterhouse vee run).
	Interval time.Duration `yaml:"interval"`
	// Settle leaves readings ingested less than Settle ago to the next run, so that a run
	// never skips rows of an insert that is still being committed, or stamped by a server
	// clock slightly ahead of this process's.
	Settle time.Duration `yaml:"settle"`
	// Lateness bounds how old a reading may be and still reopen its days: a reading whose
	// timestamp is more than Lateness before the run is stored and stays queryable raw, but
	// it no longer changes validated consumption (its period is closed, typically billed).
	// 0 means no bound.
	Lateness time.Duration `yaml:"lateness"`
	// MaxGap is how far the job looks for the register readings around a window. Two
	// readings farther apart than MaxGap are not treated as the two ends of one gap, so
	// the gap's intervals are flat-filled rather than conserved.
	MaxGap time.Duration `yaml:"max_gap"`
	// HistoryDays is how many days of validated consumption before a window are loaded as
	// history for the spike and daily-usage rules and the like-day estimation.
	HistoryDays int `yaml:"history_days"`
	// BatchMeters bounds the meters loaded and processed together, one query each for
	// their readings, anchors, history and edits. The history comes from
	// consumption_profiles, ordered by day and meter in granules of 1 024 rows (migration
	// 0061): a batch reads whole granules of each day, so a batch of 2 000 meters reads
	// about twice the rows it uses, and smaller batches more. Each meter of a batch holds
	// its 28 days of history (about 2 700 intervals of 24 bytes) until the batch is
	// written.
	BatchMeters int `yaml:"batch_meters"`
	// Workers bounds the batches processed at once (their queries, vee's computation and
	// their writes overlap), 1 to 64. Each holds a batch in memory (see BatchMeters), and
	// ClickHouse runs each one's queries, so more than a few per core gains nothing.
	Workers int `yaml:"workers"`
	// MaxEditWh bounds the value of a manual edit per 15-minute interval (for mode spread,
	// the range's total divided by its intervals): an edit above it is refused as a typo
	// (an extra digit, Wh for mWh). The default, 100 MWh per quarter hour, is 400 MW
	// average power, beyond any single metering point of a distribution network. It may
	// be set up to 1 000 000 000 (1 GWh per quarter hour, 4 GW), so that no sum of edited
	// values overflows int64: a leap year of quarter hours at that value summed over a
	// group of 250 000 meters is 1e9 × 35 136 × 250 000 ≈ 8.8e18 Wh, below 2^63 ≈ 9.2e18.
	// Negative edits are always refused: consumption is never negative.
	MaxEditWh int `yaml:"max_edit_wh"`
	// Rules holds the validation rules and estimation parameters: rules.default for every
	// customer class without its own entry, and rules.classes.NAME for the others. Keys
	// are those of package vee, like rules.default.spike.factor; a class's rule set starts
	// from rules.default, so it only needs the keys that differ. Durations are written like
	// 30s or 72h. Rules are set in the YAML file only, not by environment variables.
	Rules Rules `yaml:"rules"`
	// PrivateDatabase is the name of the private database, whose control_relay holds the
	// meters' relay history (schema.Config.PrivateDatabase); it is not a configuration
	// key: internal/app sets it from clickhouse.database. Empty means the private
	// companion of the connection's current database, asked at the first run.
	PrivateDatabase string `yaml:"-"`
}

// DefaultConfig runs every 5 minutes with vee's default rules for every class.
func DefaultConfig() Config {
	return Config{
		Interval:    5 * time.Minute,
		Settle:      10 * time.Second,
		Lateness:    90 * 24 * time.Hour,
		MaxGap:      31 * 24 * time.Hour,
		HistoryDays: 28,
		BatchMeters: 2000,
		Workers:     2,
		MaxEditWh:   DefaultMaxEditWh,
		Rules:       Rules{vee.DefaultConfig()},
	}
}

// Validate reports the settings that cannot work, naming each key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("vee.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Interval < 0 {
		bad("interval", "must be >= 0 (0 disables the periodic run), got %s", c.Interval)
	}
	if c.Settle < 0 {
		bad("settle", "must be >= 0, got %s", c.Settle)
	}
	if c.Lateness < 0 {
		bad("lateness", "must be >= 0 (0: no bound), got %s", c.Lateness)
	}
	if c.MaxGap < Interval {
		bad("max_gap", "must be at least %s, got %s", Interval, c.MaxGap)
	}
	if c.HistoryDays < 0 || c.HistoryDays > 366 {
		bad("history_days", "must be in [0, 366], got %d", c.HistoryDays)
	}
	if c.BatchMeters < 1 {
		bad("batch_meters", "must be at least 1, got %d", c.BatchMeters)
	}
	if c.Workers < 1 || c.Workers > maxWorkers {
		bad("workers", "must be in [1, %d], got %d", maxWorkers, c.Workers)
	}
	if c.MaxEditWh < 1 || c.MaxEditWh > maxMaxEditWh {
		bad("max_edit_wh", "must be in [1, %d], got %d", int64(maxMaxEditWh), c.MaxEditWh)
	}
	if c.PrivateDatabase != "" && !plainName(c.PrivateDatabase) {
		bad("private_database", "%q is not a plain identifier", c.PrivateDatabase)
	}
	if err := c.Rules.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// maxWorkers bounds Config.Workers.
const maxWorkers = 64

// DefaultMaxEditWh is the default of Config.MaxEditWh: 100 MWh per 15-minute interval.
const DefaultMaxEditWh = 100_000_000

// maxMaxEditWh is the largest MaxEditWh allowed, 1 GWh per 15 minutes (4 GW): a leap year
// of 15-minute intervals (366 × 96 = 35 136) at this value summed over maxGroupMeters
// meters is about 8.8e18 Wh, below 2^63 - 1 ≈ 9.2e18.
const maxMaxEditWh = 1_000_000_000

// maxGroupMeters is the group size for which maxMaxEditWh is chosen: a year of a group
// of this many meters all edited to the maximum still fits an int64.
const maxGroupMeters = 250_000

// The build fails if a leap year of the maximum over maxGroupMeters overflows int64.
const _ = uint64(math.MaxInt64 - maxMaxEditWh*(366*24*4)*maxGroupMeters)

// Interval is the nominal metering interval the job validates on: every meter's series
// is a grid of 15-minute slots.
const Interval = 15 * time.Minute

// Rules is vee.Config as the configuration file holds it: keys are the json names of
// package vee (snake case) and durations are strings like 30s.
type Rules struct {
	vee.Config
}

// Validate checks every rule set, naming each bad key by its full path, like
// vee.rules.classes.residential.spike.factor.
func (r Rules) Validate() error {
	err := r.Config.Validate()
	if err == nil {
		return nil
	}
	var errs []error
	for _, e := range unjoin(err) {
		var fe *vee.FieldError
		if errors.As(e, &fe) {
			e = &vee.FieldError{Field: "vee.rules." + strings.TrimPrefix(fe.Field, "vee."), Message: fe.Message}
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// MarshalYAML writes the rules with vee's key names, durations as strings.
func (r Rules) MarshalYAML() (any, error) {
	return rulesNode(reflect.ValueOf(r.Config)), nil
}

// UnmarshalYAML overlays the keys present in node on r: rules.default first, then each
// class, which starts from the resulting default rule set. An unknown key is an error
// naming it.
func (r *Rules) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.MappingNode {
		return fmt.Errorf("vee.rules: line %d: want a mapping with default and classes", node.Line)
	}
	var classes *yaml.Node
	for i := 0; i+1 < len(node.Content); i += 2 {
		switch k, v := node.Content[i].Value, node.Content[i+1]; k {
		case "default":
			if err := decodeRules(v, reflect.ValueOf(&r.Default).Elem(), "vee.rules.default"); err != nil {
				return err
			}
		case "classes":
			classes = v
		default:
			return fmt.Errorf("vee.rules.%s: line %d: unknown key (want default or classes)", k, node.Content[i].Line)
		}
	}
	if classes == nil {
		return nil
	}
	if classes.Kind != yaml.MappingNode {
		return fmt.Errorf("vee.rules.classes: line %d: want a mapping of class names to rule sets", classes.Line)
	}
	if r.Classes == nil {
		r.Classes = map[string]vee.RuleSet{}
	}
	for i := 0; i+1 < len(classes.Content); i += 2 {
		name := classes.Content[i].Value
		rs, ok := r.Classes[name]
		if !ok {
			rs = r.Default
		}
		if err := decodeRules(classes.Content[i+1], reflect.ValueOf(&rs).Elem(), "vee.rules.classes."+name); err != nil {
			return err
		}
		r.Classes[name] = rs
	}
	return nil
}

var durationType = reflect.TypeOf(time.Duration(0))

// jsonName returns the json key of a struct field, or "" for a field without one.
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// decodeRules overlays node on v, a rule set or one of its parts, by json key names.
func decodeRules(node *yaml.Node, v reflect.Value, path string) error {
	if v.Kind() == reflect.Struct {
		if node.Kind != yaml.MappingNode {
			return fmt.Errorf("%s: line %d: want a mapping", path, node.Line)
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			key := node.Content[i].Value
			idx := -1
			for j := range v.NumField() {
				if jsonName(v.Type().Field(j)) == key {
					idx = j
					break
				}
			}
			if idx < 0 {
				return fmt.Errorf("%s.%s: line %d: unknown key", path, key, node.Content[i].Line)
			}
			if err := decodeRules(node.Content[i+1], v.Field(idx), path+"."+key); err != nil {
				return err
			}
		}
		return nil
	}
	if node.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s: line %d: want a single value", path, node.Line)
	}
	s := node.Value
	fail := func(want string) error {
		return fmt.Errorf("%s: line %d: %q is not %s", path, node.Line, s, want)
	}
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fail("a duration like 30s or 72h")
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fail("true or false")
		}
		v.SetBool(b)
	case v.Kind() == reflect.Int || v.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fail("an integer")
		}
		v.SetInt(n)
	case v.Kind() == reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fail("a number")
		}
		v.SetFloat(x)
	case v.Kind() == reflect.String:
		v.SetString(s)
	default:
		return fmt.Errorf("%s: cannot be configured (type %s)", path, v.Type())
	}
	return nil
}

// rulesNode renders v, a vee.Config or one of its parts, as a YAML node keyed by json
// names, in field order (map keys sorted).
func rulesNode(v reflect.Value) *yaml.Node {
	scalar := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }
	switch {
	case v.Type() == durationType:
		return scalar(time.Duration(v.Int()).String())
	case v.Kind() == reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for i := range v.NumField() {
			name := jsonName(v.Type().Field(i))
			if name == "" || (v.Field(i).Kind() == reflect.Map && v.Field(i).Len() == 0) {
				continue
			}
			n.Content = append(n.Content, scalar(name), rulesNode(v.Field(i)))
		}
		return n
	case v.Kind() == reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode}
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		slices.Sort(keys)
		for _, k := range keys {
			n.Content = append(n.Content, scalar(k), rulesNode(v.MapIndex(reflect.ValueOf(k))))
		}
		return n
	case v.Kind() == reflect.Bool:
		return scalar(strconv.FormatBool(v.Bool()))
	case v.Kind() == reflect.Int || v.Kind() == reflect.Int64:
		return scalar(strconv.FormatInt(v.Int(), 10))
	case v.Kind() == reflect.Float64:
		return scalar(strconv.FormatFloat(v.Float(), 'g', -1, 64))
	}
	return scalar(fmt.Sprint(v.Interface()))
}
