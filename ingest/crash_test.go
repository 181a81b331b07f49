package ingest_test

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
)

// ingestEnv returns the environment that points a `meterhouse ingest` subprocess at the
// pipeline's database, topics and group, with small batches and a short session timeout
// so that the group notices a killed member quickly. extra is appended last and wins.
func (p *pipeline) ingestEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	ch := testenv.ClickHouseConfig(t)
	ch.Database = p.database(t)
	env := append(testenv.ClickHouseEnv(ch), []string{
		"MH_CONFIG=",
		"MH_INGEST_TOPIC=" + p.cfg.Topic,
		"MH_INGEST_DLQ_TOPIC=" + p.cfg.DLQTopic,
		"MH_INGEST_GROUP_ID=" + p.cfg.GroupID,
		"MH_INGEST_CONSUMERS=1",
		"MH_INGEST_BATCH_ROWS=" + strconv.Itoa(crashBatchRows),
		"MH_INGEST_FLUSH_INTERVAL=200ms",
		"MH_INGEST_SESSION_TIMEOUT=6s",
		"MH_INGEST_RETRY_MIN=50ms",
		"MH_INGEST_RETRY_MAX=1s",
		"MH_INGEST_UNSAFE_COMMIT_BEFORE_INSERT=false",
		"MH_TEST_CRASH_AT=",
		"MH_TEST_CRASH_BATCH=",
		"MH_LOG_LEVEL=info",
	}...)
	env = append(env, testenv.KafkaEnv(testenv.Kafka())...)
	return append(env, extra...)
}

const crashBatchRows = 400

// TestCrashReplay kills `meterhouse ingest` with SIGKILL at each point of a flush (before
// the insert, in the middle of it, after it but before the offset commit), restarts it,
// and checks that the distinct (meter, ts) stored, the hourly aggregates and the API's
// answers equal those of a run without a crash.
//
// The control cases run the same crash with ingest.unsafe_commit_before_insert, which
// commits the offsets before storing the batch: there the test must find lost readings,
// which shows that the comparison can fail. The after_insert and during_insert cases also
// check that the crash did cause a replay (rows stored twice before deduplication), so
// that they exercise the deduplication rather than pass by luck.
func TestCrashReplay(t *testing.T) {
	testenv.Integration(t)
	bin := testenv.Binary(t)
	tests := []struct {
		name       string
		at         string
		unsafe     bool // the control: offsets committed before the insert
		wantReplay bool // rows of the killed flush are stored twice before merging
	}{
		{name: "before_insert", at: "before_insert"},
		{name: "during_insert", at: "during_insert", wantReplay: true},
		{name: "after_insert", at: "after_insert", wantReplay: true},
		{name: "control_before_insert", at: "before_insert", unsafe: true},
		{name: "control_during_insert", at: "during_insert", unsafe: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPipeline(t)
			rs, msgs := fleet(t, 20) // 1920 readings: several batches of crashBatchRows
			// Keep duplicates visible: without merges, count() shows whether a replay stored
			// rows twice. Only this test's table is affected.
			if err := p.conn.Exec(context.Background(), "SYSTEM STOP MERGES readings"); err != nil {
				t.Fatal(err)
			}
			p.produce(t, msgs)

			crash := []string{"MH_TEST_CRASH_AT=" + tt.at, "MH_TEST_CRASH_BATCH=2",
				"MH_INGEST_UNSAFE_COMMIT_BEFORE_INSERT=" + strconv.FormatBool(tt.unsafe)}
			first := testenv.StartProcess(t, "ingest#1", bin, p.ingestEnv(t, crash...), "ingest")
			sig, code, err := first.Wait(90 * time.Second)
			if err != nil {
				t.Fatalf("the crash hook did not fire: %v", err)
			}
			if sig != syscall.SIGKILL {
				t.Fatalf("ingest#1 ended with signal %v, exit code %d; want SIGKILL from the crash hook", sig, code)
			}
			if got := p.distinctStored(t); got >= uint64(len(rs)) {
				t.Fatalf("after the crash %d of %d readings are stored; the crash came too late to test anything", got, len(rs))
			}

			second := testenv.StartProcess(t, "ingest#2", bin, p.ingestEnv(t,
				"MH_INGEST_UNSAFE_COMMIT_BEFORE_INSERT="+strconv.FormatBool(tt.unsafe)), "ingest")
			p.waitCommitted(t)
			if err := second.Stop(time.Minute); err != nil {
				t.Fatal(err)
			}

			diffs := p.differences(t, rs)
			if tt.unsafe {
				if len(diffs) == 0 {
					t.Fatal("control: with offsets committed before the insert the crash should lose readings, but the check found none; it cannot detect loss")
				}
				t.Logf("control: the check detects the unsafe pipeline, as it must:\n%s", strings.Join(diffs, "\n"))
				return
			}
			if len(diffs) > 0 {
				t.Fatalf("after a crash at %s and a restart:\n%s", tt.at, strings.Join(diffs, "\n"))
			}
			if raw, distinct := p.rawRows(t), p.distinctStored(t); tt.wantReplay && raw <= distinct {
				t.Fatalf("a crash at %s should replay the killed batch (rows stored twice), but readings has %d rows for %d distinct", tt.at, raw, distinct)
			}
		})
	}
}
