package main

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

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
	// keyed messages carry the meter id as key; the others have none.
	keyed bool
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
		// One reading per message keyed by its meter id, without a content-type header:
		// what a DAS sends by default.
		return messageFormat{name: name, perMessage: 1, keyed: true,
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

// produce writes the first n readings of f to w in format mf and reports progress to bar.
// Encoding runs on its own goroutine, one chunk ahead of the writes.
func produce(ctx context.Context, w *kafka.Writer, f *sim.Fleet, n int64, mf messageFormat, bar *sim.Progress) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	free := make(chan *chunk, 2)
	free <- &chunk{}
	free <- &chunk{}
	full := make(chan *chunk)
	errc := make(chan error, 1)
	go func() {
		defer close(full)
		errc <- encodeChunks(ctx, f, n, mf, free, full)
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

// encodeChunks turns the first n readings of f into chunks of messages in format mf. It
// takes empty chunks from free and sends filled ones to full.
func encodeChunks(ctx context.Context, f *sim.Fleet, n int64, mf messageFormat, free <-chan *chunk, full chan<- *chunk) error {
	var (
		r     schema.Reading
		cols  ingest.Columns
		spans [][2]int // each message's value within the arena
		err   error
	)
	for left := n; left > 0; {
		var c *chunk
		select {
		case c = <-free:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.msgs, c.arena, c.n, spans = c.msgs[:0], c.arena[:0], 0, spans[:0]
		for c.n < chunkReadings && left > 0 {
			cols.Reset()
			for cols.Len() < mf.perMessage && left > 0 && f.Next(&r) {
				cols.Append(r.MeterID, r.TS, r.RegisterWh, 0)
				left--
			}
			if cols.Len() == 0 {
				return fmt.Errorf("the fleet ran out after %d of %d readings", n-left, n)
			}
			start := len(c.arena)
			if c.arena, err = mf.encode(c.arena, &cols); err != nil {
				return err
			}
			spans = append(spans, [2]int{start, len(c.arena)})
			var key []byte
			if mf.keyed {
				key = []byte(cols.MeterID[0])
			}
			var hdr []kafka.Header
			if mf.contentType != "" {
				hdr = []kafka.Header{{Key: "content-type", Value: []byte(mf.contentType)}}
			}
			c.msgs = append(c.msgs, kafka.Message{Key: key, Headers: hdr})
			c.n += int64(cols.Len())
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
func newProducer(brokers []string, topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.Hash{}, // by meter id; messages without a key go round-robin
		RequiredAcks: kafka.RequireOne,
		BatchSize:    chunkReadings,
		BatchBytes:   1 << 20, // the broker's default message.max.bytes
		BatchTimeout: 5 * time.Millisecond,
		MaxAttempts:  20,
	}
}
