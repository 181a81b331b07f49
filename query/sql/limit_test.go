package sql

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/fault"
)

// TestLimiter walks a limiter of 3 overall and 2 per principal through acquisitions and
// releases, checking which limit refuses each and that released slots are reused.
func TestLimiter(t *testing.T) {
	l := newLimiter(3, 2)
	type step struct {
		op        string // "take" or "free"
		principal string
		refusedBy string // config key of the limit that refuses, "" when granted
	}
	held := map[string][]func(){}
	for i, s := range []step{
		{"take", "ann", ""},
		{"take", "ann", ""},
		{"take", "ann", "sql.max_concurrent_per_principal"},
		{"take", "bob", ""},
		{"take", "cy", "sql.max_concurrent"},
		{"take", "bob", "sql.max_concurrent"},
		{"free", "ann", ""},
		{"take", "cy", ""},
		{"take", "cy", "sql.max_concurrent"},
		{"free", "bob", ""},
		{"take", "ann", ""},
		{"take", "ann", "sql.max_concurrent_per_principal"},
	} {
		if s.op == "free" {
			rel := held[s.principal]
			rel[0]()
			rel[0]() // a second call must not free another slot
			held[s.principal] = rel[1:]
			continue
		}
		release, err := l.acquire(s.principal)
		if s.refusedBy == "" {
			if err != nil {
				t.Fatalf("step %d: %s refused: %v", i, s.principal, err)
			}
			held[s.principal] = append(held[s.principal], release)
			continue
		}
		var tm *fault.TooManyRequestsError
		if !errors.As(err, &tm) || !errors.Is(err, fault.ErrTooManyRequests) {
			t.Fatalf("step %d: %s: %v, want a TooManyRequestsError", i, s.principal, err)
		}
		if !strings.Contains(tm.Message, "("+s.refusedBy+")") || tm.RetryAfter < time.Second {
			t.Errorf("step %d: %s refused with %q, retry after %s; want the key %s and at least 1s", i, s.principal, tm.Message, tm.RetryAfter, s.refusedBy)
		}
	}
	for _, rels := range held {
		for _, r := range rels {
			r()
		}
	}
	if l.running != 0 || len(l.by) != 0 {
		t.Errorf("after releasing all: running %d, by principal %v", l.running, l.by)
	}
}

// TestLimiterConcurrent takes and releases slots from many goroutines and checks that the
// limits hold at every moment.
func TestLimiterConcurrent(t *testing.T) {
	l := newLimiter(4, 2)
	var mu sync.Mutex
	running, by := 0, map[string]int{}
	var wg sync.WaitGroup
	for g := range 16 {
		p := string(rune('a' + g%5))
		wg.Go(func() {
			for range 500 {
				release, err := l.acquire(p)
				if err != nil {
					continue
				}
				mu.Lock()
				running++
				by[p]++
				if running > 4 || by[p] > 2 {
					t.Errorf("running %d, %s runs %d", running, p, by[p])
				}
				mu.Unlock()
				mu.Lock()
				running--
				by[p]--
				mu.Unlock()
				release()
			}
		})
	}
	wg.Wait()
	if l.running != 0 || len(l.by) != 0 {
		t.Errorf("after all: running %d, by principal %v", l.running, l.by)
	}
}
