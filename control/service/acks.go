package service

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/control"
	"github.com/meterhouse/meterhouse/control/audit"
	"github.com/meterhouse/meterhouse/control/wire"
)

// DASActor is the transition and audit actor of what the DAS reports.
const DASActor = "das"

// maxAckBatch is how many acknowledgements are stored together.
const maxAckBatch = 500

// consume reads command-acks in the consumer group and hands batches to handleAcks,
// committing their offsets only after their effects are stored.
func (s *Service) consume(ctx context.Context) error {
	dialer, err := s.deps.Kafka.Dialer()
	if err != nil {
		return err
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        s.deps.Kafka.Brokers,
		Dialer:         dialer,
		GroupID:        s.cfg.GroupID,
		Topic:          s.cfg.AcksTopic,
		MinBytes:       1,
		MaxBytes:       4 << 20,
		MaxWait:        100 * time.Millisecond,
		CommitInterval: 0, // commit synchronously, after the batch is stored
		StartOffset:    kafka.FirstOffset,
	})
	defer r.Close()
	ch := make(chan kafka.Message, 1024)
	go func() {
		defer close(ch)
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				s.log.Warn("control: fetch command-acks failed; retrying", "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
				continue
			}
			select {
			case ch <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		m, ok := <-ch
		if !ok {
			return nil
		}
		batch := []kafka.Message{m}
	drain:
		for len(batch) < maxAckBatch {
			select {
			case m, ok := <-ch:
				if !ok {
					break drain
				}
				batch = append(batch, m)
			default:
				break drain
			}
		}
		if err := s.handleAcks(ctx, batch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := r.CommitMessages(ctx, batch...); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The effects are stored; a redelivery of the batch changes nothing.
			s.log.Warn("control: commit command-acks offsets failed", "err", err)
		}
	}
}

