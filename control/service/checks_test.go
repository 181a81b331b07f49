package service

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/control"
)

// TestChecksInParallel checks that the safety rules of a bulk request are asked
// control.check_workers meters at a time, never more, and that the decisions are those of
// checks one after another: exactly the meters the rules refuse are refused.
func TestChecksInParallel(t *testing.T) {
	const workers = 4
	f := newFixture(t, func(c *Config) { c.CheckWorkers, c.ApprovalThreshold = workers, 100 })
	ids := f.meters(20, 2)
	refused := map[string]bool{ids[3]: true, ids[11]: true, ids[19]: true}
	for m := range refused {
		f.checker.set(m, &control.Refusal{Rule: "weekend", Reason: "a Saturday"})
	}
	var mu sync.Mutex
	inflight, most, timedOut := 0, 0, false
	full := make(chan struct{})
	f.checker.mu.Lock()
	f.checker.hook = func(control.Check) {
		mu.Lock()
		inflight++
		most = max(most, inflight)
		if inflight == workers && !timedOut {
			select {
			case <-full:
			default:
				close(full)
			}
		}
		wait := !timedOut
		mu.Unlock()
		if wait {
			// Until workers checks run at once; checks one after another never get
			// there, and then only the first waits.
			select {
			case <-full:
			case <-time.After(10 * time.Second):
				mu.Lock()
				timedOut = true
				mu.Unlock()
			}
		}
		mu.Lock()
		inflight--
		mu.Unlock()
	}
	f.checker.mu.Unlock()
	var b Batch
	body := map[string]any{"action": "disconnect", "reason": "unpaid", "meters": ids}
	if st := f.call(http.MethodPost, "/v1/commands", f.token(api.RoleOperator), "par", body, &b); st != http.StatusCreated {
		t.Fatalf("bulk: %d", st)
	}
	for _, m := range b.Commands {
		if refused[m.MeterID] != (m.State == control.StateRefused) {
			t.Errorf("%s: %s; refused by the rules: %v", m.MeterID, m.State, refused[m.MeterID])
		}
	}
	for _, m := range b.Commands {
		if !refused[m.MeterID] {
			f.wait(m.ID, control.StateExecuted)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if timedOut || most != workers {
		t.Errorf("at most %d checks ran at once (waited in vain: %v), want %d (control.check_workers)", most, timedOut, workers)
	}
}

// TestChecksOutsideTheLock checks that while the safety rules are being asked, at a
// request and again right before sending, the service still answers reads (and so acks,
// which take the same lock): the rules are never asked under the service's lock.
func TestChecksOutsideTheLock(t *testing.T) {
	f := newFixture(t, nil)
	ids := f.meters(3, 1)
	op := f.token(api.RoleOperator)
	done := f.request(op, "c", ids[2])
	f.wait(done.ID, control.StateExecuted)

	var mu sync.Mutex
	checks := map[string]int{}
	block := map[string]int{ids[0]: 1, ids[1]: 2} // A at its request, B before sending
	gate, started := make(chan struct{}), make(chan string, 2)
	f.checker.mu.Lock()
	f.checker.hook = func(c control.Check) {
		mu.Lock()
		checks[c.MeterID]++
		n, g := checks[c.MeterID], gate
		mu.Unlock()
		if block[c.MeterID] == n {
			started <- c.MeterID
			<-g
		}
	}
	f.checker.mu.Unlock()
	readable := func(when string) {
		t.Helper()
		got := make(chan error, 1)
		go func() {
			_, err := f.svc.Command(f.ctx, done.ID)
			got <- err
		}()
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			mu.Lock()
			close(gate)
			mu.Unlock()
			t.Fatalf("%s: GET of a command waited for the safety rules", when)
		}
	}

	requested := make(chan *Command, 1)
	go func() { requested <- f.request(op, "a", ids[0]) }()
	<-started
	readable("while a request's rules are asked")
	close(gate)
	a := <-requested
	f.wait(a.ID, control.StateExecuted)

	mu.Lock()
	gate = make(chan struct{})
	mu.Unlock()
	b := f.request(op, "b", ids[1])
	<-started
	readable("while the rules are asked again before sending")
	close(gate)
	f.wait(b.ID, control.StateExecuted)
}

// request asks for a disconnect of meter under key and returns the command.
func (f *fixture) request(token, key, meter string) *Command {
	f.t.Helper()
	var c Command
	if st := f.call(http.MethodPost, "/v1/meters/"+meter+"/commands", token, key, disconnect("unpaid"), &c); st != http.StatusCreated {
		f.t.Errorf("request %s: %d", meter, st)
	}
	return &c
}
