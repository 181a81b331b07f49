package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/auth"
	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestTokenCommands runs token create, list and revoke as a user would, against a fresh
// database: create prints the token alone on its last line, and that token works until it
// is revoked.
func TestTokenCommands(t *testing.T) {
	chCfg, conn := testenv.ClickHouse(t)
	for _, kv := range testenv.ClickHouseEnv(chCfg) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("MH_AUTH_SECRET", testAuthSecret)
	t.Setenv("MH_AUTH_SECRET_FILE", "")
	ctx := context.Background()
	mh := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, args, &out, &errOut)
		return out.String(), err
	}
	store, err := auth.NewStore(auth.Config{Secret: testAuthSecret}, conn, chCfg.PrivateDatabase())
	if err != nil {
		t.Fatal(err)
	}

	out, err := mh("token", "create", "--name", "ops-team", "--role", "operator", "--role", "supervisor,analyst", "--ttl", "48h")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	secret := lines[len(lines)-1]
	if !auth.WellFormed(secret) {
		t.Fatalf("last line %q is not a token; output:\n%s", secret, out)
	}
	p, err := store.Authenticate(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "ops-team" || !p.Has(api.RoleOperator) || !p.Has(api.RoleSupervisor) || !p.Has(api.RoleAnalyst) {
		t.Fatalf("principal %+v", p)
	}

	out, err = mh("token", "list")
	if err != nil || !strings.Contains(out, p.TokenID) || !strings.Contains(out, "active") {
		t.Fatalf("token list: %v\n%s", err, out)
	}
	if _, err := mh("token", "revoke", p.TokenID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Authenticate(ctx, secret); !errors.Is(err, auth.ErrRevoked) {
		t.Fatalf("after revoke: %v, want ErrRevoked", err)
	}
	out, err = mh("token", "list", "--json")
	if err != nil || !strings.Contains(out, `"status": "revoked"`) {
		t.Fatalf("token list --json: %v\n%s", err, out)
	}
	entries, err := store.Audit(ctx, 10)
	if err != nil || len(entries) != 2 || !strings.HasPrefix(entries[0].Actor, "cli:") {
		t.Fatalf("audit %+v, %v", entries, err)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", []string{"token"}, "create, list or revoke"},
		{"usage names every role", []string{"token"}, api.RoleList()},
		{"unknown role names every role", []string{"token", "create", "--name", "x", "--role", "root"}, api.RoleList()},
		{"unknown role", []string{"token", "create", "--name", "x", "--role", "root"}, `"root"`},
		{"no role", []string{"token", "create", "--name", "x"}, "roles"},
		{"no name", []string{"token", "create", "--role", "admin"}, "name"},
		{"bad ttl", []string{"token", "create", "--name", "x", "--role", "admin", "--ttl", "soon"}, "ttl"},
		{"revoke twice", []string{"token", "revoke", p.TokenID}, "already revoked"},
		{"revoke unknown", []string{"token", "revoke", "ffffffffffffffff"}, "no token"},
		{"revoke without id", []string{"token", "revoke"}, "token id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mh(tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %s", err, tc.want)
			}
		})
	}
}
