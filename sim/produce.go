package sim

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/schema"
)

// Producer writes a fleet's readings to a Kafka topic as JSON messages keyed by meter id.
type Producer struct {
	// Writer is the Kafka writer to use; its Topic must be set and its Balancer should hash
	// the key so that each meter's readings stay in order on one partition.
	Writer *kafka.Writer
	// Encode appends a reading's message value to dst.
	Encode func(dst []byte, r schema.Reading) []byte
	// Rate limits readings per second; 0 means as fast as possible.
	Rate float64
	// Progress, when not nil, receives a progress bar.
	Progress io.Writer
}

// Run produces every reading of f and returns how many it produced.
func (p *Producer) Run(ctx context.Context, f *Fleet) (int64, error) {
	const chunk = 5000
	bar := NewProgress(p.Progress, "sim", f.Total())
	defer bar.Done()
	msgs := make([]kafka.Message, 0, chunk)
	var r schema.Reading
	var produced int64
	start := time.Now()
	for {
		msgs = msgs[:0]
		for len(msgs) < chunk && f.Next(&r) {
			msgs = append(msgs, kafka.Message{Key: []byte(r.MeterID), Value: p.Encode(nil, r)})
		}
		if len(msgs) == 0 {
			return produced, nil
		}
		if err := p.Writer.WriteMessages(ctx, msgs...); err != nil {
			return produced, fmt.Errorf("produce readings: %w", err)
		}
		produced += int64(len(msgs))
		bar.Set(produced)
		if p.Rate > 0 {
			due := start.Add(time.Duration(float64(produced) / p.Rate * float64(time.Second)))
			select {
			case <-ctx.Done():
				return produced, ctx.Err()
			case <-time.After(time.Until(due)):
			}
		}
	}
}

// Progress draws a one-line progress bar, at most five times a second. A nil writer draws
// nothing. Set may be called from any goroutine; Done from the one that created it.
type Progress struct {
	w     io.Writer
	label string
	total int64
	done  atomic.Int64
	start time.Time
	stop  chan struct{}
	ended chan struct{}
}

// NewProgress starts a bar counting to total.
func NewProgress(w io.Writer, label string, total int64) *Progress {
	p := &Progress{w: w, label: label, total: total, start: time.Now(), stop: make(chan struct{}), ended: make(chan struct{})}
	if w == nil {
		close(p.ended)
		return p
	}
	go func() {
		defer close(p.ended)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				p.draw()
				fmt.Fprintln(p.w)
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

// Set records how far the work has come.
func (p *Progress) Set(n int64) { p.done.Store(n) }

// Done draws the final state and ends the bar.
func (p *Progress) Done() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.ended
}

func (p *Progress) draw() {
	const width = 30
	n := p.done.Load()
	frac := 0.0
	if p.total > 0 {
		frac = min(1, float64(n)/float64(p.total))
	}
	filled := int(frac * width)
	elapsed := time.Since(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(n) / elapsed
	}
	fmt.Fprintf(p.w, "\r%s [%s%s] %5.1f%% %d/%d %.0f/s", p.label,
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), 100*frac, n, p.total, rate)
}
