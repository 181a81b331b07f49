package ingest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/ingest"
	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestEnsureTopicsNeedsNoCreateRight checks that the application user of the local
// services, which may not create topics, passes EnsureTopics when its topics exist (the
// services script created them), and that a missing topic it may not create is an error
// that says so. The admin then creates a missing topic.
func TestEnsureTopicsNeedsNoCreateRight(t *testing.T) {
	testenv.Integration(t)
	app := testenv.KafkaAs("meterhouse")
	if app.SASL.Mechanism == "" {
		t.Skip("the test broker has no SASL (MH_KAFKA_SASL_MECHANISM is empty)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := ingest.DefaultConfig()
	if err := ingest.EnsureTopics(ctx, app, cfg.Topics()...); err != nil {
		t.Fatalf("meterhouse on the existing %s, %s: %v", cfg.Topic, cfg.DLQTopic, err)
	}
	name := "meterhouse-ensure-" + testenv.Suffix()
	err := ingest.EnsureTopics(ctx, app, ingest.TopicSpec{Name: name, Partitions: 1})
	if !errors.Is(err, kafka.TopicAuthorizationFailed) {
		t.Fatalf("meterhouse creating %s: err = %v, want TopicAuthorizationFailed", name, err)
	}

	admin := testenv.Kafka()
	if err := ingest.EnsureTopics(ctx, admin, ingest.TopicSpec{Name: name, Partitions: 1}); err != nil {
		t.Fatalf("admin creating %s: %v", name, err)
	}
	t.Cleanup(func() {
		if c, err := admin.Client(10 * time.Second); err == nil {
			_, _ = c.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{name}})
		}
	})
	if err := ingest.EnsureTopics(ctx, admin, ingest.TopicSpec{Name: name, Partitions: 1}); err != nil {
		t.Fatalf("admin on the existing %s: %v", name, err)
	}
}
