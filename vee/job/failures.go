package job

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/vee"
)

// The reasons a meter window fails, the values of vee_failures.reason and of the reason
// label of meterhouse_vee_failed_windows_total. The list is fixed, so the label's
// cardinality is bounded.
const (
	// FailureEdit: vee refused one of the window's stored edits (off the 15-minute grid,
	// ending before it starts, …), as a DateTime that wrapped around leaves one.
	FailureEdit = "edit"
	// FailureInput: vee refused the window's other input.
	FailureInput = "input"
	// FailureTimeRange: a time of the window, of the local days and months it rolls up
	// into, or of its computed intervals lies outside what the store reads back,
	// schema.MinDateTime to schema.LatestTime.
	FailureTimeRange = "time_range"
	// FailurePanic: the rule code panicked; the panic was recovered at the window.
	FailurePanic = "panic"
)

// FailureReasons lists every failure reason.
var FailureReasons = []string{FailureEdit, FailureInput, FailureTimeRange, FailurePanic}

// MaxReportedFailures bounds the failures a Result lists; Result.Failed counts them all.
const MaxReportedFailures = 20

// Failure is one meter window the job could not process: it wrote nothing for it, flagged
// it in vee_failures and went on with the other windows.
type Failure struct {
	// MeterID is the meter.
	MeterID string
	// From and To bound the window [From, To), UTC.
	From, To time.Time
	// Reason is one of FailureReasons.
	Reason string
	// Message is the error, naming the field at fault.
	Message string
}

// String formats the failure for logs and the command line.
func (f Failure) String() string {
	return fmt.Sprintf("meter %s [%s, %s): %s: %s", f.MeterID, f.From.Format(time.RFC3339), f.To.Format(time.RFC3339), f.Reason, f.Message)
}

// processFunc is the pure computation of one window: vee.Process, replaced by tests.
type processFunc func(vee.Input, vee.RuleSet, time.Time) (vee.Output, error)

// processWindow runs process over one window. A window it cannot compute (vee refuses
// the input, a time lies outside what the store holds, or the code panics) comes back as
// a Failure, which isolates it from every other window. The decision depends only on the
// window's input, so a replay decides the same.
func processWindow(process processFunc, in vee.Input, rules vee.RuleSet, now time.Time) (out vee.Output, fail *Failure, stack []byte) {
	defer func() {
		if r := recover(); r != nil {
			out, fail, stack = vee.Output{}, &Failure{Reason: FailurePanic, Message: fmt.Sprintf("panic: %v", r)}, debug.Stack()
		}
	}()
	if f := timeRangeFailure(namedTime{"window.from", in.From}, namedTime{"window.to", in.To}); f != nil {
		return vee.Output{}, f, nil
	}
	out, err := process(in, rules, now)
	if err != nil {
		return vee.Output{}, &Failure{Reason: failureReason(err), Message: err.Error()}, nil
	}
	for _, iv := range out.Intervals {
		if err := schema.CheckTime("interval.start", iv.Start); err != nil {
			return vee.Output{}, &Failure{Reason: FailureTimeRange, Message: err.Error()}, nil
		}
	}
	return out, nil, nil
}

// namedTime is a time and the field that holds it, for error messages.
type namedTime struct {
	field string
	t     time.Time
}

// timeRangeFailure returns a time_range Failure naming the first of ts that lies outside
// what the store reads back (schema.MinDateTime to schema.LatestTime), or nil.
func timeRangeFailure(ts ...namedTime) *Failure {
	for _, c := range ts {
		if err := schema.CheckTime(c.field, c.t); err != nil {
			return &Failure{Reason: FailureTimeRange, Message: err.Error()}
		}
	}
	return nil
}

// rangeFailure returns the time_range Failure of a window whose bounds, or those of the
// local days and months its roll-ups recompute, lie outside what the store reads back, or
// nil. Such a window is never given to a query: ClickHouse 18.16 misreads a bound past
// schema.LatestTime or before 1970 (the driver binds times as text), and the batch's
// queries would match nothing.
func rangeFailure(w window) *Failure {
	dFrom, dTo := daysOf(w)
	mFrom, mTo := monthsOf(w)
	f := timeRangeFailure(namedTime{"window.from", w.from}, namedTime{"window.to", w.to},
		namedTime{"window.day_start", dFrom}, namedTime{"window.day_end", dTo},
		namedTime{"window.month_start", mFrom}, namedTime{"window.month_end", mTo})
	if f != nil {
		f.MeterID, f.From, f.To = w.meter, w.from, w.to
	}
	return f
}

// logFailure logs a failed window, with the stack of a recovered panic when there is one.
func (j *Job) logFailure(f Failure, stack []byte) {
	attrs := []any{"meter", f.MeterID, "from", f.From, "to", f.To, "reason", f.Reason, "err", f.Message}
	if stack != nil {
		attrs = append(attrs, "stack", string(stack))
	}
	j.log.Warn("vee window failed; skipped, flagged in vee_failures and retried at the next run", attrs...)
}

// failureReason classifies an error of vee.Process.
func failureReason(err error) string {
	for _, e := range flatten(err) {
		var fe *vee.FieldError
		if errors.As(e, &fe) && strings.HasPrefix(fe.Field, "edits[") {
			return FailureEdit
		}
	}
	return FailureInput
}

// flatten returns the leaves of a tree of wrapped and joined errors.
func flatten(err error) []error {
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		var out []error
		for _, e := range u.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	case interface{ Unwrap() error }:
		if inner := u.Unwrap(); inner != nil {
			return append([]error{err}, flatten(inner)...)
		}
	}
	return []error{err}
}

