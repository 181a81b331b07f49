package service

import (
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/control"
	"github.com/meterhouse/meterhouse/control/wire"
	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestCrashBeforeSentStored checks a service that stopped after publishing a command and
// before storing its sent transition: the DAS's accepted and executed answers, read by the
// next service while the command is still approved, prove it sent. Sent is recorded
// (actor control, inferred from the ack), the answers apply, the relay state is written,
// and the command is not sent again.
func TestCrashBeforeSentStored(t *testing.T) {
	f := newFixture(t, nil)
	ids := f.meters(1, 1)
	f.stop() // no sender: the command below is published by hand, as the crashed service did
	c, created, err := f.svc.Request(f.ctx, "alice", "crash", ids[0], control.Request{Action: wire.ActionDisconnect, Reason: "unpaid"})
	if err != nil || !created || c.State != control.StateApproved {
		t.Fatalf("request: %v, created %v, %+v", err, created, c)
	}
	key, err := wire.ReadKeyFile(f.cfg.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	open := f.svc.open[c.ID]
	wc := wire.Command{V: wire.Version, ID: c.ID, MeterID: c.MeterID, Action: c.Action, Nonce: open.nonce,
		NotBefore: c.NotBefore, NotAfter: c.NotAfter, Seq: c.Seq}
	key.Sign(&wc)
	b, err := wire.AppendCommand(nil, &wc)
	if err != nil {
		t.Fatal(err)
	}
	transport, err := testenv.Kafka().Transport()
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: testenv.Kafka().Addr(), Transport: transport, Topic: f.cfg.CommandsTopic, Balancer: &kafka.Hash{}, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(f.ctx, kafka.Message{Key: []byte(c.MeterID), Value: b}); err != nil {
		t.Fatal(err)
	}
	f.resp.awaitDelivery(t, c.ID, 1)
	// The next service must not send it again before the acks are read: its rules cannot
	// be evaluated, so an approved command waits.
	f.checker.mu.Lock()
	f.checker.unreadable = map[string]bool{c.MeterID: true}
	f.checker.mu.Unlock()
	f.start()
	got := f.wait(c.ID, control.StateExecuted)
	if s := states(got); s != "requested,approved,sent,acknowledged,executed" {
		t.Errorf("transitions %s", s)
	}
	for _, tr := range got.Transitions {
		if tr.State == control.StateSent && (tr.Actor != Actor || !strings.Contains(tr.Detail, "inferred from the DAS's accepted ack")) {
			t.Errorf("sent by %s: %q, want actor %s, inferred from the ack", tr.Actor, tr.Detail, Actor)
		}
	}
	if r := f.relay(c.MeterID); r.State != wire.RelayDisconnected || r.CommandID != c.ID {
		t.Errorf("relay %+v, want disconnected by %s", r, c.ID)
	}
	if ev := strings.Join(f.audit.events(c.ID), ","); ev != "requested,approved,sent,acknowledged,executed" {
		t.Errorf("audit %s", ev)
	}
	f.checker.mu.Lock()
	f.checker.unreadable = nil
	f.checker.mu.Unlock()
	f.svc.Tick(f.ctx)
	if n := f.resp.deliveries(c.ID); n != 1 {
		t.Errorf("delivered %d times, want 1", n)
	}
}
