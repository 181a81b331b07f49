// Package config assembles Meterhouse's configuration: built-in defaults, then a YAML
// file, then MH_* environment variables, then command-line flags, each overriding the one
// before. Every component owns its own section and its Validate method; this package only
// gathers them, names the key at fault in errors, and prints the result with secrets
// redacted.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/auth"
	billrun "github.com/meterhouse/meterhouse/billing/run"
	"github.com/meterhouse/meterhouse/broker"
	"github.com/meterhouse/meterhouse/control/audit"
	"github.com/meterhouse/meterhouse/control/rules"
	controlservice "github.com/meterhouse/meterhouse/control/service"
	forecastjob "github.com/meterhouse/meterhouse/forecast/job"
	"github.com/meterhouse/meterhouse/ingest"
	"github.com/meterhouse/meterhouse/query/consumption"
	analystsql "github.com/meterhouse/meterhouse/query/sql"
	"github.com/meterhouse/meterhouse/schema"
	veejob "github.com/meterhouse/meterhouse/vee/job"
)

// Config is the whole configuration of a Meterhouse process.
type Config struct {
	// ClickHouse says how to reach the database.
	ClickHouse schema.Config `yaml:"clickhouse"`
	// Kafka says how every Kafka client reaches the brokers: addresses, SASL and TLS.
	Kafka broker.Config `yaml:"kafka"`
	// Ingest configures the Kafka consumer that stores readings.
	Ingest ingest.Config `yaml:"ingest"`
	// HTTPIngest configures the HTTP ingest endpoints.
	HTTPIngest ingest.HTTPConfig `yaml:"http_ingest"`
	// API configures the HTTP server.
	API api.Config `yaml:"api"`
	// Query configures the read paths of query/consumption and query/analytics.
	Query consumption.Config `yaml:"query"`
	// SQL limits the analyst SQL endpoint's queries.
	SQL analystsql.Config `yaml:"sql"`
	// Auth configures API tokens.
	Auth auth.Config `yaml:"auth"`
	// VEE configures the VEE job (package vee/job: validation, estimation, editing) and its rules.
	VEE veejob.Config `yaml:"vee"`
	// Forecast configures the day-ahead forecast job (package forecast/job): its daily
	// issue time, training window and group methods.
	Forecast forecastjob.Config `yaml:"forecast"`
	// Billing configures the scheduled billing run (package billing/run).
	Billing billrun.Config `yaml:"billing"`
	// Audit configures the anchoring of the remote-control audit log (package control/audit).
	Audit audit.Config `yaml:"audit"`
	// Control configures remote control (package control/service): the signing key
	// file, approvals, timeouts and rate caps.
	Control controlservice.Config `yaml:"control"`
	// ControlRules are the safety rules of disconnection per region (package
	// control/rules).
	ControlRules rules.Config `yaml:"control_rules"`
	// Log configures logging.
	Log Log `yaml:"log"`
}

// Log configures the structured logger.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// Default returns a configuration that works with the local services of deploy/local.
func Default() Config {
	return Config{
		ClickHouse:   schema.DefaultConfig(),
		Kafka:        broker.DefaultConfig(),
		Ingest:       ingest.DefaultConfig(),
		HTTPIngest:   ingest.DefaultHTTPConfig(),
		API:          api.DefaultConfig(),
		Query:        consumption.DefaultConfig(),
		SQL:          analystsql.DefaultConfig(),
		Auth:         auth.DefaultConfig(),
		VEE:          veejob.DefaultConfig(),
		Forecast:     forecastjob.DefaultConfig(),
		Billing:      billrun.DefaultConfig(),
		Audit:        audit.DefaultConfig(),
		Control:      controlservice.DefaultConfig(),
		ControlRules: rules.DefaultConfig(),
		Log:          Log{Level: "info", Format: "text"},
	}
}

// EnvPrefix starts every environment override. The rest of the name is the key's path in
// the file, upper-cased and joined with underscores: clickhouse.addr is MH_CLICKHOUSE_ADDR
// and ingest.window.max_age is MH_INGEST_WINDOW_MAX_AGE. Lists are comma-separated, maps comma-separated key=value pairs.
const EnvPrefix = "MH_"

// Load returns the defaults overridden by the YAML file at path (when path is not empty)
// and then by the MH_* variables of environ. Unknown file keys are errors; unknown MH_*
// variables are ignored, since other tools share the prefix. It does not validate.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config file: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
			if key := keyAtLine(b, err); key != "" {
				return cfg, fmt.Errorf("config file %s: %s: %w", path, key, err)
			}
			return cfg, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	if err := applyEnv(reflect.ValueOf(&cfg).Elem(), "", env); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// lineRE finds the line a YAML error is about.
var lineRE = regexp.MustCompile(`line (\d+):`)

