package auth_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/auth"
	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestTokensStoredAsHMAC checks that the store keeps HMAC-SHA256(secret, token), not the
// token's bare SHA-256, that a store with another secret does not recognise the token,
// and that the lookup's query text, which every ClickHouse user can see in
// system.processes and system.query_log on 18.16, holds neither the token nor its bare
// hash.
func TestTokensStoredAsHMAC(t *testing.T) {
	chCfg, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	cfg := testenv.AuthConfig(t)
	store, err := auth.NewStore(cfg, conn, chCfg.PrivateDatabase())
	if err != nil {
		t.Fatal(err)
	}
	token, tok, err := store.Create(ctx, "test", auth.NewToken{Name: "ana", Roles: []api.Role{api.RoleAnalyst}})
	if err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := conn.QueryRow(ctx, "SELECT hash FROM "+chCfg.PrivateDatabase()+".api_tokens WHERE token_id = ?", tok.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	mac := func(key string) string {
		h := hmac.New(sha256.New, []byte(key))
		h.Write([]byte(token))
		return hex.EncodeToString(h.Sum(nil))
	}
	bare := sha256.Sum256([]byte(token))
	if stored != mac(cfg.Secret) {
		t.Fatalf("stored hash %s, want HMAC-SHA256(secret, token) %s", stored, mac(cfg.Secret))
	}
	other := testenv.AuthConfig(t).Secret
	if stored == mac(other) || stored == hex.EncodeToString(bare[:]) {
		t.Fatal("stored hash does not depend on the secret")
	}
	otherStore, err := auth.NewStore(auth.Config{Secret: other}, conn, chCfg.PrivateDatabase())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := otherStore.Authenticate(ctx, token); !errors.Is(err, auth.ErrUnknownToken) {
		t.Fatalf("a store with another secret: %v, want ErrUnknownToken", err)
	}

	// The lookup, logged: its text holds the HMAC only.
	logged := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"log_queries": 1}))
	if p, err := store.Authenticate(logged, token); err != nil || p.TokenID != tok.ID {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	count := func(needle string) uint64 {
		t.Helper()
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.query_log WHERE position(query, ?) > 0 AND position(query, 'system.query_log') = 0", needle).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The server queues a query's log entry after answering it, so a flush right after
	// the answer can miss it (seen once in a CI run on a cold server): flush until it shows.
	for i := 0; ; i++ {
		if err := conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
			t.Fatal(err)
		}
		if count(stored) > 0 {
			break
		}
		if i == 50 {
			t.Fatal("the lookup is not in system.query_log after 5 s of flushes: the check below would prove nothing")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := count(hex.EncodeToString(bare[:])); n != 0 {
		t.Errorf("%d logged queries hold the token's bare SHA-256", n)
	}
	if n := count(token); n != 0 {
		t.Errorf("%d logged queries hold the token", n)
	}
}

// TestNewStoreNeedsSecret checks that NewStore refuses a missing, short, unreadable or
// doubly given secret with a message naming the key.
func TestNewStoreNeedsSecret(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(short, []byte("too short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte(strings.Repeat("k", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  auth.Config
		want string
	}{
		{"missing", auth.Config{}, "auth.secret_file"},
		{"short", auth.Config{Secret: "0123456789"}, "auth.secret:"},
		{"short file", auth.Config{SecretFile: short}, "auth.secret_file"},
		{"no file", auth.Config{SecretFile: filepath.Join(dir, "nope")}, "auth.secret_file"},
		{"both", auth.Config{SecretFile: good, Secret: strings.Repeat("k", 32)}, "not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth.NewStore(tc.cfg, nil, "meterhouse_private")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewStore: %v, want an error naming %s", err, tc.want)
			}
		})
	}
	// A good secret file gets past the secret checks (to the missing connection).
	if _, err := auth.NewStore(auth.Config{SecretFile: good}, nil, "meterhouse_private"); err == nil || !strings.Contains(err.Error(), "connection") {
		t.Fatalf("NewStore with a good secret file: %v, want only the missing connection refused", err)
	}
}
