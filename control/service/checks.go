package service

import (
	"context"
	"sync"
	"time"

	"github.com/meterhouse/meterhouse/control"
)

// checkOf returns the safety-rule check of a command for meterID requested by r at now:
// At is the later of now and its not-before.
func (s *Service) checkOf(meterID string, r control.Request, now time.Time) control.Check {
	at := now
	if nb, _ := s.timing(r, now); nb.After(at) {
		at = nb
	}
	return control.Check{MeterID: meterID, Action: r.Action, At: at, Override: r.Override}
}

// verdict is the safety rules' answer to one check.
type verdict struct {
	ref *control.Refusal
	err error
}

// checkAll evaluates cs with at most control.check_workers checks at once. It is called
// without the service's lock held, so that acks, reads and other requests go on while
// the rules read their data; the answers, in the order of cs, are what the checks would
// have given one after another. A checker that also implements control.BatchChecker is
// handed the checks in chunks, one chunk per worker at a time, so that it can read the
// data they share together.
func (s *Service) checkAll(ctx context.Context, cs []control.Check) []verdict {
	out := make([]verdict, len(cs))
	if len(cs) == 0 {
		return out
	}
	workers := min(s.cfg.CheckWorkers, len(cs))
	bc, batched := s.deps.Checker.(control.BatchChecker)
	size := 1
	if batched {
		// Chunks small enough to keep every worker busy, large enough to share the reads.
		size = min(maxCheckChunk, max(1, (len(cs)+workers-1)/workers))
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := range next {
				hi := min(lo+size, len(cs))
				if batched {
					refs, errs := bc.CheckAll(ctx, cs[lo:hi])
					for i := lo; i < hi; i++ {
						out[i] = verdict{refs[i-lo], errs[i-lo]}
					}
					continue
				}
				ref, err := s.deps.Checker.Check(ctx, cs[lo])
				out[lo] = verdict{ref, err}
			}
		}()
	}
	for lo := 0; lo < len(cs); lo += size {
		next <- lo
	}
	close(next)
	wg.Wait()
	return out
}

// maxCheckChunk is the most checks one call of control.BatchChecker.CheckAll is given.
const maxCheckChunk = 500
