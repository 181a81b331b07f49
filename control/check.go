package control

import (
	"context"
	"fmt"
	"time"
)

// Check is what the safety rules are asked about one command for one meter.
type Check struct {
	// MeterID is the meter.
	MeterID string
	// Action is a wire.Action* constant.
	Action string
	// At is when the command would be executed: the later of now and its not-before.
	At time.Time
	// Emergency marks an emergency reconnect (restoring power): it skips every rule that
	// only blocks disconnection.
	Emergency bool
	// Override marks a disconnect of a flagged (life-support, medical) customer that a
	// supervisor's approval allows: the flag rule then passes, and the command needs that
	// approval.
	Override bool
}

// Refusal is a safety rule's refusal: the rule's name and why. It is an error.
type Refusal struct {
	// Rule names the rule (life_support, weekend, holiday, day_before_holiday, cutoff_hour,
	// weather_moratorium, notice_period, …).
	Rule string `json:"rule"`
	// Reason says why, with the values that decided it.
	Reason string `json:"reason"`
}

// Error formats the refusal as "rule: reason".
func (r *Refusal) Error() string { return fmt.Sprintf("%s: %s", r.Rule, r.Reason) }

// Checker evaluates the safety rules. Check returns nil when every rule passes, the first
// rule that refuses, or an error when a rule's data could not be read (then nothing may be
// sent: a rule that cannot be evaluated refuses). Implementations are safe for concurrent
// use.
type Checker interface {
	Check(ctx context.Context, c Check) (*Refusal, error)
}
