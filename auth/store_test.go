package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/auth"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/internal/testenv"
)

func TestStoreLifecycle(t *testing.T) {
	chCfg, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	cfg := testenv.AuthConfig(t)
	cfg.CacheTTL = time.Minute
	store, err := auth.NewStore(cfg, conn, chCfg.PrivateDatabase())
	if err != nil {
		t.Fatal(err)
	}
	// A second process's view: the same secret, no cache, so it sees revocations at once.
	other, err := auth.NewStore(auth.Config{Secret: cfg.Secret}, conn, chCfg.PrivateDatabase())
	if err != nil {
		t.Fatal(err)
	}

	secret, tok, err := store.Create(ctx, "cli:alice", auth.NewToken{Name: "ana", Roles: []api.Role{api.RoleAnalyst, api.RoleBilling}})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Status != auth.StatusActive || tok.ExpiresAt.Sub(tok.CreatedAt) != time.Hour || tok.CreatedBy != "cli:alice" {
		t.Fatalf("created %+v", tok)
	}
	for _, s := range []*auth.Store{store, other} {
		p, err := s.Authenticate(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != "ana" || p.TokenID != tok.ID || !p.Has(api.RoleAnalyst) || !p.Has(api.RoleBilling) || p.Has(api.RoleAdmin) {
			t.Fatalf("principal %+v", p)
		}
	}

	for _, tc := range []struct {
		name   string
		secret string
		want   error
	}{
		{"malformed", "nope", auth.ErrUnknownToken},
		{"unknown", mustSecret(t), auth.ErrUnknownToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := store.Authenticate(ctx, tc.secret)
			if !errors.Is(err, tc.want) || !errors.Is(err, fault.ErrUnauthenticated) {
				t.Fatalf("Authenticate = %v, want %v", err, tc.want)
			}
		})
	}

	list, err := store.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != tok.ID || len(list[0].Roles) != 2 {
		t.Fatalf("List = %+v, %v", list, err)
	}

	revoked, err := store.Revoke(ctx, "api:root (token x)", tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if revoked.Status != auth.StatusRevoked || revoked.RevokedBy != "api:root (token x)" {
		t.Fatalf("revoked %+v", revoked)
	}
	for _, s := range []*auth.Store{store, other} { // store's own cache is invalidated
		if _, err := s.Authenticate(ctx, secret); !errors.Is(err, auth.ErrRevoked) {
			t.Fatalf("Authenticate revoked = %v, want ErrRevoked", err)
		}
	}
	if _, err := store.Revoke(ctx, "cli:alice", tok.ID); !errors.Is(err, fault.ErrConflict) {
		t.Fatalf("second Revoke = %v, want ErrConflict", err)
	}
	if _, err := store.Revoke(ctx, "cli:alice", "0000000000000000"); !errors.Is(err, fault.ErrNotFound) {
		t.Fatalf("Revoke unknown = %v, want ErrNotFound", err)
	}
	got, err := store.Get(ctx, tok.ID)
	if err != nil || got.Status != auth.StatusRevoked || got.RevokedAt.IsZero() {
		t.Fatalf("Get = %+v, %v", got, err)
	}

	// A token issued two hours ago with a one-hour lifetime is expired now.
	past, err := auth.NewStore(auth.Config{Secret: cfg.Secret}, conn, chCfg.PrivateDatabase(), auth.WithClock(func() time.Time { return time.Now().Add(-2 * time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	old, _, err := past.Create(ctx, "cli:alice", auth.NewToken{Name: "old", Roles: []api.Role{api.RoleIngest}, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Authenticate(ctx, old); !errors.Is(err, auth.ErrExpired) {
		t.Fatalf("Authenticate expired = %v, want ErrExpired", err)
	}
	never, _, err := store.Create(ctx, "cli:alice", auth.NewToken{Name: "forever", Roles: []api.Role{api.RoleAdmin}, TTL: "never"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Authenticate(ctx, never); err != nil {
		t.Fatalf("Authenticate never-expiring = %v", err)
	}

	// Every creation and revocation is in the audit trail with its actor.
	entries, err := store.Audit(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range entries {
		count[e.Action]++
		if e.Actor == "" || e.At.IsZero() || !json.Valid(e.Detail) {
			t.Errorf("audit entry %+v", e)
		}
		if e.Action == auth.ActionTokenRevoke && (e.Target != tok.ID || e.Actor != "api:root (token x)") {
			t.Errorf("revocation audit %+v", e)
		}
	}
	if count[auth.ActionTokenCreate] != 3 || count[auth.ActionTokenRevoke] != 1 {
		t.Errorf("audit actions %v, want 3 creations and 1 revocation", count)
	}
}

func mustSecret(t *testing.T) string {
	s, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
