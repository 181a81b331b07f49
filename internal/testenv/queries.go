package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// RunningQueries returns how many queries whose text holds marker the server behind
// conn is running (from system.processes), leaving out this question itself.
func RunningQueries(t testing.TB, conn driver.Conn, marker string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(),
		"SELECT count() FROM system.processes WHERE position(query, ?) > 0 AND position(query, 'system.processes') = 0",
		marker).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// WaitQueries polls every 100 ms until the server runs exactly want queries whose text
// holds marker, and fails the test when that has not happened within bound (make it
// generous: it is a bound, not a timing).
func WaitQueries(t testing.TB, conn driver.Conn, marker string, want uint64, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		n := RunningQueries(t, conn, marker)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s the server runs %d queries holding %s, want %d", bound, n, marker, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
