package schema_test

import (
	"context"
	"testing"
	"time"
)

// TestPrivateDatabaseMigration upgrades a database as migrations before 0020 left it, with
// tokens and audit records in the platform database, and checks that migration 0020 moves
// them to the private database, revokes the tokens stored as bare hashes, drops the old
// tables, and that applying it a second time changes nothing.
func TestPrivateDatabaseMigration(t *testing.T) {
	ctx := context.Background()
	cfg, conn, m, private := migrateBelow(t, 20)
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	insert := func(q string, rows ...[]any) {
		t.Helper()
		b, err := conn.PrepareBatch(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if err := b.Append(r...); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	zero, revokedAt := time.Unix(0, 0).UTC(), at.Add(24*time.Hour)
	insert("INSERT INTO api_tokens (token_id, hash, name, roles, created_at, created_by, expires_at, revoked, revoked_at, revoked_by)",
		[]any{"aaaaaaaaaaaaaaaa", "h1", "das", []string{"ingest"}, at, "cli:root@x", zero, uint8(0), zero, ""},
		[]any{"bbbbbbbbbbbbbbbb", "h2", "ana", []string{"analyst"}, at, "cli:root@x", zero, uint8(0), zero, ""},
		[]any{"bbbbbbbbbbbbbbbb", "h2", "ana", []string{"analyst"}, at, "cli:root@x", zero, uint8(1), revokedAt, "cli:alice@x"})
	insert("INSERT INTO admin_audit (at, event_id, actor, action, target, detail)",
		[]any{at, "e1", "cli:root@x", "token.create", "aaaaaaaaaaaaaaaa", "{}"},
		[]any{revokedAt, "e2", "cli:alice@x", "token.revoke", "bbbbbbbbbbbbbbbb", "{}"})
	if n, err := m.Up(ctx); err != nil || n < 1 {
		t.Fatalf("Up = %d, %v", n, err)
	}

	check := func(t *testing.T) {
		t.Helper()
		rows, err := conn.Query(ctx, "SELECT token_id, hash, revoked, revoked_by FROM "+cfg.PrivateDatabase()+".api_tokens FINAL ORDER BY token_id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		type tok struct {
			id, hash  string
			revoked   uint8
			revokedBy string
		}
		var got []tok
		for rows.Next() {
			var x tok
			if err := rows.Scan(&x.id, &x.hash, &x.revoked, &x.revokedBy); err != nil {
				t.Fatal(err)
			}
			got = append(got, x)
		}
		if len(got) != 2 || got[0].id != "aaaaaaaaaaaaaaaa" || got[0].revoked != 1 || got[0].revokedBy == "" ||
			got[1].id != "bbbbbbbbbbbbbbbb" || got[1].revoked != 1 || got[1].revokedBy != "cli:alice@x" {
			t.Errorf("private api_tokens: %+v; want both tokens, the active one revoked by the migration", got)
		}
		var audits uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+cfg.PrivateDatabase()+".admin_audit WHERE at >= ?", at).Scan(&audits); err != nil {
			t.Fatal(err)
		}
		if audits != 2 {
			t.Errorf("private admin_audit has %d records, want the 2 moved", audits)
		}
		for _, table := range []string{"api_tokens", "admin_audit"} {
			var exists uint8
			if err := conn.QueryRow(ctx, "EXISTS TABLE "+cfg.Database+"."+table).Scan(&exists); err != nil {
				t.Fatal(err)
			}
			if exists != 0 {
				t.Errorf("the platform database still has %s", table)
			}
		}
	}
	check(t)

	// Interrupted and applied again: nothing is copied twice.
	stmts, err := private.Statements(m.Capabilities(), cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("migration 0020 again: %v", err)
		}
	}
	check(t)
}
