package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/broker"
)

// Anchor keeps published heads of logs outside the log's table, so that Verify can tell
// that entries were cut off the end: a head once published names an entry the log must
// still hold, with that hash.
type Anchor interface {
	// Publish records head.
	Publish(ctx context.Context, head Head) error
	// Latest returns up to n of the most recently published heads of the log named log,
	// in the order they were published.
	Latest(ctx context.Context, log string, n int) ([]Head, error)
}

// MemoryAnchor keeps heads in memory: for tests, and for a process that verifies only
// its own log. The zero value is ready; it is safe for concurrent use.
type MemoryAnchor struct {
	mu    sync.Mutex
	heads []Head
}

// Publish records head.
func (m *MemoryAnchor) Publish(_ context.Context, head Head) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.heads = append(m.heads, head)
	return nil
}

// Latest returns up to n of the last heads of log.
func (m *MemoryAnchor) Latest(_ context.Context, log string, n int) ([]Head, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Head
	for _, h := range m.heads {
		if h.Log == log {
			out = append(out, h)
		}
	}
	return lastN(out, n), nil
}

func lastN(hs []Head, n int) []Head {
	if n >= 0 && len(hs) > n {
		return hs[len(hs)-n:]
	}
	return hs
}

// KafkaAnchor publishes heads to a Kafka topic (audit.anchor_topic, audit-anchors by
// default), one message per head keyed by the log's name with the head as JSON
// ({"log","seq","hash","at"}), and reads the latest back from the end of the topic. The
// topic must exist (deploy/local/services.sh creates it); its retention is how far back
// anchors reach. It is safe for concurrent use.
type KafkaAnchor struct {
	topic     string
	transport *kafka.Transport
	w         *kafka.Writer
	client    *kafka.Client
}

// scanMessages is how many messages at the end of each partition Latest reads.
const scanMessages = 10000

// NewKafkaAnchor returns an anchor on topic of the brokers k describes. Close it when
// done.
func NewKafkaAnchor(k broker.Config, topic string) (*KafkaAnchor, error) {
	if err := checkTopic(topic); err != nil {
		return nil, fmt.Errorf("audit: anchor topic: %w", err)
	}
	t, err := k.Transport()
	if err != nil {
		return nil, err
	}
	return &KafkaAnchor{
		topic: topic, transport: t,
		w: &kafka.Writer{Addr: k.Addr(), Transport: t, Topic: topic, Balancer: &kafka.Hash{},
			RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond},
		client: &kafka.Client{Addr: k.Addr(), Timeout: k.Timeout, Transport: t},
	}, nil
}

// Close releases the producer's and the reader's connections.
func (a *KafkaAnchor) Close() error {
	err := a.w.Close()
	a.transport.CloseIdleConnections()
	return err
}

// Publish writes head to the topic and returns once every in-sync replica has it.
func (a *KafkaAnchor) Publish(ctx context.Context, head Head) error {
	v, err := json.Marshal(head)
	if err != nil {
		return err
	}
	if err := a.w.WriteMessages(ctx, kafka.Message{Key: []byte(head.Log), Value: v, Time: head.At}); err != nil {
		return fmt.Errorf("audit: publish anchor to %s: %w", a.topic, err)
	}
	return nil
}

// Latest reads the last messages of every partition of the topic and returns up to n
// of log's heads among them, in publication order. Messages that are not heads are
// skipped.
func (a *KafkaAnchor) Latest(ctx context.Context, log string, n int) ([]Head, error) {
	meta, err := a.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{a.topic}})
	if err != nil {
		return nil, fmt.Errorf("audit: anchors on %s: %w", a.topic, err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		err := errors.New("no such topic")
		if len(meta.Topics) == 1 {
			err = meta.Topics[0].Error
		}
		return nil, fmt.Errorf("audit: anchors on %s: %w", a.topic, err)
	}
	var reqs []kafka.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	offs, err := a.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{a.topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("audit: anchors on %s: %w", a.topic, err)
	}
	var heads []Head
	for _, p := range offs.Topics[a.topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("audit: anchors on %s partition %d: %w", a.topic, p.Partition, p.Error)
		}
		hs, err := a.read(ctx, p.Partition, max(p.FirstOffset, p.LastOffset-scanMessages), p.LastOffset, log)
		if err != nil {
			return nil, err
		}
		heads = append(heads, hs...)
	}
	slices.SortStableFunc(heads, func(x, y Head) int { return x.At.Compare(y.At) })
	return lastN(heads, n), nil
}

// read returns log's heads among the messages of partition from offset from to end.
func (a *KafkaAnchor) read(ctx context.Context, partition int, from, end int64, log string) ([]Head, error) {
	var out []Head
	for from < end {
		res, err := a.client.Fetch(ctx, &kafka.FetchRequest{Topic: a.topic, Partition: partition, Offset: from,
			MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 100 * time.Millisecond})
		if err == nil {
			err = res.Error
		}
		if err != nil {
			return nil, fmt.Errorf("audit: anchors on %s partition %d: %w", a.topic, partition, err)
		}
		next := from
		for {
			rec, err := res.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("audit: anchors on %s partition %d: %w", a.topic, partition, err)
			}
			if rec.Offset < from {
				continue
			}
			next = rec.Offset + 1
			if h, ok := decodeHead(rec, log); ok {
				out = append(out, h)
			}
		}
		if next == from {
			break // nothing more to read (only control records remain)
		}
		from = next
	}
	return out, nil
}

// decodeHead returns the head a record holds when it is one of log's.
func decodeHead(rec *kafka.Record, log string) (Head, bool) {
	if rec.Key == nil || rec.Value == nil {
		return Head{}, false
	}
	k, err := io.ReadAll(rec.Key)
	if err != nil || string(k) != log {
		return Head{}, false
	}
	v, err := io.ReadAll(rec.Value)
	if err != nil {
		return Head{}, false
	}
	var h Head
	if json.Unmarshal(v, &h) != nil || h.Log != log || h.check() != nil {
		return Head{}, false
	}
	return h, true
}
