package schema_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

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

// migrateBelow creates a fresh database (dropped when the test ends), applies every
// migration before version to it and records them as applied, as a binary of that time
// would have left the database. It returns the database's settings, a connection to it
// (closed when the test ends), the migrator and the migration version itself.
func migrateBelow(t *testing.T, version uint32) (schema.Config, driver.Conn, *schema.Migrator, schema.Migration) {
	t.Helper()
	testenv.Integration(t)
	ctx := context.Background()
	cfg := testenv.ClickHouseConfig(t)
	if err := schema.EnsureDatabase(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = schema.DropDatabase(context.Background(), cfg) })
	conn, err := schema.Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	database := cfg.Database
	m, err := schema.NewMigrator(ctx, conn, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Applied(ctx); err != nil { // creates schema_migrations
		t.Fatal(err)
	}
	all, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var target schema.Migration
	for _, mg := range all {
		if mg.Version == version {
			target = mg
		}
		if mg.Version >= version {
			continue
		}
		stmts, err := mg.Statements(m.Capabilities(), database)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stmts {
			if err := conn.Exec(ctx, s); err != nil {
				t.Fatalf("migration %d: %v", mg.Version, err)
			}
		}
		b, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, checksum, applied_at)")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Append(mg.Version, mg.Name, mg.Checksum, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	if target.Version != version {
		t.Fatalf("no migration %04d", version)
	}
	return cfg, conn, m, target
}
