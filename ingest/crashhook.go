package ingest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// The crash hook lets the crash tests kill an ingest process at an exact point of a flush,
// the way a power cut or an OOM kill would: no deferred function runs, nothing is flushed
// or committed. It is armed by two environment variables, read once when Run starts, and
// is inert when they are unset:
//
//	MH_TEST_CRASH_AT     before_insert, during_insert or after_insert
//	MH_TEST_CRASH_BATCH  which flush of the process (1 for the first) dies; default 1
//
// before_insert dies after the dead letters are written and before the readings are
// inserted; during_insert inserts the first half of the batch's readings as one INSERT and
// then dies, which is what a connection cut in the middle of a large insert leaves behind
// (a prefix of the batch stored); after_insert dies once ClickHouse accepted the whole
// batch and before the offsets are committed. Flushes are numbered across every consumer
// of the process.
const (
	envCrashAt    = "MH_TEST_CRASH_AT"
	envCrashBatch = "MH_TEST_CRASH_BATCH"

	crashBeforeInsert = "before_insert"
	crashDuringInsert = "during_insert"
	crashAfterInsert  = "after_insert"
)

// crashHook is an armed crash point. A nil *crashHook is inert.
type crashHook struct {
	point   string
	flush   int64
	flushes atomic.Int64
}

// crashHookFromEnv returns the hook the environment asks for, nil when it asks for none,
// or an error naming the variable that is wrong.
func crashHookFromEnv(getenv func(string) string) (*crashHook, error) {
	point := getenv(envCrashAt)
	if point == "" {
		return nil, nil
	}
	switch point {
	case crashBeforeInsert, crashDuringInsert, crashAfterInsert:
	default:
		return nil, fmt.Errorf("%s: %q: want %s, %s or %s", envCrashAt, point,
			crashBeforeInsert, crashDuringInsert, crashAfterInsert)
	}
	h := &crashHook{point: point, flush: 1}
	if s := getenv(envCrashBatch); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: %q: want a positive integer", envCrashBatch, s)
		}
		h.flush = n
	}
	return h, nil
}

// begin numbers a flush that has something to store.
func (h *crashHook) begin() int64 {
	if h == nil {
		return 0
	}
	return h.flushes.Add(1)
}

// armed reports whether flush n must die at point.
func (h *crashHook) armed(n int64, point string) bool {
	return h != nil && n == h.flush && point == h.point
}

// at kills the process when flush n has reached the armed point.
func (h *crashHook) at(n int64, point string) {
	if h.armed(n, point) {
		die()
	}
}

// insertPartAndDie stores the first half of cols through w and kills the process.
func (h *crashHook) insertPartAndDie(ctx context.Context, w Writer, cols *Columns) {
	half := cols.Len() / 2
	part := Columns{MeterID: cols.MeterID[:half], TS: cols.TS[:half],
		RegisterWh: cols.RegisterWh[:half], Quality: cols.Quality[:half]}
	if err := w.Write(ctx, &part); err != nil {
		fmt.Fprintf(os.Stderr, "crash hook: partial insert failed: %v\n", err)
	}
	die()
}

// die sends SIGKILL to the process itself and waits for it to arrive.
func die() {
	fmt.Fprintln(os.Stderr, "crash hook: killing the process")
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Kill()
	}
	for {
		time.Sleep(time.Hour)
	}
}
