package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/broker"
)

// TopicSpec describes a topic ingest needs.
type TopicSpec struct {
	// Name is the topic's name.
	Name string
	// Partitions is the partition count for a new topic; an existing topic keeps its own.
	Partitions int
}

// createTime keeps each message's timestamp as its producer set it (CreateTime), not the
// broker's append time: the consumer judges the timestamp window against it, and HTTP
// ingest sets it to the time it accepted the reading, so a broker that replaced it by a
// later append time could refuse a reading that was answered 202.
var createTime = kafka.ConfigEntry{ConfigName: "message.timestamp.type", ConfigValue: "CreateTime"}

// EnsureTopics creates, with replication factor 1 (the local single-broker setup;
// production clusters create topics with their own tooling), the topics that the metadata
// does not list yet. Existing topics are left alone, so that a principal that may only
// describe them (the local services' meterhouse user) needs no right to create topics.
func EnsureTopics(ctx context.Context, k broker.Config, topics ...TopicSpec) error {
	client, err := k.Client(k.Timeout)
	if err != nil {
		return fmt.Errorf("ensure topics: %w", err)
	}
	if t, ok := client.Transport.(*kafka.Transport); ok {
		defer t.CloseIdleConnections()
	}
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return fmt.Errorf("ensure topics: metadata from %v: %w", k.Brokers, err)
	}
	exists := map[string]bool{}
	for _, t := range meta.Topics {
		switch {
		case t.Error == nil:
			exists[t.Name] = true
		case !errors.Is(t.Error, kafka.UnknownTopicOrPartition):
			return fmt.Errorf("ensure topic %s: %w", t.Name, t.Error)
		}
	}
	var missing []kafka.TopicConfig
	for _, t := range topics {
		if !exists[t.Name] {
			missing = append(missing, kafka.TopicConfig{Topic: t.Name, NumPartitions: t.Partitions, ReplicationFactor: 1,
				ConfigEntries: []kafka.ConfigEntry{createTime}})
		}
	}
	if len(missing) == 0 {
		return nil
	}
	cc, err := k.DialController(ctx)
	if err != nil {
		return fmt.Errorf("ensure topics: %w", err)
	}
	defer cc.Close()
	for _, t := range missing {
		err := cc.CreateTopics(t)
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("ensure topic %s: %w", t.Topic, err)
		}
	}
	return nil
}

// Topics returns the topics cfg needs: the readings topic and its dead-letter topic.
func (c Config) Topics() []TopicSpec {
	return []TopicSpec{{Name: c.Topic, Partitions: c.Partitions}, {Name: c.DLQTopic, Partitions: 1}}
}

// NewReadingsWriter returns a Kafka writer to the readings topic of c for producers of
// readings (the simulator, HTTP ingest): messages are keyed by meter id and hashed to a
// partition, so one meter's readings stay in order, and WriteMessages returns only once
// every replica has them. It connects as k says. The caller closes it.
func NewReadingsWriter(k broker.Config, c Config) (*kafka.Writer, error) {
	t, err := k.Transport()
	if err != nil {
		return nil, err
	}
	return &kafka.Writer{
		Addr:         k.Addr(),
		Transport:    t,
		Topic:        c.Topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    5000,
		BatchBytes:   16 << 20,
		BatchTimeout: 5 * time.Millisecond,
	}, nil
}
