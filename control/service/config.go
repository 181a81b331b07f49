package service

import (
	"errors"
	"fmt"
	"time"
)

// Config configures the remote-control service: the configuration section control.
type Config struct {
	// Enabled runs remote control inside serve. Disabled, or enabled without a readable
	// KeyFile, the control routes answer 503 saying why, and serve still starts.
	Enabled bool `yaml:"enabled"`
	// KeyFile is the Ed25519 key file that signs commands (meterhouse control keygen). It
	// is read once at start and never logged; ClickHouse gets its public half only.
	KeyFile string `yaml:"key_file"`
	// ApprovalThreshold: a bulk request of more than this many meters needs a
	// supervisor's approval.
	ApprovalThreshold int `yaml:"approval_threshold"`
	// ApprovalTTL is how long a command that needs approval waits for it; after that it
	// is expired.
	ApprovalTTL time.Duration `yaml:"approval_ttl"`
	// AckTimeout is how long after sending a command waits for its result (executed or
	// failed); after that it is timed_out and never resent automatically.
	AckTimeout time.Duration `yaml:"ack_timeout"`
	// CommandTTL is how long a command stays valid: not_after = not_before (or the time
	// of the request) + CommandTTL. A command not sent by then is expired, and the DAS
	// refuses it after then.
	CommandTTL time.Duration `yaml:"command_ttl"`
	// FleetPerMinute caps the disconnects and reconnects sent in any minute, fleet-wide.
	FleetPerMinute int `yaml:"fleet_per_minute"`
	// FeederPerMinute caps the disconnects and reconnects sent in any minute per feeder.
	FeederPerMinute int `yaml:"feeder_per_minute"`
	// CommandsTopic is the Kafka topic commands are published to (as user meterhouse).
	CommandsTopic string `yaml:"commands_topic"`
	// AcksTopic is the Kafka topic of the DAS's acknowledgements and relay events.
	AcksTopic string `yaml:"acks_topic"`
	// GroupID is the consumer group that reads AcksTopic.
	GroupID string `yaml:"group_id"`
	// MaxBulk is the most meters one bulk request may name or select.
	MaxBulk int `yaml:"max_bulk"`
	// CheckWorkers is how many safety-rule checks run at once (1-64), at a request and
	// before sending, outside the service's lock: a bulk request of many meters is checked
	// that many meters at a time, while acks and reads go on.
	CheckWorkers int `yaml:"check_workers"`
}

// maxCheckWorkers is the largest Config.CheckWorkers.
const maxCheckWorkers = 64

// DefaultConfig is disabled, with the topics of the local services and conservative caps.
func DefaultConfig() Config {
	return Config{
		ApprovalThreshold: 50,
		ApprovalTTL:       4 * time.Hour,
		AckTimeout:        15 * time.Minute,
		CommandTTL:        24 * time.Hour,
		FleetPerMinute:    600,
		FeederPerMinute:   60,
		CommandsTopic:     "commands",
		AcksTopic:         "command-acks",
		GroupID:           "meterhouse-control",
		MaxBulk:           100000,
		CheckWorkers:      8,
	}
}

// Validate reports every invalid field, named by its key.
func (c Config) Validate() error {
	var errs []error
	if c.Enabled && c.KeyFile == "" {
		errs = append(errs, errors.New("control.key_file: required when control.enabled is true (make one with meterhouse control keygen)"))
	}
	if c.ApprovalThreshold < 0 {
		errs = append(errs, fmt.Errorf("control.approval_threshold %d: want 0 or more", c.ApprovalThreshold))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"approval_ttl", c.ApprovalTTL}, {"ack_timeout", c.AckTimeout}, {"command_ttl", c.CommandTTL}} {
		if d.v < time.Second {
			errs = append(errs, fmt.Errorf("control.%s %s: want at least 1s", d.key, d.v))
		}
	}
	if c.FleetPerMinute < 1 {
		errs = append(errs, fmt.Errorf("control.fleet_per_minute %d: want at least 1", c.FleetPerMinute))
	}
	if c.FeederPerMinute < 1 || c.FeederPerMinute > c.FleetPerMinute {
		errs = append(errs, fmt.Errorf("control.feeder_per_minute %d: want 1 … fleet_per_minute (%d)", c.FeederPerMinute, c.FleetPerMinute))
	}
	for _, s := range []struct{ key, v string }{{"commands_topic", c.CommandsTopic}, {"acks_topic", c.AcksTopic}, {"group_id", c.GroupID}} {
		if s.v == "" {
			errs = append(errs, fmt.Errorf("control.%s: required", s.key))
		}
	}
	if c.MaxBulk < 1 {
		errs = append(errs, fmt.Errorf("control.max_bulk %d: want at least 1", c.MaxBulk))
	}
	if c.CheckWorkers < 1 || c.CheckWorkers > maxCheckWorkers {
		errs = append(errs, fmt.Errorf("control.check_workers %d: want 1 … %d", c.CheckWorkers, maxCheckWorkers))
	}
	return errors.Join(errs...)
}