// keyAtLine returns the dotted key (like api.read_timeout) on the line that the decoding
// error err names in the YAML document b, or "" when it cannot tell.
func keyAtLine(b []byte, err error) string {
	m := lineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return ""
	}
	line, _ := strconv.Atoi(m[1])
	var root yaml.Node
	if yaml.Unmarshal(b, &root) != nil {
		return ""
	}
	var walk func(n *yaml.Node, prefix string) string
	walk = func(n *yaml.Node, prefix string) string {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if k := walk(c, prefix); k != "" {
					return k
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				key := n.Content[i].Value
				if prefix != "" {
					key = prefix + "." + key
				}
				if n.Content[i].Line == line {
					return key
				}
				if k := walk(n.Content[i+1], key); k != "" {
					return k
				}
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				if c.Line == line {
					return prefix
				}
			}
		}
		return ""
	}
	return walk(&root, "")
}

// Validate checks every section and the settings that span sections.
func (c Config) Validate() error {
	for _, v := range []interface{ Validate() error }{c.ClickHouse, c.Kafka, c.Ingest, c.HTTPIngest, c.API, c.Query, c.SQL, c.Auth, c.VEE, c.Forecast, c.Billing, c.Audit, c.Control, c.ControlRules} {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	if _, err := c.Log.Handler(os.Stderr); err != nil {
		return err
	}
	return nil
}

// Handler returns the slog handler the Log section describes.
func (l Log) Handler(w *os.File) (slog.Handler, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		return nil, fmt.Errorf("log.level: %q: want debug, info, warn or error", l.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch l.Format {
	case "text":
		return slog.NewTextHandler(w, opts), nil
	case "json":
		return slog.NewJSONHandler(w, opts), nil
	}
	return nil, fmt.Errorf("log.format: %q: want text or json", l.Format)
}

// YAML renders the configuration as a file would hold it, with every field tagged
// secret:"true" replaced by "REDACTED" when it is set.
func (c Config) YAML() ([]byte, error) {
	red := c
	redact(reflect.ValueOf(&red).Elem())
	return yaml.Marshal(red)
}

func redact(v reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		f := v.Field(i)
		switch {
		case t.Field(i).Tag.Get("secret") == "true" && f.Kind() == reflect.String && f.String() != "":
			f.SetString("REDACTED")
		case f.Kind() == reflect.Struct && f.Type() != reflect.TypeOf(time.Time{}):
			redact(f)
		}
	}
}

// applyEnv walks the struct v, whose key path is prefix, and sets each field that has an
// environment variable.
func applyEnv(v reflect.Value, prefix string, env map[string]string) error {
	t := v.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		f := v.Field(i)
		if f.Kind() == reflect.Struct {
			if err := applyEnv(f, key, env); err != nil {
				return err
			}
			continue
		}
		envName := EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		s, ok := env[envName]
		if !ok {
			continue
		}
		if err := setFromString(f, s); err != nil {
			return fmt.Errorf("%s (from %s): %w", key, envName, err)
		}
	}
	return nil
}

// Set assigns value to the key at path (like "api.listen"), parsing it for the field's
// type. Flags use it to override single keys.
func (c *Config) Set(path, value string) error {
	v := reflect.ValueOf(c).Elem()
	for part := range strings.SplitSeq(path, ".") {
		if v.Kind() != reflect.Struct {
			return fmt.Errorf("%s: no such key", path)
		}
		found := false
		for i := range v.Type().NumField() {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
			if name == part {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return fmt.Errorf("%s: no such key", path)
		}
	}
	if err := setFromString(v, value); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func setFromString(f reflect.Value, s string) error {
	switch {
	case f.Type() == reflect.TypeOf(time.Duration(0)):
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration like 500ms or 2h", s)
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.String:
		f.SetString(s)
	case f.Kind() == reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		f.SetInt(int64(n))
	case f.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		f.SetBool(b)
	case f.Kind() == reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		f.SetFloat(x)
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
		var parts []string
		for p := range strings.SplitSeq(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		f.Set(reflect.ValueOf(parts))
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Float64:
		var xs []float64
		for p := range strings.SplitSeq(s, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			x, err := strconv.ParseFloat(p, 64)
			if err != nil {
				return fmt.Errorf("%q is not a number", p)
			}
			xs = append(xs, x)
		}
		f.Set(reflect.ValueOf(xs))
	case f.Kind() == reflect.Map && f.Type().Key().Kind() == reflect.String && f.Type().Elem().Kind() == reflect.String:
		m := reflect.MakeMap(f.Type())
		for p := range strings.SplitSeq(s, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			k, v, ok := strings.Cut(p, "=")
			if !ok {
				return fmt.Errorf("%q is not key=value", p)
			}
			m.SetMapIndex(reflect.ValueOf(strings.TrimSpace(k)), reflect.ValueOf(strings.TrimSpace(v)))
		}
		f.Set(m)
	default:
		return fmt.Errorf("cannot be set from text (type %s)", f.Type())
	}
	return nil
}
