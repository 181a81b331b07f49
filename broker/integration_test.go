package broker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/broker"
	"github.com/meterhouse/meterhouse/internal/testenv"
)

// secured skips the test unless the test broker authenticates clients (the local services
// do; MH_KAFKA_SASL_MECHANISM= points the tests at a broker without SASL).
func secured(t *testing.T) broker.Config {
	t.Helper()
	testenv.Integration(t)
	c := testenv.Kafka()
	if c.SASL.Mechanism == "" {
		t.Skip("the test broker has no SASL (MH_KAFKA_SASL_MECHANISM is empty)")
	}
	return c
}

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestAuthentication checks that the broker serves the admin with its password (SCRAM) and
// das with PLAIN, and refuses a client without SASL and one with a wrong password, the
// latter with an error that says who was refused.
func TestAuthentication(t *testing.T) {
	admin := secured(t)
	if err := admin.Ping(ctx(t)); err != nil {
		t.Fatalf("admin with its password: %v", err)
	}

	anon := admin
	anon.SASL = broker.SASL{}
	anon.Timeout = 5 * time.Second
	if err := anon.Ping(ctx(t)); err == nil {
		t.Error("a client without SASL got metadata from the broker")
	}

	// The kcat files of the local services use PLAIN (old librdkafka cannot do SCRAM with
	// Kafka 4): the same users and passwords.
	plain := testenv.KafkaAs("das")
	plain.SASL.Mechanism = broker.Plain
	if err := plain.Ping(ctx(t)); err != nil {
		t.Errorf("das with PLAIN: %v", err)
	}

	wrong := testenv.KafkaAs("meterhouse")
	wrong.SASL.PasswordFile, wrong.SASL.Password = "", "not-the-password"
	err := wrong.Ping(ctx(t))
	if !errors.Is(err, kafka.SASLAuthenticationFailed) {
		t.Fatalf("wrong password: err = %v, want SASLAuthenticationFailed", err)
	}
	if !strings.Contains(err.Error(), `login as "meterhouse" refused`) {
		t.Errorf("wrong password: error %q does not say whose login was refused", err)
	}
}

// TestACLs checks who may write and read which topic, without writing or reading
// anything: the broker checks authorization first and answers TopicAuthorizationFailed to
// a principal without the right. A write goes to a partition that does not exist
// (UnknownTopicOrPartition when allowed); a read asks partition 0 for an offset far past
// its end (OffsetOutOfRange when allowed).
func TestACLs(t *testing.T) {
	secured(t)
	for _, tc := range []struct {
		user, topic string
		write, read bool
	}{
		{"meterhouse", "readings", true, true},
		{"das", "readings", true, false},
		{"meterhouse", "readings-dlq", true, false},
		{"das", "readings-dlq", false, false},
		{"meterhouse", "commands", true, false},
		{"das", "commands", false, true},
		{"das", "command-acks", true, false},
		{"meterhouse", "command-acks", false, true},
		{"meterhouse", "audit-anchors", true, true},
		{"das", "audit-anchors", false, false},
	} {
		t.Run(tc.user+"/"+tc.topic, func(t *testing.T) {
			c := testenv.KafkaAs(tc.user)
			conn := probe(t, c, tc.topic, 9999)
			_, err := conn.WriteMessages(kafka.Message{Value: []byte("acl probe")})
			check(t, "write", err, tc.write, kafka.UnknownTopicOrPartition)

			conn = probe(t, c, tc.topic, 0)
			if _, err := conn.Seek(1<<40, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
				t.Fatal(err)
			}
			b := conn.ReadBatch(1, 1<<20)
			_, err = b.ReadMessage()
			_ = b.Close()
			check(t, "read", err, tc.read, kafka.OffsetOutOfRange)
		})
	}
}

// TestGroupACLs checks that meterhouse may use its consumer groups (meterhouse-*) and das
// may not.
func TestGroupACLs(t *testing.T) {
	secured(t)
	group := "meterhouse-ingest"
	for _, tc := range []struct {
		user string
		ok   bool
	}{{"meterhouse", true}, {"das", false}} {
		client, err := testenv.KafkaAs(tc.user).Client(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c := ctx(t)
		for {
			// The offsets topic is created on the group's first use: retry until the
			// coordinator is there and has loaded it (GroupLoadInProgress on a new broker).
			var res *kafka.OffsetFetchResponse
			res, err = client.OffsetFetch(c, &kafka.OffsetFetchRequest{GroupID: group})
			if err == nil {
				err = res.Error
			}
			if !errors.Is(err, kafka.NotCoordinatorForGroup) && !errors.Is(err, kafka.GroupCoordinatorNotAvailable) &&
				!errors.Is(err, kafka.GroupLoadInProgress) || c.Err() != nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: offsets of %s: %v", tc.user, group, err)
		case !tc.ok && !errors.Is(err, kafka.GroupAuthorizationFailed):
			t.Errorf("%s: offsets of %s: err = %v, want GroupAuthorizationFailed", tc.user, group, err)
		}
	}
}

// probe connects as c to partition of topic.
func probe(t *testing.T, c broker.Config, topic string, partition int) *kafka.Conn {
	t.Helper()
	d, err := c.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	meta, err := c.Dial(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	brokers, err := meta.Brokers()
	meta.Close()
	if err != nil || len(brokers) == 0 {
		t.Fatalf("brokers: %v %v", brokers, err)
	}
	conn, err := d.DialPartition(ctx(t), "tcp", "", kafka.Partition{Topic: topic, ID: partition, Leader: brokers[0]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	return conn
}

// check compares the error of a probe with what an allowed (okErr) or a refused operation
// gives.
func check(t *testing.T, op string, err error, allowed bool, okErr error) {
	t.Helper()
	switch {
	case allowed && !errors.Is(err, okErr):
		t.Errorf("%s: err = %v, want %v (allowed)", op, err, okErr)
	case !allowed && !errors.Is(err, kafka.TopicAuthorizationFailed):
		t.Errorf("%s: err = %v, want TopicAuthorizationFailed", op, err)
	}
}
