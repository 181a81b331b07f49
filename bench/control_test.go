package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/control"
	"github.com/meterhouse/meterhouse/internal/testenv"
)

func TestBusiestMinute(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	for _, tc := range []struct {
		name          string
		sends         []send
		fleet, feeder int
	}{
		{"none", nil, 0, 0},
		{"one minute", []send{{at(0), "A"}, {at(10), "B"}, {at(59), "A"}}, 3, 2},
		{"a minute later is the next window", []send{{at(0), "A"}, {at(0), "A"}, {at(60), "A"}, {at(60), "B"}}, 2, 2},
		{"a sliding window, not calendar minutes", []send{{at(50), "A"}, {at(70), "B"}, {at(100), "B"}, {at(109), "A"}, {at(111), "B"}}, 4, 3},
	} {
		fleet, feeder := busiestMinute(tc.sends)
		if fleet != tc.fleet || feeder != tc.feeder {
			t.Errorf("%s: %d fleet, %d feeder; want %d, %d", tc.name, fleet, feeder, tc.fleet, tc.feeder)
		}
	}
}

// TestControlBenchEndToEnd runs bench control on a small fleet against the real services:
// both bulk commands reach every meter through the DAS simulator, every result is
// accounted for, the caps hold and the audit log verifies.
func TestControlBenchEndToEnd(t *testing.T) {
	testenv.Integration(t)
	for _, kv := range append(testenv.ClickHouseEnv(testenv.ClickHouseConfig(t)), testenv.KafkaEnv(testenv.Kafka())...) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := cmdControl(ctx, []string{"--meters", "60", "--feeders", "3", "--exec-delay", "100ms", "--json"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var rep controlReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	if len(rep.Phases) != 2 || !rep.AuditOK {
		t.Fatalf("report %+v", rep)
	}
	for _, p := range rep.Phases {
		if p.Accounted != 60 || p.States[control.StateExecuted] != 60 || !p.CapsRespected || p.MaxFleetPerMinute != 60 || p.MaxFeederPerMinute != 20 {
			t.Errorf("%s: %+v", p.Action, p)
		}
	}
}
