package job

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/vee"
	"github.com/prometheus/client_golang/prometheus"
)

// TestProcessWindow checks how a window that cannot be computed is classified, and that
// the same input always gets the same decision.
func TestProcessWindow(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	good := vee.Input{MeterID: "m", Known: true, Interval: Interval, From: from, To: from.Add(time.Hour),
		Readings: []vee.Reading{{TS: from, RegisterWh: 0}, {TS: from.Add(time.Hour), RegisterWh: 400}}}
	rules := vee.DefaultRuleSet()
	offGrid := good
	offGrid.Edits = []vee.Edit{{Start: from.Add(7 * time.Minute), End: from.Add(22 * time.Minute), Wh: 1, Reason: "r", Author: "a"}}
	empty := good
	empty.To = from // empty
	late := good
	late.From, late.To = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2106, 1, 1, 1, 0, 0, 0, time.UTC)
	panicking := func(vee.Input, vee.RuleSet, time.Time) (vee.Output, error) { panic("index out of range") }
	lying := func(in vee.Input, _ vee.RuleSet, _ time.Time) (vee.Output, error) {
		return vee.Output{Intervals: []vee.Interval{{Start: time.Unix(-900, 0)}}}, nil
	}
	for _, c := range []struct {
		name    string
		process processFunc
		in      vee.Input
		reason  string // "" for success
		message string
	}{
		{"good", vee.Process, good, "", ""},
		{"edit off the grid", vee.Process, offGrid, FailureEdit, "edits[0].start"},
		{"empty window", vee.Process, empty, FailureInput, "to: must be after from"},
		{"window past the store", vee.Process, late, FailureTimeRange, "window.from: 2106-01-01T00:00:00Z is after"},
		{"interval before 1970", lying, good, FailureTimeRange, "interval.start"},
		{"panic", panicking, good, FailurePanic, "panic: index out of range"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for range 2 { // the same decision every time
				out, fail, stack := processWindow(c.process, c.in, rules, from)
				if c.reason == "" {
					if fail != nil || len(out.Intervals) != 4 {
						t.Fatalf("failure %v, %d intervals; want 4 intervals", fail, len(out.Intervals))
					}
					continue
				}
				if fail == nil || fail.Reason != c.reason || !strings.Contains(fail.Message, c.message) {
					t.Fatalf("failure %+v, want reason %s with %q", fail, c.reason, c.message)
				}
				if (c.reason == FailurePanic) != (stack != nil) {
					t.Errorf("stack %d bytes for reason %s", len(stack), c.reason)
				}
			}
		})
	}
}

func TestFailureReason(t *testing.T) {
	edit := errors.Join(&vee.FieldError{Field: "edits[1].end", Message: "x"})
	if r := failureReason(errors.Join(errors.New("vee: meter"), edit)); r != FailureEdit {
		t.Errorf("edit error classified %s", r)
	}
	if r := failureReason(&vee.FieldError{Field: "to", Message: "x"}); r != FailureInput {
		t.Errorf("input error classified %s", r)
	}
}

// TestNewMetricsShared checks that the jobs of one process share one counter, exported
// for every reason from the start.
func TestNewMetricsShared(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewMetrics(reg)
	if err != nil {
		t.Fatalf("second NewMetrics: %v", err)
	}
	a.failed.WithLabelValues(FailureEdit).Inc()
	b.failed.WithLabelValues(FailureEdit).Inc()
	if n := failedCount(t, reg, FailureEdit); n != 2 {
		t.Errorf("edit failures %g, want 2 (one counter)", n)
	}
	for _, r := range FailureReasons {
		failedCount(t, reg, r) // fails the test when a reason is not exported
	}
	a.open.Set(3)
	if n := openGauge(t, reg); n != 3 || b.open != a.open {
		t.Errorf("open failed windows %g, want 3 (one gauge)", n)
	}
}

// TestOpenAfter checks the count of failed windows a run leaves: the open ones it did not
// retry, and those it failed, each window once.
func TestOpenAfter(t *testing.T) {
	key := func(m string, from int64) failureKey { return failureKey{m, from, from + 3600} }
	fail := func(m string, from int64) Failure {
		return Failure{MeterID: m, From: time.Unix(from, 0).UTC(), To: time.Unix(from+3600, 0).UTC()}
	}
	a, b, c := openFailure{key: key("a", 0)}, openFailure{key: key("b", 0)}, openFailure{key: key("c", 0)}
	for _, tt := range []struct {
		name          string
		open, retried []openFailure
		fails         []Failure
		want          int
	}{
		{"nothing", nil, nil, nil, 0},
		{"new failures", nil, nil, []Failure{fail("a", 0), fail("b", 0)}, 2},
		{"retry resolves all", []openFailure{a, b}, []openFailure{a, b}, nil, 0},
		{"retry fails again", []openFailure{a, b}, []openFailure{a, b}, []Failure{fail("a", 0), fail("b", 0)}, 2},
		{"retry resolves one", []openFailure{a, b, c}, []openFailure{a, b, c}, []Failure{fail("b", 0)}, 1},
		{"edit run keeps the open ones", []openFailure{a, b}, nil, []Failure{fail("a", 0), fail("c", 0)}, 3},
		{"superseded by a wider window", []openFailure{a}, []openFailure{a}, []Failure{fail("a", -3600)}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := openAfter(tt.open, tt.retried, tt.fails); got != tt.want {
				t.Errorf("openAfter = %d, want %d", got, tt.want)
			}
		})
	}
}
