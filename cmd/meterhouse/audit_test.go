package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/control/audit"
	"github.com/meterhouse/meterhouse/internal/testenv"
)

func TestAuditVerifyCommand(t *testing.T) {
	e := newCLIEnv(t)
	for _, kv := range testenv.KafkaEnv(testenv.Kafka()) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	topic := testenv.Topics(t, []int{1}, "audit-anchors")[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	anchor, err := audit.NewKafkaAnchor(testenv.Kafka(), topic)
	if err != nil {
		t.Fatal(err)
	}
	defer anchor.Close()
	l, err := audit.Open(ctx, e.conn, e.cfg.PrivateDatabase(), anchor)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for i, ev := range []string{"requested", "approved", "sent"} {
		if err := l.Append(ctx, audit.Entry{At: at.Add(time.Duration(i) * time.Second), Actor: "op", Event: ev, CommandID: "c1", MeterID: "MTR-1"}); err != nil {
			t.Fatal(err)
		}
	}
	head, err := l.Anchor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	set := "audit.anchor_topic=" + topic
	out, err := e.mh("audit", "verify", "--set", set)
	if err != nil || !strings.HasPrefix(out, "OK: ") || !strings.Contains(out, "head seq 3 hash "+head.Hash) {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	// Cut the last entry off: a fresh table with the others takes the log's place.
	db := e.cfg.PrivateDatabase()
	for _, q := range []string{
		"CREATE TABLE " + db + ".cut AS " + db + ".control_audit",
		"INSERT INTO " + db + ".cut (seq, at, at_ns, actor, event, command_id, meter_id, detail, prev_hash, hash) SELECT seq, at, at_ns, actor, event, command_id, meter_id, detail, prev_hash, hash FROM " + db + ".control_audit WHERE seq < 3",
		"DROP TABLE " + db + ".control_audit",
		"RENAME TABLE " + db + ".cut TO " + db + ".control_audit",
	} {
		if err := e.conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	out, err = e.mh("audit", "verify", "--set", set)
	if err == nil || !strings.Contains(out, "seq 3: truncated: ") || !strings.Contains(out, "FAILED") {
		t.Fatalf("verify of a cut-off log: err %v\n%s", err, out)
	}
	out, err = e.mh("audit", "verify", "--json", "--set", set)
	if err == nil || !strings.Contains(out, `"kind": "truncated"`) {
		t.Errorf("verify --json: err %v\n%s", err, out)
	}
	if _, err := e.mh("audit", "check"); err == nil || !strings.Contains(err.Error(), "want verify") {
		t.Errorf("audit check: %v", err)
	}
}
