// Package testenv gives integration tests their own slice of the real local services: a
// fresh, migrated ClickHouse database and fresh Kafka topics per test, removed when the test
// ends. Tests that use it are skipped under -short; otherwise an unreachable service fails
// the test with a hint to start the services (make services-up).
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/auth"
	"github.com/meterhouse/meterhouse/broker"
	"github.com/meterhouse/meterhouse/schema"
)

// Kafka returns the settings of the test broker, as the local services' super user admin
// (topics and groups of any name): MH_KAFKA_BROKERS (default 127.0.0.1:9092),
// MH_KAFKA_SASL_MECHANISM (default SCRAM-SHA-512; set it empty for a broker without SASL),
// MH_KAFKA_SASL_USERNAME (default admin), and the password MH_KAFKA_SASL_PASSWORD, or the
// file MH_KAFKA_SASL_PASSWORD_FILE, or ServicesDir()/secrets/kafka-<username>.password.
func Kafka() broker.Config {
	user := "admin"
	if u := os.Getenv("MH_KAFKA_SASL_USERNAME"); u != "" {
		user = u
	}
	c := KafkaAs(user)
	if pw := os.Getenv("MH_KAFKA_SASL_PASSWORD"); pw != "" {
		c.SASL.Password, c.SASL.PasswordFile = pw, ""
	} else if f := os.Getenv("MH_KAFKA_SASL_PASSWORD_FILE"); f != "" {
		c.SASL.PasswordFile = f
	}
	return c
}

// KafkaAs returns the settings of the test broker (as Kafka) for the local services' user
// (admin, meterhouse or das), with the password file the services script wrote for it.
func KafkaAs(user string) broker.Config {
	c := broker.DefaultConfig()
	if b := os.Getenv("MH_KAFKA_BROKERS"); b != "" {
		c.Brokers = strings.Split(b, ",")
	}
	if m, ok := os.LookupEnv("MH_KAFKA_SASL_MECHANISM"); ok {
		c.SASL.Mechanism = m
	}
	if c.SASL.Mechanism == "" {
		c.SASL = broker.SASL{}
		return c
	}
	c.SASL.Username = user
	c.SASL.PasswordFile = filepath.Join(ServicesDir(), "secrets", "kafka-"+user+".password")
	return c
}

// KafkaEnv returns the MH_KAFKA_* variables that point a meterhouse subprocess at c.
func KafkaEnv(c broker.Config) []string {
	return []string{
		"MH_KAFKA_BROKERS=" + strings.Join(c.Brokers, ","),
		"MH_KAFKA_SASL_MECHANISM=" + c.SASL.Mechanism,
		"MH_KAFKA_SASL_USERNAME=" + c.SASL.Username,
		"MH_KAFKA_SASL_PASSWORD=" + c.SASL.Password,
		"MH_KAFKA_SASL_PASSWORD_FILE=" + c.SASL.PasswordFile,
	}
}

// Brokers returns the bootstrap addresses of Kafka().
func Brokers() []string { return Kafka().Brokers }

// ServicesDir returns where the local services keep their data and secrets:
// MH_SERVICES_HOME, or the .services folder of the repository (found by walking up from
// the working directory to go.mod).
func ServicesDir() string {
	if d := os.Getenv("MH_SERVICES_HOME"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ".services"
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, ".services")
		}
		if filepath.Dir(d) == d {
			return filepath.Join(dir, ".services")
		}
	}
}

// ClickHouseConfig returns the connection settings of the test server with a database
// name that no other test uses. The user is MH_CLICKHOUSE_USERNAME or meterhouse; its
// password is MH_CLICKHOUSE_PASSWORD, or the file MH_CLICKHOUSE_PASSWORD_FILE names, or
// else the file the local services write, ServicesDir()/secrets/clickhouse-meterhouse.password.
func ClickHouseConfig(t testing.TB) schema.Config {
	cfg := schema.DefaultConfig()
	if a := os.Getenv("MH_CLICKHOUSE_ADDR"); a != "" {
		cfg.Addr = a
	}
	if u := os.Getenv("MH_CLICKHOUSE_USERNAME"); u != "" {
		cfg.Username = u
	}
	switch {
	case os.Getenv("MH_CLICKHOUSE_PASSWORD") != "":
		cfg.Password = os.Getenv("MH_CLICKHOUSE_PASSWORD")
	case os.Getenv("MH_CLICKHOUSE_PASSWORD_FILE") != "":
		cfg.PasswordFile = os.Getenv("MH_CLICKHOUSE_PASSWORD_FILE")
	default:
		cfg.PasswordFile = filepath.Join(ServicesDir(), "secrets", "clickhouse-meterhouse.password")
	}
	cfg.Database = "mh_test_" + Suffix()
	return cfg
}

