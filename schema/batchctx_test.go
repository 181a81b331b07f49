package schema

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestBatchContext: the batch's context ends with its parent while the batch is being
// sent, and never once done has been called, whatever happens to the parent then.
func TestBatchContext(t *testing.T) {
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	ctx, done := BatchContext(parent)
	if ctx.Value(key{}) != "v" || ctx.Err() != nil {
		t.Fatalf("value %v, err %v", ctx.Value(key{}), ctx.Err())
	}
	cancel()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the parent's cancellation did not reach the batch")
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("Err() = %v", ctx.Err())
	}
	done()
	done() // twice is harmless

	parent2, cancel2 := context.WithCancel(context.Background())
	ctx2, done2 := BatchContext(parent2)
	done2()
	cancel2()
	select {
	case <-ctx2.Done():
		t.Fatal("a cancellation after done reached the batch")
	case <-time.After(100 * time.Millisecond):
	}
	if ctx2.Err() != nil {
		t.Errorf("Err() after done = %v", ctx2.Err())
	}
}
