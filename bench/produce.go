package main

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/broker"
	"github.com/meterhouse/meterhouse/ingest"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
)

// messageFormat is a way of putting readings into Kafka messages.
type messageFormat struct {
	// name is the format's name on the command line and in the report.
	name string
	// perMessage is how many readings one message carries.
	perMessage int
	// contentType is the content-type header, or empty for none.
	contentType string
	// encode appends the value of one message holding the readings of cols.
	encode func(dst []byte, cols *ingest.Columns) ([]byte, error)
}

// formatNames lists the formats bench ingest knows, in report order.
var formatNames = []string{"json", "arrow"}

// newFormat returns the message format called name. arrowBatch is the readings per Arrow
// message.
func newFormat(name string, arrowBatch int) (messageFormat, error) {
	switch name {
	case "json":
		// One reading per message, without a content-type header: what a DAS sends by
		// default.
		return messageFormat{name: name, perMessage: 1,
			encode: func(dst []byte, cols *ingest.Columns) ([]byte, error) {
				return ingest.AppendJSON(dst, schema.Reading{MeterID: cols.MeterID[0], TS: cols.TS[0], RegisterWh: cols.RegisterWh[0]}), nil
			}}, nil
	case "arrow":
		return messageFormat{name: name, perMessage: arrowBatch, contentType: ingest.ContentTypeArrow,
			encode: ingest.AppendArrow}, nil
	}
	return messageFormat{}, fmt.Errorf("unknown format %q: want one of %v", name, formatNames)
}

// chunkReadings is how many readings one WriteMessages call carries.
const chunkReadings = 100_000

// chunk is a set of messages written with one call, with the memory backing them.
type chunk struct {
	msgs  []kafka.Message
	arena []byte
	n     int64 // readings
}

// produce writes the first n readings of f to w, a topic of partitions partitions, in
// format mf and reports progress to bar. Encoding runs on its own goroutine, one chunk
// ahead of the writes.
func produce(ctx context.Context, w *kafka.Writer, f *sim.Fleet, n int64, mf messageFormat, partitions int, bar *sim.Progress) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	free := make(chan *chunk, 2)
	free <- &chunk{}
	free <- &chunk{}
	full := make(chan *chunk)
	errc := make(chan error, 1)
	go func() {
		defer close(full)
		errc <- encodeChunks(ctx, f, n, mf, partitions, free, full)
	}()
	var done int64
	for c := range full {
		if err := w.WriteMessages(ctx, c.msgs...); err != nil {
			cancel()
			for range full { // let the encoder finish
			}
			return fmt.Errorf("produce %s: %w", mf.name, err)
		}
		done += c.n
		bar.Set(done)
		free <- c
	}
	return <-errc
}

// encodeChunks turns the first n readings of f into chunks of messages in format mf for a
// topic of partitions partitions. Every message is keyed by the meter id of its first
// reading, and a message holds only meters that the writer's hash balancer sends to the
// same partition as that key, so each meter's readings stay in order on one partition
// whatever the format, as a DAS keeps them. It takes empty chunks from free and sends
// filled ones to full.
func encodeChunks(ctx context.Context, f *sim.Fleet, n int64, mf messageFormat, partitions int, free <-chan *chunk, full chan<- *chunk) error {
	var (
		r       schema.Reading
		balance kafka.Hash
		ids     = make([]int, partitions)
		pending = make([]ingest.Columns, partitions) // readings waiting for a full message, by partition
		spans   [][2]int                             // each message's value within the arena
	)
	for i := range ids {
		ids[i] = i
	}
	// emit encodes the readings of cols as one message of c and empties cols.
	emit := func(c *chunk, cols *ingest.Columns) error {
		start := len(c.arena)
		var err error
		if c.arena, err = mf.encode(c.arena, cols); err != nil {
			return err
		}
		spans = append(spans, [2]int{start, len(c.arena)})
		var hdr []kafka.Header
		if mf.contentType != "" {
			hdr = []kafka.Header{{Key: "content-type", Value: []byte(mf.contentType)}}
		}
		c.msgs = append(c.msgs, kafka.Message{Key: []byte(cols.MeterID[0]), Headers: hdr})
		c.n += int64(cols.Len())
		cols.Reset()
		return nil
	}
	for left := n; left > 0; {
		var c *chunk
		select {
		case c = <-free:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.msgs, c.arena, c.n, spans = c.msgs[:0], c.arena[:0], 0, spans[:0]
		for c.n < chunkReadings && left > 0 {
			if !f.Next(&r) {
				return fmt.Errorf("the fleet ran out after %d of %d readings", n-left, n)
			}
			left--
			p := balance.Balance(kafka.Message{Key: []byte(r.MeterID)}, ids...)
			pending[p].Append(r.MeterID, r.TS, r.RegisterWh, 0)
			if pending[p].Len() == mf.perMessage {
				if err := emit(c, &pending[p]); err != nil {
					return err
				}
			}
		}
		if left == 0 { // the last messages hold what is left
			for p := range pending {
				if pending[p].Len() > 0 {
					if err := emit(c, &pending[p]); err != nil {
						return err
					}
				}
			}
		}
		// The arena may have moved while growing: point the values into it only now.
		for i, s := range spans {
			c.msgs[i].Value = c.arena[s[0]:s[1]:s[1]]
		}
		select {
		case full <- c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
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
		Balancer:     &kafka.Hash{}, // by the meter id of the key; see encodeChunks
		RequiredAcks: kafka.RequireOne,
		BatchSize:    chunkReadings,
		BatchBytes:   1 << 20, // the broker's default message.max.bytes
		BatchTimeout: 5 * time.Millisecond,
		MaxAttempts:  20,
	}, nil
}
