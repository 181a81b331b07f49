package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meterhouse/meterhouse/control/wire"
)

// TestControlKeygen checks that keygen writes a key file readable by its owner only,
// prints the public key that verifies its signatures and nothing secret, and refuses to
// overwrite a file.
func TestControlKeygen(t *testing.T) {
	file := filepath.Join(t.TempDir(), "control.key")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"control", "keygen", "--key-id", "k-2026", "--out", file}, &out, &errOut); err != nil {
		t.Fatalf("keygen: %v\n%s", err, errOut.String())
	}
	k, err := wire.ReadKeyFile(file)
	if err != nil {
		t.Fatal(err)
	}
	id, b64, ok := strings.Cut(strings.TrimSpace(out.String()), " ")
	pub, err := wire.ParsePublicKey(id, b64)
	if !ok || err != nil || id != "k-2026" {
		t.Fatalf("printed %q: %v", out.String(), err)
	}
	c := wire.Command{V: wire.Version, ID: "c1", MeterID: "M1", Action: wire.ActionArm, Nonce: strings.Repeat("a", 32)}
	k.Sign(&c)
	if err := wire.NewKeyring(pub).Verify(&c); err != nil {
		t.Errorf("the printed key does not verify the file's signature: %v", err)
	}
	b, _ := os.ReadFile(file)
	if strings.Contains(out.String()+errOut.String(), strings.Split(strings.Split(string(b), `"ed25519_seed":"`)[1], `"`)[0]) {
		t.Error("keygen printed the private seed")
	}
	if err := run(context.Background(), []string{"control", "keygen", "--key-id", "k-2027", "--out", file}, &out, &errOut); err == nil {
		t.Error("keygen overwrote an existing key file")
	}
}
