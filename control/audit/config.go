package audit

import (
	"fmt"
	"time"
)

// Config configures the audit log's anchoring (section audit).
type Config struct {
	// AnchorTopic is the Kafka topic the chain's head is published to and read back from
	// by verify (MH_AUDIT_ANCHOR_TOPIC). Default audit-anchors, which the services script
	// creates; the application's Kafka user must be allowed to write and read it.
	AnchorTopic string `yaml:"anchor_topic"`
	// AnchorInterval is how often serve publishes the head when entries were appended since
	// the last anchor (MH_AUDIT_ANCHOR_INTERVAL), at least 1s. Entries appended after the
	// last anchor can be cut off undetected, so it bounds what a truncation can hide.
	// Default 1m.
	AnchorInterval time.Duration `yaml:"anchor_interval"`
}

// DefaultConfig returns the defaults: topic audit-anchors, an anchor every minute.
func DefaultConfig() Config {
	return Config{AnchorTopic: "audit-anchors", AnchorInterval: time.Minute}
}

// Validate reports the first setting that cannot work, naming its key.
func (c Config) Validate() error {
	if err := checkTopic(c.AnchorTopic); err != nil {
		return fmt.Errorf("audit.anchor_topic: %w", err)
	}
	if c.AnchorInterval < time.Second {
		return fmt.Errorf("audit.anchor_interval: %s: want at least 1s", c.AnchorInterval)
	}
	return nil
}

// checkTopic reports whether name is a legal Kafka topic name.
func checkTopic(name string) error {
	if name == "" || len(name) > 249 || name == "." || name == ".." {
		return fmt.Errorf("%q is not a Kafka topic name (1-249 characters)", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%q is not a Kafka topic name (letters, digits, '.', '_' and '-')", name)
		}
	}
	return nil
}
