package sql

import (
	"fmt"
	"sync"
	"time"

	"github.com/meterhouse/meterhouse/fault"
)

// retryAfter is the Retry-After a refused analyst query is answered with. A slot frees
// as soon as one of the running queries ends, which may be any moment and is at most
// sql.max_execution_time away; a short wait keeps retries cheap without hammering.
const retryAfter = time.Second

// limiter bounds how many analyst queries run at once, overall and per principal. It
// does not queue: a query over either limit is refused at once, so that nothing waits
// while holding a request's resources. It is safe for concurrent use.
type limiter struct {
	global, perPrincipal int

	mu      sync.Mutex
	running int
	by      map[string]int
}

func newLimiter(global, perPrincipal int) *limiter {
	return &limiter{global: global, perPrincipal: perPrincipal, by: map[string]int{}}
}

// acquire takes a slot for principal, or returns an *fault.TooManyRequestsError naming the
// limit that is reached (the principal's own first). The caller calls release exactly
// once when its query has ended.
func (l *limiter) acquire(principal string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.by[principal] >= l.perPrincipal {
		return nil, &fault.TooManyRequestsError{RetryAfter: retryAfter, Message: fmt.Sprintf(
			"%d of your analyst queries are running, the most one principal may run at once (sql.max_concurrent_per_principal); retry when one has ended",
			l.by[principal])}
	}
	if l.running >= l.global {
		return nil, &fault.TooManyRequestsError{RetryAfter: retryAfter, Message: fmt.Sprintf(
			"%d analyst queries are running, the most the server runs at once (sql.max_concurrent); retry later", l.running)}
	}
	l.running++
	l.by[principal]++
	var once sync.Once
	return func() { once.Do(func() { l.release(principal) }) }, nil
}

func (l *limiter) release(principal string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running--
	if l.by[principal]--; l.by[principal] == 0 {
		delete(l.by, principal)
	}
}
