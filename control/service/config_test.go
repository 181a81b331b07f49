package service

import (
	"strings"
	"testing"
	"time"
)

// TestConfigValidate checks that the default is valid and that each bad setting is
// refused naming its key.
func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	for key, change := range map[string]func(*Config){
		"control.key_file":           func(c *Config) { c.Enabled = true },
		"control.approval_threshold": func(c *Config) { c.ApprovalThreshold = -1 },
		"control.approval_ttl":       func(c *Config) { c.ApprovalTTL = 0 },
		"control.ack_timeout":        func(c *Config) { c.AckTimeout = time.Millisecond },
		"control.command_ttl":        func(c *Config) { c.CommandTTL = -time.Hour },
		"control.fleet_per_minute":   func(c *Config) { c.FleetPerMinute = 0 },
		"control.feeder_per_minute":  func(c *Config) { c.FeederPerMinute = c.FleetPerMinute + 1 },
		"control.commands_topic":     func(c *Config) { c.CommandsTopic = "" },
		"control.acks_topic":         func(c *Config) { c.AcksTopic = "" },
		"control.group_id":           func(c *Config) { c.GroupID = "" },
		"control.max_bulk":           func(c *Config) { c.MaxBulk = 0 },
		"control.check_workers":      func(c *Config) { c.CheckWorkers = 0 },
		"control.check_workers ":     func(c *Config) { c.CheckWorkers = maxCheckWorkers + 1 },
	} {
		c := DefaultConfig()
		change(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v", key, err)
		}
	}
	c := DefaultConfig()
	c.Enabled, c.KeyFile = true, "/etc/meterhouse/control.key"
	if err := c.Validate(); err != nil {
		t.Errorf("enabled with a key file: %v", err)
	}
}
