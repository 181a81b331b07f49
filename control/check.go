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

// BatchChecker is a Checker that can also evaluate many checks at once, reading the data
// they share (the registry's meters and agreements) together rather than per meter. The
// command service uses CheckAll, when its Checker has it, for the checks of a bulk
// request and of a tick's sends; its answers must be those Check gives one by one.
type BatchChecker interface {
	Checker
	// CheckAll returns, for each of cs in order, what Check returns for it: refs[i] and
	// errs[i] answer cs[i], and both slices have len(cs) entries.
	CheckAll(ctx context.Context, cs []Check) (refs []*Refusal, errs []error)
}
