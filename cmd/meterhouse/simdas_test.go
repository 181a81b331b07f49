package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/control/wire"
	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestSimDASFlags: bad flags are refused before anything starts, naming the flag.
func TestSimDASFlags(t *testing.T) {
	k, err := wire.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte(k.Public().String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]string{
		"--public-keys":        {"sim", "das"},
		"no such file":         {"sim", "das", "--public-keys", keys + ".missing"},
		`fault "late=MTR-1"`:   {"sim", "das", "--public-keys", keys, "--fault", "late=MTR-1"},
		"--start":              {"sim", "das", "--public-keys", keys, "--start", "yesterday"},
		"das.speed":            {"sim", "das", "--public-keys", keys, "--speed", "-1"},
		"is not in the fleet":  {"sim", "das", "--public-keys", keys, "--meters", "3", "--fault", "silent=MTR-000004"},
		"das.fleet: sim.inter": {"sim", "das", "--public-keys", keys, "--interval", "30s"},
	}
	for want, args := range cases {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want an error with %q", args, err, want)
		}
	}
}

// TestSimDASRuns: the command runs the DAS on Kafka until interrupted, producing the
// fleet's readings at an accelerated speed.
func TestSimDASRuns(t *testing.T) {
	topics := testenv.Topics(t, []int{1, 1, 1}, "readings", "commands", "command-acks")
	for _, kv := range testenv.KafkaEnv(testenv.Kafka()) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	key, err := wire.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte(key.Public().String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	var out, errOut bytes.Buffer
	go func() {
		done <- run(runCtx, []string{"sim", "das", "--public-keys", keys, "--meters", "3", "--speed", "3600",
			"--start", time.Now().UTC().Add(-time.Hour).Truncate(time.Hour).Format(time.RFC3339),
			"--commands-topic", topics[1], "--acks-topic", topics[2], "--group", "das-sim-" + testenv.Suffix(),
			"--set", "ingest.topic=" + topics[0]}, &out, &errOut)
	}()
	k := testenv.Kafka()
	dialer, err := k.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: k.Brokers, Dialer: dialer, Topic: topics[0], MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	// Two intervals of three meters: at 3600× that is a second of wall time, at most.
	for i := range 6 {
		if _, err := r.ReadMessage(ctx); err != nil {
			t.Fatalf("reading %d: %v (stderr %s)", i, err, errOut.String())
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("sim das: %v", err)
	}
	if !strings.Contains(out.String(), "das: 3 meters, 1 public key(s), speed 3600") {
		t.Errorf("output %q", out.String())
	}
}
