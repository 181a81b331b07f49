package schema

import (
	"context"
	"sync"
	"time"
)

// BatchContext returns the context to prepare a batch insert with, and the function to call
// once the batch is sent or abandoned (defer it). The context carries ctx's values and
// deadline, and ends when ctx ends, but only until done is called: never after.
//
// clickhouse-go watches a batch's context while it sends and closes the connection when
// the context ends. Its watcher goroutine can still see a cancellation that comes right
// after a successful Send (a request's context, cancelled as the request ends), and then
// closes a connection that is back in the pool, where the next user finds it closed ("use
// of closed network connection"). Safe for concurrent use.
func BatchContext(ctx context.Context) (context.Context, func()) {
	b := &batchCtx{parent: ctx, done: make(chan struct{}), stop: make(chan struct{})}
	go func() {
		select {
		case <-ctx.Done():
			b.mu.Lock()
			if !b.finished {
				b.err = ctx.Err()
				close(b.done)
			}
			b.mu.Unlock()
		case <-b.stop:
		}
	}()
	return b, func() {
		b.mu.Lock()
		if !b.finished {
			b.finished = true
			close(b.stop)
		}
		b.mu.Unlock()
	}
}

// batchCtx is the context BatchContext returns.
type batchCtx struct {
	parent   context.Context
	done     chan struct{} // closed when parent ended before finished
	stop     chan struct{} // closed by finish
	mu       sync.Mutex
	finished bool
	err      error
}

func (b *batchCtx) Deadline() (time.Time, bool) { return b.parent.Deadline() }
func (b *batchCtx) Done() <-chan struct{}       { return b.done }
func (b *batchCtx) Value(key any) any           { return b.parent.Value(key) }
func (b *batchCtx) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}
