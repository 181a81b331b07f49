// Package das simulates a head-end (a data acquisition system) for remote control and
// load runs: a live fleet of package sim's meters whose readings it produces to Kafka every
// interval, and which takes signed commands (control/wire) from Kafka, verifies them
// (key id, signature, expiry, nonce, meter id), carries them out on the meters' relays and
// publishes the answers. The relay shows in the readings: a meter meters nothing while its
// relay is open (disconnected or armed). Faults can be injected per meter or share of the
// fleet, and the time is the DAS's own: accelerated for load runs, injected in tests.
//
// Per command, on topic command-acks keyed by meter id: refused with a reason (see the
// Reason constants), or accepted and then, ExecDelay later (or at not_before), executed
// with the relay's new state or failed with the unchanged one. read_now also publishes a
// reading at once. A relay changed on site is a message of kind event.
package das

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/control/wire"
	readingwire "github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/schema"
)

// DAS is a simulated head-end. Build it with New and run it with Run, once.
type DAS struct {
	cfg     Config
	clock   func() time.Time
	eng     *engine
	running atomic.Bool
}

// New builds the DAS of cfg; it rejects an invalid cfg. The fleet starts at the interval
// boundary at or before the DAS's time now.
func New(cfg Config) (*DAS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	clock := cfg.Clock
	if clock == nil {
		start, wall0, speed := cfg.Start, time.Now(), cfg.Speed
		if start.IsZero() {
			start = wall0
		}
		clock = func() time.Time { return start.Add(time.Duration(float64(time.Since(wall0)) * speed)) }
	}
	eng, err := newEngine(cfg, clock())
	if err != nil {
		return nil, err
	}
	cfg.Log = eng.log
	return &DAS{cfg: cfg, clock: clock, eng: eng}, nil
}

// Meters returns the fleet's registry entries (for schema.InsertMeters). The caller must
// not modify them.
func (d *DAS) Meters() []schema.Meter { return d.eng.fleet.Meters() }

// Run produces readings and answers commands until ctx ends, then returns nil; it returns
// an error when Kafka fails. A command's offset is committed after its answers are
// published (a batch of commands at a time). Nonces are remembered in memory only (until
// the command's not_after): a restarted DAS takes a redelivered command as new.
func (d *DAS) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("das: Run called twice")
	}
	cfg := d.cfg
	dialer, err := cfg.Kafka.Dialer()
	if err != nil {
		return err
	}
	transport, err := cfg.Kafka.Transport()
	if err != nil {
		return err
	}
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        cfg.Kafka.Brokers,
		Dialer:         dialer,
		GroupID:        cfg.Group,
		Topic:          cfg.CommandsTopic,
		MinBytes:       1,
		MaxBytes:       4 << 20,
		MaxWait:        100 * time.Millisecond,
		CommitInterval: 0, // synchronous: after the answers are published
		StartOffset:    kafka.FirstOffset,
	})
	defer reader.Close()
	writer := func(topic string) *kafka.Writer {
		return &kafka.Writer{Addr: cfg.Kafka.Addr(), Transport: transport, Topic: topic, Balancer: &kafka.Hash{},
			RequiredAcks: kafka.RequireAll, BatchSize: 5000, BatchBytes: 16 << 20, BatchTimeout: 2 * time.Millisecond}
	}
	readings, acks := writer(cfg.ReadingsTopic), writer(cfg.AcksTopic)
	defer readings.Close()
	defer acks.Close()

	fetchCtx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	const maxBatch = 1000
	msgs := make(chan kafka.Message, maxBatch)
	batch := make([]kafka.Message, 0, maxBatch)
	errc := make(chan error, 1)
	go func() {
		for {
			m, err := reader.FetchMessage(fetchCtx)
			if err != nil {
				errc <- err
				return
			}
			select {
			case msgs <- m:
			case <-fetchCtx.Done():
				errc <- fetchCtx.Err()
				return
			}
		}
	}()
	cfg.Log.Info("das: running", "meters", len(d.eng.meters), "commands", cfg.CommandsTopic, "group", cfg.Group,
		"readings", cfg.ReadingsTopic, "acks", cfg.AcksTopic, "time", d.clock().UTC().Format(time.RFC3339))
	tick := time.NewTicker(cfg.Tick)
	defer tick.Stop()
	stopped := func(err error) error {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return stopped(fmt.Errorf("das: read %s: %w", cfg.CommandsTopic, err))
		case m := <-msgs:
			// Take what has been fetched (up to maxBatch commands) before publishing the
			// answers and committing, so that a bulk of commands costs one write, not one
			// per command.
			batch = append(batch[:0], m)
		more:
			for len(batch) < maxBatch {
				select {
				case m := <-msgs:
					batch = append(batch, m)
				default:
					break more
				}
			}
			for _, m := range batch {
				now := d.clock()
				d.eng.advance(now)
				d.eng.receive(string(m.Key), m.Value, now)
			}
			if err := d.publish(ctx, readings, acks); err != nil {
				return stopped(err)
			}
			if err := reader.CommitMessages(ctx, batch...); err != nil {
				return stopped(fmt.Errorf("das: commit %s: %w", cfg.CommandsTopic, err))
			}
		case <-tick.C:
			d.eng.advance(d.clock())
			if err := d.publish(ctx, readings, acks); err != nil {
				return stopped(err)
			}
		}
	}
}

// publish writes the engine's outbox: readings (JSON, as ingest accepts them), then acks;
// each message's timestamp is the DAS's time it carries, so that ingest's window judges
// accelerated readings against the DAS's clock.
func (d *DAS) publish(ctx context.Context, readings, acks *kafka.Writer) error {
	out := &d.eng.out
	if len(out.readings) > 0 {
		msgs := make([]kafka.Message, len(out.readings))
		for i, r := range out.readings {
			msgs[i] = kafka.Message{Key: []byte(r.MeterID), Value: readingwire.AppendJSON(nil, r), Time: r.TS}
		}
		if err := readings.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("das: write %s: %w", d.cfg.ReadingsTopic, err)
		}
		out.readings = out.readings[:0]
	}
	if len(out.acks) > 0 {
		msgs := make([]kafka.Message, len(out.acks))
		for i := range out.acks {
			b, err := wire.AppendAck(nil, &out.acks[i])
			if err != nil {
				return err
			}
			msgs[i] = kafka.Message{Key: []byte(out.acks[i].MeterID), Value: b, Time: out.acks[i].At}
		}
		if err := acks.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("das: write %s: %w", d.cfg.AcksTopic, err)
		}
		out.acks = out.acks[:0]
	}
	return nil
}
