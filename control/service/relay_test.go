package service

import (
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/control"
	"github.com/meterhouse/meterhouse/control/wire"
)

// TestRelayWithinASecond checks that a meter's relay state is its latest by the instant
// the DAS observed it (at_ns, migration 0057), also for two states within one second and
// whatever order they arrive in: A was disconnected at .1 s and closed on site at .9 s
// (connected), B closed on site at .1 s and disconnected at .9 s, whose results arrive
// first. A row written before the migration (at_ns 0) reads by its at.
func TestRelayWithinASecond(t *testing.T) {
	f := newFixture(t, nil)
	ids := f.meters(3, 1)
	op := f.token(api.RoleOperator)
	f.resp.setSilent(ids[0])
	f.resp.setSilent(ids[1])
	a := f.request(op, "a", ids[0])
	b := f.request(op, "b", ids[1])
	f.wait(a.ID, control.StateSent)
	f.wait(b.ID, control.StateSent)
	sec := f.clock.Now().Truncate(time.Second)
	ms := func(n int) time.Time { return sec.Add(time.Duration(n) * time.Millisecond) }
	ack := func(c *Command, relay string, at time.Time) wire.Ack {
		return wire.Ack{V: wire.Version, Kind: wire.KindAck, CommandID: c.ID, MeterID: c.MeterID, Status: wire.AckExecuted, Relay: relay, At: at}
	}
	event := func(meter, relay string, at time.Time) wire.Ack {
		return wire.Ack{V: wire.Version, Kind: wire.KindEvent, MeterID: meter, Event: wire.EventRelayChangedOnSite, Relay: relay, At: at}
	}
	f.resp.publish(f.ctx, ack(a, wire.RelayDisconnected, ms(100)), event(ids[0], wire.RelayConnected, ms(900)),
		ack(b, wire.RelayDisconnected, ms(900)), event(ids[1], wire.RelayConnected, ms(100)))
	f.wait(a.ID, control.StateExecuted)
	f.wait(b.ID, control.StateExecuted)
	f.settle()
	if r := f.relay(ids[0]); r.State != wire.RelayConnected || r.Source != "event" || r.Since == nil || !r.Since.Equal(ms(900)) {
		t.Errorf("A: %+v, want connected by the event at %s", r, ms(900).Format(time.RFC3339Nano))
	}
	if r := f.relay(ids[1]); r.State != wire.RelayDisconnected || r.CommandID != b.ID || r.Since == nil || !r.Since.Equal(ms(900)) {
		t.Errorf("B: %+v, want disconnected by %s at %s", r, b.ID, ms(900).Format(time.RFC3339Nano))
	}

	old, err := f.conn.PrepareBatch(f.ctx, `INSERT INTO `+f.deps.PrivateDB+`.control_relay (meter_id, at, state, source, command_id, recorded_at)`)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Append(ids[2], sec, wire.RelayArmed, "event", "", sec); err != nil {
		t.Fatal(err)
	}
	if err := old.Send(); err != nil {
		t.Fatal(err)
	}
	if r := f.relay(ids[2]); r.State != wire.RelayArmed || r.Since == nil || !r.Since.Equal(sec) {
		t.Errorf("C, a row without at_ns: %+v, want armed since %s", r, sec)
	}
}
