package main

import (
	"context"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/broker"
	"github.com/meterhouse/meterhouse/ingest/wire"
)

// chunkReadings is how many readings one WriteMessages call carries.
const chunkReadings = 100_000

// produce writes the first n readings of f (a fleet, or a source wrapping one) to w, a
// topic of partitions partitions, in format format (arrowBatch readings per Arrow message)
// with the shared producer, at most rate readings a second (0: as fast as possible),
// handing the writer chunk readings at a time (chunkReadings for bulk loads; fewer for a
// paced load, whose readings should not wait for a full chunk), and tells progress how
// many are in Kafka after each write. JSON messages carry no content-type header: what a
// DAS sends by default.
func produce(ctx context.Context, w *kafka.Writer, f wire.Source, n int64, format wire.Format, arrowBatch, partitions, chunk int, rate float64, progress func(int64)) error {
	p := &wire.Producer{
		Writer:        w,
		Encoding:      wire.Encoding{Format: format, ArrowBatch: arrowBatch, Partitions: partitions},
		ChunkReadings: chunk,
		Limit:         n,
		Rate:          rate,
		Progress:      progress,
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
