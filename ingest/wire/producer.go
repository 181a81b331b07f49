package wire

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/schema"
)

// MessageWriter writes messages to a Kafka topic and returns once the broker has them.
// *kafka.Writer (synchronous, the default) satisfies it; its Balancer should be kafka.Hash,
// which sends a message to the partition of its key.
type MessageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Source yields readings one at a time, like *sim.Fleet; Next returns false at the end.
type Source interface {
	Next(r *schema.Reading) bool
}

// DefaultChunkReadings is how many readings a Producer hands its writer at once unless
// told otherwise.
const DefaultChunkReadings = 5000

// Producer writes the readings of a Source to a Kafka topic in one Encoding: the producer
// of the simulator and of the bench tool. Encoding runs on a goroutine of its own, one
// chunk of messages ahead of the writes.
type Producer struct {
	// Writer is where the messages go.
	Writer MessageWriter
	// Encoding says how readings become messages.
	Encoding Encoding
	// ChunkReadings is how many readings one WriteMessages call carries, about (an Arrow
	// message is never split); 0 means DefaultChunkReadings.
	ChunkReadings int
	// Limit, when positive, is how many readings to produce; a source that ends before is
	// an error. Otherwise every reading of the source is produced.
	Limit int64
	// Rate limits readings per second; 0 means as fast as possible.
	Rate float64
	// Progress, when not nil, is told after each write how many readings are in Kafka.
	Progress func(produced int64)
}

// Run produces the readings of src and returns how many it produced. It must not be called
// twice at once.
func (p *Producer) Run(ctx context.Context, src Source) (int64, error) {
	enc, err := NewEncoder(p.Encoding)
	if err != nil {
		return 0, err
	}
	if p.Writer == nil {
		return 0, errors.New("wire: Producer needs a Writer")
	}
	per := p.ChunkReadings
	if per <= 0 {
		per = DefaultChunkReadings
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	free := make(chan *Chunk, 2)
	free <- &Chunk{}
	free <- &Chunk{}
	full := make(chan *Chunk)
	errc := make(chan error, 1)
	go func() {
		defer close(full)
		errc <- p.encode(ctx, enc, src, per, free, full)
	}()
	var produced int64
	start := time.Now()
	for c := range full {
		if err := p.Writer.WriteMessages(ctx, c.Messages...); err != nil {
			cancel()
			for range full { // let the encoder finish
			}
			return produced, fmt.Errorf("produce %s readings: %w", p.Encoding.Format, err)
		}
		produced += int64(c.Readings)
		if p.Progress != nil {
			p.Progress(produced)
		}
		free <- c
		if p.Rate > 0 {
			due := start.Add(time.Duration(float64(produced) / p.Rate * float64(time.Second)))
			select {
			case <-ctx.Done():
				for range full {
				}
				return produced, ctx.Err()
			case <-time.After(time.Until(due)):
			}
		}
	}
	return produced, <-errc
}

// encode turns the readings of src into chunks of about per readings, taking empty chunks
// from free and sending filled ones to full.
func (p *Producer) encode(ctx context.Context, enc *Encoder, src Source, per int, free <-chan *Chunk, full chan<- *Chunk) error {
	var (
		r    schema.Reading
		seen int64
		end  bool
	)
	for !end {
		var c *Chunk
		select {
		case c = <-free:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.Reset()
		for c.Readings < per && !end {
			if p.Limit > 0 && seen == p.Limit {
				end = true
				break
			}
			if !src.Next(&r) {
				if p.Limit > 0 {
					return fmt.Errorf("the source ran out after %d of %d readings", seen, p.Limit)
				}
				end = true
				break
			}
			seen++
			if err := enc.Add(c, r); err != nil {
				return err
			}
		}
		if end { // the last messages hold what is left
			if err := enc.Flush(c); err != nil {
				return err
			}
		}
		if len(c.Messages) == 0 { // only at the end: a chunk fills up with messages
			return nil
		}
		select {
		case full <- c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
