package schema_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
)

func TestMigratorAgainstServer(t *testing.T) {
	_, conn := testenv.ClickHouse(t) // applies every migration once
	ctx := context.Background()
	m, err := schema.NewMigrator(ctx, conn, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := m.Up(ctx); err != nil || n != 0 {
		t.Fatalf("second Up applied %d, err %v; want 0, nil", n, err)
	}
	all, _ := schema.Migrations()
	applied, err := m.Applied(ctx)
	if err != nil || len(applied) != len(all) {
		t.Fatalf("applied %d of %d migrations: %v", len(applied), len(all), err)
	}

	record := func(version uint32, checksum string) {
		t.Helper()
		b, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, checksum, applied_at)")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Append(version, "test", checksum, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	record(all[0].Version, "edited")
	if _, err := m.Up(ctx); !errors.Is(err, schema.ErrMigrationChanged) {
		t.Fatalf("Up over a changed migration: %v, want ErrMigrationChanged", err)
	}
	record(9999, "future")
	if _, err := m.Up(ctx); !errors.Is(err, schema.ErrSchemaNewer) {
		t.Fatalf("Up over a newer schema: %v, want ErrSchemaNewer", err)
	}
}
