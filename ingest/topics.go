package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// TopicSpec describes a topic ingest needs.
type TopicSpec struct {
	// Name is the topic's name.
	Name string
	// Partitions is the partition count for a new topic; an existing topic keeps its own.
	Partitions int
}

// EnsureTopics creates the topics that do not exist yet, with replication factor 1 (the
// local single-broker setup; production clusters create topics with their own tooling).
func EnsureTopics(ctx context.Context, brokers []string, topics ...TopicSpec) error {
	if len(brokers) == 0 {
		return errors.New("ensure topics: no brokers")
	}
	var d kafka.Dialer
	conn, err := d.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return fmt.Errorf("ensure topics: dial %s: %w", brokers[0], err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("ensure topics: find controller: %w", err)
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return fmt.Errorf("ensure topics: dial controller: %w", err)
	}
	defer cc.Close()
	for _, t := range topics {
		err := cc.CreateTopics(kafka.TopicConfig{Topic: t.Name, NumPartitions: t.Partitions, ReplicationFactor: 1})
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("ensure topic %s: %w", t.Name, err)
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
// every replica has them. The caller closes it.
func NewReadingsWriter(c Config) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(c.Brokers...),
		Topic:        c.Topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    5000,
		BatchBytes:   16 << 20,
		BatchTimeout: 5 * time.Millisecond,
	}
}