// ClickHouseEnv returns the MH_CLICKHOUSE_* variables that point a meterhouse process
// (or config.Load) at cfg: address, database, user and password or password file.
func ClickHouseEnv(cfg schema.Config) []string {
	return []string{
		"MH_CLICKHOUSE_ADDR=" + cfg.Addr,
		"MH_CLICKHOUSE_DATABASE=" + cfg.Database,
		"MH_CLICKHOUSE_USERNAME=" + cfg.Username,
		"MH_CLICKHOUSE_PASSWORD=" + cfg.Password,
		"MH_CLICKHOUSE_PASSWORD_FILE=" + cfg.PasswordFile,
	}
}

// AuthConfig returns token settings for a test: an hour's lifetime, no cache, and a random
// secret of its own. Stores that must recognise each other's tokens share one AuthConfig.
func AuthConfig(t testing.TB) auth.Config {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return auth.Config{TokenTTL: time.Hour, Secret: hex.EncodeToString(b[:])}
}

// Suffix returns a random hex string for names that must not collide.
func Suffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Logger returns a logger writing to the test's log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// Integration skips the test under -short.
func Integration(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs ClickHouse and Kafka (make services-up)")
	}
}

// ClickHouse creates a fresh database and its private database, applies every migration
// and returns the settings and a connection to the platform database. Both databases are
// dropped when the test ends.
func ClickHouse(t testing.TB) (schema.Config, driver.Conn) {
	t.Helper()
	Integration(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := ClickHouseConfig(t)
	if err := schema.EnsureDatabase(ctx, cfg); err != nil {
		t.Fatalf("ClickHouse at %s unreachable as user %s (run make services-up, which creates the user and its password file): %v", cfg.Addr, cfg.Username, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := schema.DropDatabase(ctx, cfg); err != nil {
			t.Logf("drop test database: %v", err)
		}
	})
	conn, err := schema.Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	m, err := schema.NewMigrator(ctx, conn, Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	return cfg, conn
}

// Topics creates fresh topics with the given partition counts, named after prefix and a
// random suffix, and deletes them when the test ends. It returns the names in order.
func Topics(t testing.TB, partitions []int, prefixes ...string) []string {
	t.Helper()
	Integration(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctrl, err := Kafka().DialController(ctx)
	if err != nil {
		t.Fatalf("Kafka at %v unreachable (run make services-up): %v", Brokers(), err)
	}
	defer ctrl.Close()
	suffix := Suffix()
	var names []string
	var cfgs []kafka.TopicConfig
	for i, p := range prefixes {
		name := p + "-" + suffix
		names = append(names, name)
		cfgs = append(cfgs, kafka.TopicConfig{Topic: name, NumPartitions: partitions[i], ReplicationFactor: 1})
	}
	if err := ctrl.CreateTopics(cfgs...); err != nil {
		t.Fatalf("create topics: %v", err)
	}
	if err := waitTopics(ctx, names, partitions); err != nil {
		t.Fatalf("topics not ready: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := Kafka().DialController(ctx)
		if err != nil {
			t.Logf("delete topics: %v", err)
			return
		}
		defer c.Close()
		if err := c.DeleteTopics(names...); err != nil {
			t.Logf("delete topics: %v", err)
		}
	})
	return names
}

// waitTopics waits until the metadata of every topic lists all its partitions with a
// leader, so that producing to them right away succeeds.
func waitTopics(ctx context.Context, names []string, partitions []int) error {
	client, err := Kafka().Client(10 * time.Second)
	if err != nil {
		return err
	}
	for {
		meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
		ready := err == nil && len(meta.Topics) == len(names)
		if ready {
			want := map[string]int{}
			for i, n := range names {
				want[n] = partitions[i]
			}
			for _, tp := range meta.Topics {
				if tp.Error != nil || len(tp.Partitions) != want[tp.Name] {
					ready = false
					break
				}
				for _, p := range tp.Partitions {
					if p.Error != nil || p.Leader.ID < 0 {
						ready = false
					}
				}
			}
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitCommitted waits until group has committed, on every partition of topic, the offset
// at the end of the partition: everything produced so far has been processed.
func WaitCommitted(ctx context.Context, group, topic string) error {
	client, err := Kafka().Client(10 * time.Second)
	if err != nil {
		return err
	}
	for {
		done, err := committed(ctx, client, group, topic)
		if err == nil && done {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("offsets not committed up to the end")
			}
			return errors.Join(ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func committed(ctx context.Context, client *kafka.Client, group, topic string) (bool, error) {
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return false, err
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		return false, errors.New("topic metadata missing")
	}
	var parts []int
	var reqs []kafka.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		parts = append(parts, p.ID)
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
	}
	ends, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return false, err
	}
	got, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return false, err
	}
	commits := map[int]int64{}
	for _, p := range got.Topics[topic] {
		commits[p.Partition] = p.CommittedOffset
	}
	for _, p := range ends.Topics[topic] {
		if p.LastOffset > 0 && commits[p.Partition] < p.LastOffset {
			return false, nil
		}
	}
	return true, nil
}
