package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
)

// The tests in this file restart ClickHouse or Kafka, which breaks every other test using
// them at that moment. They run only with MH_TEST_DISRUPTIVE=1, alone (make test runs them
// in a second step), and restart the services through deploy/local/services.sh with the
// test's environment, so that MH_SERVICES_HOME and the port variables can point them at a
// private instance:
//
//	export MH_SERVICES_HOME=/tmp/mh-svc2 MH_CH_PORT=19000 MH_CH_HTTP_PORT=18123 \
//	       MH_KAFKA_PORT=19092 MH_KAFKA_CONTROLLER_PORT=19093
//	bash deploy/local/services.sh up
//	MH_TEST_DISRUPTIVE=1 MH_CLICKHOUSE_ADDR=127.0.0.1:19000 MH_KAFKA_BROKERS=127.0.0.1:19092 \
//	       go test -count=1 -run Disruptive ./ingest/

// TestDisruptiveClickHouseRestart restarts ClickHouse while readings are being produced
// and ingested: ingest must retry until the server is back, and the stored readings, the
// aggregates and the API must equal those of an undisturbed run.
func TestDisruptiveClickHouseRestart(t *testing.T) {
	testenv.Disruptive(t)
	p := newPipeline(t)
	rs, msgs := fleet(t, 30)
	cfg := p.cfg
	cfg.RetryMin, cfg.RetryMax = 50*time.Millisecond, time.Second
	r := startIngester(t, cfg, p.conn)

	half := len(msgs) / 2
	p.produce(t, msgs[:half/2])
	p.waitCommitted(t)
	produced := p.produceSlowly(msgs[half/2:], 30, 200*time.Millisecond)
	testenv.Services(t, "restart-clickhouse")
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	p.waitCommitted(t)
	if err := r.failed(); err != nil {
		t.Fatalf("ingest gave up: %v", err)
	}
	t.Logf("insert retries during the restart: %v", r.metric(t, "meterhouse_ingest_retries_total", "step", "insert"))
	if r.metric(t, "meterhouse_ingest_retries_total", "step", "insert") == 0 {
		t.Fatal("no insert was retried: the restart did not hit ingest, the test proved nothing")
	}
	p.flushBrokenConns(t)
	p.requireSame(t, rs)
}

// TestDisruptiveKafkaRestart restarts the broker while ingest works through a backlog in
// small batches: ingest must ride out the outage (fetches and commits fail meanwhile), go
// on once the broker is back, and store everything once.
func TestDisruptiveKafkaRestart(t *testing.T) {
	testenv.Disruptive(t)
	p := newPipeline(t)
	rs, msgs := fleet(t, 30)
	cfg := p.cfg
	cfg.BatchRows = 20 // many flushes, so that the restart lands in the middle of the run
	cfg.RetryMin, cfg.RetryMax = 50*time.Millisecond, time.Second

	half := len(msgs) / 2
	p.produce(t, msgs[:half])
	r := startIngester(t, cfg, p.conn)
	waitFor(t, 30*time.Second, "ingest to store a first batch", func() bool {
		return r.metric(t, "meterhouse_ingest_batches_total") > 0
	})
	testenv.Services(t, "restart-kafka")
	p.produce(t, msgs[half:])
	p.waitCommitted(t)
	if err := r.failed(); err != nil {
		t.Fatalf("ingest gave up: %v", err)
	}
	hit := r.metric(t, "meterhouse_ingest_retries_total", "step", "fetch") + r.metric(t, "meterhouse_ingest_commit_failures_total")
	t.Logf("fetch retries and failed commits during the restart: %v", hit)
	if hit == 0 {
		t.Fatal("no fetch or commit failed: the restart did not hit ingest, the test proved nothing")
	}
	p.requireSame(t, rs)
}

// flushBrokenConns pings until the pool's connections broken by a ClickHouse restart have
// been discarded.
func (p *pipeline) flushBrokenConns(t *testing.T) {
	t.Helper()
	waitFor(t, 30*time.Second, "ClickHouse to answer again", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for range 10 {
			if p.conn.Ping(ctx) != nil {
				return false
			}
		}
		return true
	})
}