// Metrics are the job's Prometheus metrics, all named meterhouse_vee_*.
type Metrics struct {
	// failed counts failed attempts: each run adds the windows it could not process, so
	// a window that fails at every retry is counted again at each run.
	failed *prometheus.CounterVec
	// open is the number of windows currently failed, set after each run.
	open prometheus.Gauge
}

// NewMetrics creates the job's metrics and registers them with reg. Several jobs of one
// process (the periodic run and the editing API) share them: a second call returns the
// metrics already registered.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	failed, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meterhouse_vee_failed_windows_total",
		Help: "Failed attempts: meter windows the VEE job could not process and skipped (flagged in vee_failures, " +
			"retried at the next run), counted again at every run that fails them, by reason: " +
			strings.Join(FailureReasons, ", ") + ". meterhouse_vee_open_failed_windows counts the windows still failed.",
	}, []string{"reason"}))
	if err != nil {
		return nil, err
	}
	for _, r := range FailureReasons {
		failed.WithLabelValues(r) // every reason is exported from the start, at 0
	}
	open, err := register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "meterhouse_vee_open_failed_windows",
		Help: "Meter windows whose latest state in vee_failures is failed, as the VEE job's latest run in this process left them (0 before its first run).",
	}))
	if err != nil {
		return nil, err
	}
	return &Metrics{failed: failed, open: open}, nil
}

// register registers c with reg, or returns the collector of the same name already
// registered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("vee job: register metrics: %w", err)
}

// SetMetrics makes the job count into m; without it the job counts nothing.
func (j *Job) SetMetrics(m *Metrics) { j.metrics = m }

// openFailure is a window still failed in vee_failures.
type openFailure struct {
	key           failureKey
	firstFailedAt time.Time
	attempts      uint32
}

// failureKey identifies a window in vee_failures.
type failureKey struct {
	meter    string
	from, to int64
}

func keyOf(f Failure) failureKey { return failureKey{f.MeterID, f.From.Unix(), f.To.Unix()} }

// openFailures reads the windows whose latest state is failed.
func (j *Job) openFailures(ctx context.Context) ([]openFailure, error) {
	rows, err := j.conn.Query(ctx, openFailuresSQL)
	if err != nil {
		return nil, fmt.Errorf("read vee_failures: %w", err)
	}
	defer rows.Close()
	var out []openFailure
	for rows.Next() {
		var o openFailure
		var from, to time.Time
		if err := rows.Scan(&o.key.meter, &from, &to, &o.firstFailedAt, &o.attempts); err != nil {
			return nil, fmt.Errorf("read vee_failures: %w", err)
		}
		o.key.from, o.key.to, o.firstFailedAt = from.Unix(), to.Unix(), o.firstFailedAt.UTC()
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read vee_failures: %w", err)
	}
	return out, nil
}

// openAfter returns how many windows are failed once a run that retried retried, out of
// the open ones, and failed fails has recorded them: the open windows it did not retry,
// and the ones it failed.
func openAfter(open, retried []openFailure, fails []Failure) int {
	keys := make(map[failureKey]bool, len(open)+len(fails))
	for _, o := range open {
		keys[o.key] = true
	}
	for _, o := range retried {
		delete(keys, o.key)
	}
	for _, f := range fails {
		keys[keyOf(f)] = true
	}
	return len(keys)
}

// writeFailures records the run's failures (continuing the attempts of those already
// open), and marks resolved the open failures that the run retried and that no longer
// fail under the same key.
func (j *Job) writeFailures(ctx context.Context, runID string, fails []Failure, open, retried []openFailure, started, computedAt time.Time) error {
	if len(fails) == 0 && len(retried) == 0 {
		return nil
	}
	prev := make(map[failureKey]openFailure, len(open))
	for _, o := range open {
		prev[o.key] = o
	}
	bctx, sent := schema.BatchContext(ctx)
	defer sent()
	b, err := j.conn.PrepareBatch(bctx, insertFailure)
	if err != nil {
		return fmt.Errorf("record vee failures: %w", err)
	}
	defer b.Abort() //nolint:errcheck // a no-op once sent
	seen := map[failureKey]bool{}
	for _, f := range fails {
		k := keyOf(f)
		first, attempts := started, uint32(1)
		if o, ok := prev[k]; ok {
			first, attempts = o.firstFailedAt, o.attempts+1
		}
		seen[k] = true
		if err := b.Append(f.MeterID, f.From, f.To, "failed", f.Reason, f.Message, first, attempts, runID, computedAt); err != nil {
			return fmt.Errorf("record vee failures: %w", err)
		}
	}
	for _, o := range retried {
		if seen[o.key] {
			continue
		}
		msg := "recomputed without failure"
		for _, f := range fails {
			if f.MeterID == o.key.meter && f.From.Unix() < o.key.to && f.To.Unix() > o.key.from {
				msg = fmt.Sprintf("superseded by the failed window [%s, %s)", f.From.Format(time.RFC3339), f.To.Format(time.RFC3339))
				break
			}
		}
		if err := b.Append(o.key.meter, time.Unix(o.key.from, 0).UTC(), time.Unix(o.key.to, 0).UTC(), "resolved", "", msg,
			o.firstFailedAt, o.attempts, runID, computedAt); err != nil {
			return fmt.Errorf("record vee failures: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("record vee failures: %w", err)
	}
	return nil
}
