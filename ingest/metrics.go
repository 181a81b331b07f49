package ingest

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the ingest counters and histograms. One Metrics serves every consumer of a
// process; its methods are safe for concurrent use.
type Metrics struct {
	messages      prometheus.Counter
	inserted      prometheus.Counter
	deadLettered  *prometheus.CounterVec
	batches       prometheus.Counter
	batchRows     prometheus.Histogram
	insertSeconds prometheus.Histogram
	retries       *prometheus.CounterVec
}

// NewMetrics creates the ingest metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meterhouse_ingest_messages_total", Help: "Kafka messages consumed from the readings topic."}),
		inserted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meterhouse_ingest_readings_inserted_total", Help: "Readings accepted by ClickHouse (replays included)."}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meterhouse_ingest_dead_letters_total", Help: "Records sent to the dead-letter topic, by reject code."}, []string{"code"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meterhouse_ingest_batches_total", Help: "Batches flushed (inserted and committed)."}),
		batchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "meterhouse_ingest_batch_rows", Help: "Readings per inserted batch.",
			Buckets: prometheus.ExponentialBuckets(10, 4, 8)}),
		insertSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "meterhouse_ingest_insert_seconds", Help: "Latency of one batch insert into ClickHouse.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meterhouse_ingest_retries_total", Help: "Retried steps of a flush, by step."}, []string{"step"}),
	}
	for _, c := range []prometheus.Collector{m.messages, m.inserted, m.deadLettered, m.batches, m.batchRows, m.insertSeconds, m.retries} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
