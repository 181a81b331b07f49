package wire

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func signed(t *testing.T, k *PrivateKey) *Command {
	t.Helper()
	n, err := NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	c := &Command{V: Version, ID: "c1", MeterID: "M1", Action: ActionDisconnect, Nonce: n,
		NotBefore: time.Unix(1_800_000_000, 0).UTC(), NotAfter: time.Unix(1_800_000_900, 0).UTC(), Seq: 3}
	k.Sign(c)
	return c
}

func TestSignVerify(t *testing.T) {
	old, err := GenerateKey("k-2026a")
	if err != nil {
		t.Fatal(err)
	}
	cur, err := GenerateKey("k-2026b")
	if err != nil {
		t.Fatal(err)
	}
	ring := NewKeyring(old.Public(), cur.Public())
	for _, k := range []*PrivateKey{old, cur} {
		c := signed(t, k)
		b, err := AppendCommand(nil, c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeCommand(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := ring.Verify(got); err != nil {
			t.Errorf("key %s: %v", k.ID(), err)
		}
	}
	tamper := []struct {
		name string
		edit func(c *Command)
		want error
	}{
		{"meter id", func(c *Command) { c.MeterID = "M2" }, ErrBadSignature},
		{"action", func(c *Command) { c.Action = ActionReconnect }, ErrBadSignature},
		{"not after", func(c *Command) { c.NotAfter = c.NotAfter.Add(time.Hour) }, ErrBadSignature},
		{"nonce", func(c *Command) { c.Nonce = strings.Repeat("0", 32) }, ErrBadSignature},
		{"key id", func(c *Command) { c.KeyID = "k-other" }, ErrUnknownKey},
		{"signature", func(c *Command) { c.Signature[0] ^= 1 }, ErrBadSignature},
	}
	for _, tc := range tamper {
		c := signed(t, cur)
		tc.edit(c)
		if err := ring.Verify(c); !errors.Is(err, tc.want) {
			t.Errorf("%s tampered: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Seq is not signed: the DAS must not act on it.
	c := signed(t, cur)
	c.Seq = 99
	if err := ring.Verify(c); err != nil {
		t.Errorf("seq changed: %v", err)
	}
}

func TestKeyFile(t *testing.T) {
	k, err := GenerateKey("main")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "control.key")
	if err := WriteKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(path, k); err == nil {
		t.Error("a second write overwrote the key file")
	}
	got, err := ReadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Public().String() != k.Public().String() {
		t.Error("the key read back differs")
	}
	for _, s := range []string{fmt.Sprint(got), fmt.Sprintf("%#v %+v", got, got)} {
		if strings.Contains(s, "seed") || !strings.Contains(s, "REDACTED") {
			t.Errorf("printed key %q", s)
		}
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeyFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key file: %v", err)
	}
}

func TestDecodeBad(t *testing.T) {
	cases := map[string]string{
		"not json":    `{`,
		"version":     `{"v":2}`,
		"action":      `{"v":1,"command_id":"c","meter_id":"m","action":"explode","nonce":"00000000000000000000000000000000","key_id":"k","sig":"AA=="}`,
		"short nonce": `{"v":1,"command_id":"c","meter_id":"m","action":"arm","nonce":"00","key_id":"k","sig":"AA=="}`,
		"unsigned":    `{"v":1,"command_id":"c","meter_id":"m","action":"arm","nonce":"00000000000000000000000000000000"}`,
	}
	for name, in := range cases {
		if _, err := DecodeCommand([]byte(in)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v", name, err)
		}
	}
	acks := map[string]string{
		"no command": `{"v":1,"kind":"ack","meter_id":"m","status":"executed"}`,
		"status":     `{"v":1,"kind":"ack","command_id":"c","meter_id":"m","status":"maybe"}`,
		"relay":      `{"v":1,"kind":"event","event":"relay_changed_on_site","meter_id":"m","relay":"open"}`,
		"kind":       `{"v":1,"kind":"other","meter_id":"m"}`,
	}
	for name, in := range acks {
		if _, err := DecodeAck([]byte(in)); !errors.Is(err, ErrFormat) {
			t.Errorf("ack %s: %v", name, err)
		}
	}
	a, err := DecodeAck([]byte(`{"v":1,"kind":"event","event":"relay_changed_on_site","meter_id":"m","relay":"connected","at":"2026-12-01T10:00:00Z"}`))
	if err != nil || a.Relay != RelayConnected {
		t.Errorf("event: %+v %v", a, err)
	}
}