// handleAcks applies a batch of messages from command-acks, in order, and stores the
// transitions, relay states and audit entries they cause.
func (s *Service) handleAcks(ctx context.Context, msgs []kafka.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC()
	var ts []transitionRow
	var es []audit.Entry
	var relays []relayRow
	touched := map[string]*Command{} // commands closed within this batch, not stored yet
	for _, m := range msgs {
		a, err := wire.DecodeAck(m.Value)
		if err == nil && len(m.Key) > 0 && !bytes.Equal(m.Key, []byte(a.MeterID)) {
			err = fmt.Errorf("key %q is not meter_id %q", m.Key, a.MeterID)
		}
		if err != nil {
			s.log.Warn("control: a message on command-acks is not an ack; ignored", "partition", m.Partition, "offset", m.Offset, "err", err)
			es = append(es, audit.Entry{At: now, Actor: DASActor, Event: "bad_result",
				Detail: fmt.Sprintf("partition %d offset %d: %v", m.Partition, m.Offset, err)})
			continue
		}
		at := a.At.UTC()
		if at.IsZero() {
			at = now
		}
		if a.Kind == wire.KindEvent {
			detail := a.Event
			if a.Relay != "" {
				relays = append(relays, relayRow{meterID: a.MeterID, state: a.Relay, source: "event", at: at})
				detail += ": relay " + a.Relay
			}
			if a.Reason != "" {
				detail += " (" + a.Reason + ")"
			}
			es = append(es, audit.Entry{At: now, Actor: DASActor, Event: "relay_event", MeterID: a.MeterID, Detail: detail})
			continue
		}
		c := s.open[a.CommandID]
		if c == nil {
			c = touched[a.CommandID]
		}
		if c == nil {
			if c, err = s.store.command(ctx, a.CommandID); err != nil {
				return err
			}
		}
		if c == nil || c.MeterID != a.MeterID {
			s.metrics.unknown.Inc()
			s.log.Warn("control: a result for an unknown command; recorded and ignored", "command", a.CommandID, "meter", a.MeterID, "status", a.Status)
			es = append(es, audit.Entry{At: now, Actor: DASActor, Event: "unknown_result", CommandID: a.CommandID, MeterID: a.MeterID,
				Detail: fmt.Sprintf("status %s relay %q: %s", a.Status, a.Relay, a.Reason)})
			continue
		}
		touched[c.ID] = c
		if c.State == control.StateApproved && a.Status != wire.AckRefused {
			// An answer other than a refusal proves the command was published: the service
			// stopped after publishing it and before storing sent. Sent is recorded now,
			// and the answer applies; its resend is refused by the DAS as a replay.
			why := fmt.Sprintf("inferred from the DAS's %s ack: published before the service stopped, its sent transition was not stored", a.Status)
			ts = append(ts, c.move(control.StateSent, now, Actor, why))
			es = append(es, entry(now, Actor, "sent", c, why))
			if control.Capped(c.Action) {
				s.sent = append(s.sent, sentRec{at: now, feeder: c.Feeder})
			}
		}
		to, outcome, err := control.Decide(c.State, a.Status)
		if err != nil {
			return err
		}
		detail := a.Status
		if a.Relay != "" {
			detail += ", relay " + a.Relay
		}
		if a.Reason != "" {
			detail += ": " + a.Reason
		}
		if a.Status == wire.AckRefused && a.Reason == wire.ReasonReplay && outcome == control.Apply {
			// The DAS took this delivery for a copy of one it accepted already (a Kafka
			// redelivery, a duplicated delivery, a resend after a crash): that is no
			// refusal of the command, whose result is still to come. Audited once.
			if !c.replayNoted {
				c.replayNoted = true
				es = append(es, entry(now, DASActor, "replay_refused", c, detail+" (a copy of a delivery the DAS accepted; the command stays "+string(c.State)+")"))
			}
			continue
		}
		switch outcome {
		case control.Duplicate:
			s.log.Debug("control: a result that changes nothing (a redelivery or an older answer)", "command", c.ID, "state", c.State, "status", a.Status)
			if (a.Status == wire.AckExecuted || a.Status == wire.AckFailed) && a.Relay != "" && !s.pendingRelay(relays, c.ID) {
				// An executed or failed result always writes the relay state it reports (the
				// same row again for a redelivery): the DAS saw the relay so.
				relays = append(relays, relayRow{meterID: c.MeterID, state: a.Relay, source: "command", commandID: c.ID, at: at})
			}
		case control.Apply:
			ts = append(ts, c.move(to, now, DASActor, detail))
			es = append(es, entry(now, DASActor, string(to), c, detail))
			if to.Final() {
				s.forget(c)
			}
			if (to == control.StateExecuted || to == control.StateFailed) && a.Relay != "" {
				relays = append(relays, relayRow{meterID: c.MeterID, state: a.Relay, source: "command", commandID: c.ID, at: at})
			}
		case control.Late:
			if a.Relay == "" {
				continue
			}
			seen, err := s.store.relayOf(ctx, c.MeterID, c.ID)
			if err != nil {
				return err
			}
			if seen || s.pendingRelay(relays, c.ID) {
				continue // a redelivered late result: recorded and alarmed already
			}
			s.metrics.late.Inc()
			s.log.Error("control: ALARM: a result arrived after its command ended; the relay state is updated, the command's state stays",
				"command", c.ID, "meter", c.MeterID, "state", c.State, "status", a.Status, "relay", a.Relay)
			relays = append(relays, relayRow{meterID: c.MeterID, state: a.Relay, source: "command", commandID: c.ID, at: at})
			es = append(es, entry(now, DASActor, "late_result", c, detail+" (after "+string(c.State)+")"))
		}
	}
	// Relay states first: should the process die before the transitions are stored, the
	// redelivered acks apply again, and a house without power never shows as connected.
	if err := retry(ctx, s.log, "store relay states", func() error { return s.store.writeRelay(ctx, relays) }); err != nil {
		return err
	}
	return s.commit(ctx, ts, es)
}

func (s *Service) pendingRelay(rs []relayRow, commandID string) bool {
	for _, r := range rs {
		if r.commandID == commandID {
			return true
		}
	}
	return false
}
