package das

import (
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/control/wire"
)

// t0 is the injected clock's time in the unit tests.
var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func testKey(t testing.TB, id string) *wire.PrivateKey {
	t.Helper()
	k, err := wire.GenerateKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// command returns a command for meter signed by k, valid from notBefore for ttl.
func command(t testing.TB, k *wire.PrivateKey, id, meter, action string, notBefore time.Time, ttl time.Duration) *wire.Command {
	t.Helper()
	n, err := wire.NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	c := &wire.Command{V: wire.Version, ID: id, MeterID: meter, Action: action, Nonce: n,
		NotBefore: notBefore.Truncate(time.Second), NotAfter: notBefore.Add(ttl).Truncate(time.Second), Seq: 1}
	k.Sign(c)
	return c
}

func TestVerifyDecisions(t *testing.T) {
	key, old, stranger := testKey(t, "k-2026b"), testKey(t, "k-2026a"), testKey(t, "k-other")
	known := map[string]bool{"M1": true, "M2": true}
	v := newVerifier(wire.NewKeyring(key.Public(), old.Public()), func(id string) bool { return known[id] })

	accepted := command(t, key, "c-accepted", "M1", wire.ActionDisconnect, t0.Add(-time.Minute), 15*time.Minute)
	cases := []struct {
		name string
		key  string
		cmd  func() *wire.Command
		at   time.Time
		want string
	}{
		{"good", "M1", func() *wire.Command { return accepted }, t0, ""},
		{"replayed", "M1", func() *wire.Command { c := *accepted; return &c }, t0.Add(time.Second), ReasonReplay},
		{"old key during a rotation", "M2", func() *wire.Command {
			return command(t, old, "c-old", "M2", wire.ActionReconnect, t0, time.Minute)
		}, t0, ""},
		{"expired", "M1", func() *wire.Command {
			return command(t, key, "c-exp", "M1", wire.ActionDisconnect, t0.Add(-20*time.Minute), 15*time.Minute)
		}, t0, ReasonExpired},
		{"at not_after still valid", "M1", func() *wire.Command {
			return command(t, key, "c-edge", "M1", wire.ActionArm, t0.Add(-15*time.Minute), 15*time.Minute)
		}, t0, ""},
		{"not_after before not_before", "M1", func() *wire.Command {
			return command(t, key, "c-neg", "M1", wire.ActionArm, t0, -time.Minute)
		}, t0.Add(-time.Hour), ReasonExpired},
		{"bad signature", "M1", func() *wire.Command {
			c := command(t, key, "c-sig", "M1", wire.ActionDisconnect, t0, time.Minute)
			c.Signature[3] ^= 0x40
			return c
		}, t0, ReasonBadSignature},
		{"unknown key id", "M1", func() *wire.Command {
			return command(t, stranger, "c-key", "M1", wire.ActionDisconnect, t0, time.Minute)
		}, t0, ReasonUnknownKey},
		{"key id of a known key, signed by another", "M1", func() *wire.Command {
			c := command(t, stranger, "c-forged", "M1", wire.ActionDisconnect, t0, time.Minute)
			c.KeyID = key.ID()
			return c
		}, t0, ReasonBadSignature},
		{"tampered meter id", "M2", func() *wire.Command {
			c := command(t, key, "c-tamper", "M1", wire.ActionDisconnect, t0, time.Minute)
			c.MeterID = "M2"
			return c
		}, t0, ReasonBadSignature},
		{"meter id is not the message key", "M2", func() *wire.Command {
			return command(t, key, "c-rekeyed", "M1", wire.ActionDisconnect, t0, time.Minute)
		}, t0, ReasonKeyMismatch},
		{"unknown meter", "M9", func() *wire.Command {
			return command(t, key, "c-unknown", "M9", wire.ActionDisconnect, t0, time.Minute)
		}, t0, ReasonUnknownMeter},
		{"not yet before not_before: accepted, the DAS waits", "M2", func() *wire.Command {
			return command(t, key, "c-later", "M2", wire.ActionDisconnect, t0.Add(time.Hour), time.Minute)
		}, t0, ""},
	}
	for _, tc := range cases {
		if got := v.decide(tc.key, tc.cmd(), tc.at); got != tc.want {
			t.Errorf("%s: refused %q, want %q", tc.name, got, tc.want)
		}
	}

	// A refused command's nonce is not remembered: the same command under the right key
	// is accepted afterwards; a replay of it is not.
	rekeyed := command(t, key, "c-rekeyed2", "M1", wire.ActionArm, t0, time.Minute)
	for i, want := range []string{ReasonKeyMismatch, "", ReasonReplay} {
		k := "M1"
		if i == 0 {
			k = "M2"
		}
		if got := v.decide(k, rekeyed, t0); got != want {
			t.Errorf("rekeyed, delivery %d: %q, want %q", i, got, want)
		}
	}
	// Nonces are forgotten once their command has expired; a replay is then refused as
	// expired.
	v.forget(t0.Add(2 * time.Hour))
	if len(v.seen) != 0 {
		t.Errorf("%d nonces kept after every command expired", len(v.seen))
	}
	if got := v.decide("M1", accepted, t0.Add(2*time.Hour)); got != ReasonExpired {
		t.Errorf("old replay after forgetting: %q, want %q", got, ReasonExpired)
	}
}
