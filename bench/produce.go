package main

import (
	"context"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/broker"
	"github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/sim"
)

// chunkReadings is how many readings one WriteMessages call carries.
const chunkReadings = 100_000

// produce writes the first n readings of f (a fleet, or a source wrapping one) to w, a topic of partitions partitions, in
// format format (arrowBatch readings per Arrow message) with the shared producer, and
// reports progress to bar. JSON messages carry no content-type header: what a DAS sends by
// default.
func produce(ctx context.Context, w *kafka.Writer, f wire.Source, n int64, format wire.Format, arrowBatch, partitions int, bar *sim.Progress) error {
	p := &wire.Producer{
		Writer:        w,
		Encoding:      wire.Encoding{Format: format, ArrowBatch: arrowBatch, Partitions: partitions},
		ChunkReadings: chunkReadings,
		Limit:         n,
		Progress:      bar.Set,
	}
	_, err := p.Run(ctx, f)
	return err
}

// newProducer returns a Kafka writer to topic tuned for bulk loading: large batches,
// leader acknowledgement only, no compression.
func newProducer(k broker.Config, topic string) (*kafka.Writer, error) {
	t, err := k.Transport()
	if err != nil {
		return nil, err
	}
	return &kafka.Writer{
		Addr:         k.Addr(),
		Transport:    t,
		Topic:        topic,
		Balancer:     &kafka.Hash{}, // by the meter id of the key; see wire.Encoding
		RequiredAcks: kafka.RequireOne,
		BatchSize:    chunkReadings,
		BatchBytes:   1 << 20, // the broker's default message.max.bytes
		BatchTimeout: 5 * time.Millisecond,
		MaxAttempts:  20,
	}, nil
}
