package ingest_test

import (
	"testing"
	"time"
)

// TestScaleOut runs two ingesters in one consumer group on a three-partition topic while
// readings are being produced: the second joins while the first holds an unflushed batch
// (batches flush only after a second), which forces a rebalance in the middle of that
// batch; then the first leaves, which forces another. Whatever partitions moved, every
// reading must be stored once (distinct (meter, ts)) and the aggregates and API must equal
// those of a single undisturbed ingester.
func TestScaleOut(t *testing.T) {
	p := newPipeline(t)
	rs, msgs := fleet(t, 30) // 2880 readings
	cfg := p.cfg
	cfg.Consumers = 1
	cfg.BatchRows = 100_000
	cfg.FlushInterval = time.Second
	cfg.SessionTimeout = 6 * time.Second // heartbeats every 600ms: rebalances are noticed fast

	a := startIngester(t, cfg, p.conn)
	produced := p.produceSlowly(msgs, 20, 150*time.Millisecond)
	waitFor(t, 30*time.Second, "the first ingester to consume", func() bool {
		return a.metric(t, "meterhouse_ingest_messages_total") > 0
	})
	if got := a.metric(t, "meterhouse_ingest_batches_total"); got != 0 {
		t.Logf("note: the first ingester flushed %v batches before the second joined; its open batch was younger", got)
	}
	b := startIngester(t, cfg, p.conn)
	waitFor(t, 60*time.Second, "the second ingester to store a batch", func() bool {
		return b.metric(t, "meterhouse_ingest_batches_total") > 0
	})
	a.stop(t)
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	p.waitCommitted(t)
	if err := b.failed(); err != nil {
		t.Fatalf("the second ingester gave up: %v", err)
	}
	b.stop(t)

	ia := a.metric(t, "meterhouse_ingest_readings_inserted_total")
	ib := b.metric(t, "meterhouse_ingest_readings_inserted_total")
	t.Logf("inserted: first ingester %v, second %v, produced %d", ia, ib, len(rs))
	if ia == 0 || ib == 0 {
		t.Fatalf("both ingesters should have stored readings: %v and %v", ia, ib)
	}
	p.requireSame(t, rs)
}
