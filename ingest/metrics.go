package ingest

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Metrics are the ingest counters, gauges and histograms, all named meterhouse_ingest_*.
// One Metrics serves every consumer of a process; its methods are safe for concurrent use.
type Metrics struct {
	fetched        prometheus.Counter
	messages       prometheus.Counter
	inserted       prometheus.Counter
	deadLettered   *prometheus.CounterVec
	batches        prometheus.Counter
	batchRows      prometheus.Histogram
	batchBytes     prometheus.Histogram
	insertSeconds  prometheus.Histogram
	retries        *prometheus.CounterVec
	commitFailures prometheus.Counter
	lag            *prometheus.GaugeVec
}

// NewMetrics creates the ingest metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		fetched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meterhouse_ingest_fetched_total",
			Help: "Kafka messages fetched from the readings topic; at most one channel's capacity ahead of messages_total."}),
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meterhouse_ingest_messages_total", Help: "Kafka messages consumed (decoded into a batch) from the readings topic."}),
		inserted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meterhouse_ingest_readings_inserted_total", Help: "Readings accepted by ClickHouse (replays included)."}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meterhouse_ingest_dead_letters_total", Help: "Records sent to the dead-letter topic, by reject code."}, []string{"code"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meterhouse_ingest_batches_total", Help: "Batches flushed (inserted and committed)."}),
		batchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "meterhouse_ingest_batch_rows", Help: "Readings per inserted batch.",
			Buckets: prometheus.ExponentialBuckets(10, 4, 8)}),
		batchBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "meterhouse_ingest_batch_bytes", Help: "Bytes of Kafka message values per flushed batch.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 10)}),
		insertSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "meterhouse_ingest_insert_seconds", Help: "Latency of one batch insert attempt into ClickHouse.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meterhouse_ingest_retries_total", Help: "Retried steps (fetch, dead_letter, insert), by step."}, []string{"step"}),
		commitFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meterhouse_ingest_commit_failures_total",
			Help: "Offset commits that failed after the batch was stored; its messages are redelivered."}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meterhouse_ingest_consumer_lag",
			Help: "Messages of the readings topic not yet committed by the consumer group, per partition (end offset minus committed offset)."},
			[]string{"topic", "partition"}),
	}
	for _, c := range []prometheus.Collector{m.fetched, m.messages, m.inserted, m.deadLettered, m.batches,
		m.batchRows, m.batchBytes, m.insertSeconds, m.retries, m.commitFailures, m.lag} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// pollLag measures the group's lag on every partition each LagInterval until ctx ends.
// A failed measurement keeps the previous values and is logged; it never stops ingest.
func (in *Ingester) pollLag(ctx context.Context) {
	client, err := in.kafka.Client(10 * time.Second)
	if err != nil {
		in.log.Error("consumer lag is not measured", "err", err)
		return
	}
	if t, ok := client.Transport.(*kafka.Transport); ok {
		defer t.CloseIdleConnections()
	}
	t := time.NewTicker(in.cfg.LagInterval)
	defer t.Stop()
	for {
		if err := in.measureLag(ctx, client); err != nil && ctx.Err() == nil {
			in.log.Debug("measuring consumer lag failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// measureLag sets the lag gauge of every partition of the readings topic. A partition on
// which the group has committed nothing counts from offset 0.
func (in *Ingester) measureLag(ctx context.Context, client *kafka.Client) error {
	topic := in.cfg.Topic
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if len(meta.Topics) != 1 {
		return fmt.Errorf("metadata: topic %s missing", topic)
	}
	if err := meta.Topics[0].Error; err != nil {
		return fmt.Errorf("metadata of topic %s: %w", topic, err)
	}
	parts := make([]int, 0, len(meta.Topics[0].Partitions))
	reqs := make([]kafka.OffsetRequest, 0, len(meta.Topics[0].Partitions))
	for _, p := range meta.Topics[0].Partitions {
		parts = append(parts, p.ID)
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
	}
	ends, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return fmt.Errorf("end offsets: %w", err)
	}
	got, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: in.cfg.GroupID, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return fmt.Errorf("committed offsets: %w", err)
	}
	if got.Error != nil {
		return fmt.Errorf("committed offsets: %w", got.Error)
	}
	committed := map[int]int64{}
	for _, p := range got.Topics[topic] {
		if p.Error == nil && p.CommittedOffset >= 0 {
			committed[p.Partition] = p.CommittedOffset
		}
	}
	for _, p := range ends.Topics[topic] {
		if p.Error != nil || p.LastOffset < 0 {
			continue
		}
		in.metrics.lag.WithLabelValues(topic, strconv.Itoa(p.Partition)).Set(float64(max(p.LastOffset-committed[p.Partition], 0)))
	}
	return nil
}
