package schema_test

import (
	"context"
	"strings"
	"testing"
)

// TestProfileGranulesMigration upgrades a database holding profiles as migration 0060
// left it and checks that migration 0061 keeps every row, in the 1 024-row granules, and
// leaves no other table behind; then that applying it again, after an interruption past
// its rename or during its copy, keeps the same rows.
func TestProfileGranulesMigration(t *testing.T) {
	ctx := context.Background()
	cfg, conn, m, rebuild := migrateBelow(t, 61)

	// 3 000 meters over three days, in two inserts (two parts), one day twice with a
	// later computed_at: more than one granule of either size.
	for _, q := range []string{
		`INSERT INTO consumption_profiles (day, meter_id, time_zone, start, wh, intervals, slot, slot_wh, slot_quality, computed_at)
		SELECT toDate('2026-11-01') + number % 3, concat('M', toString(intDiv(number, 3))), 'UTC', toDateTime('2026-11-01 00:00:00') + 86400 * (number % 3),
			[toInt64(number)], [toUInt8(4)], [toUInt8(0), toUInt8(1)], [toInt64(number), toInt64(2)], [toUInt8(0), toUInt8(number % 2)], toDateTime('2026-11-05 00:00:00')
		FROM system.numbers LIMIT 9000`,
		`INSERT INTO consumption_profiles (day, meter_id, time_zone, start, wh, intervals, computed_at)
		SELECT toDate('2026-11-02'), concat('M', toString(number)), 'Europe/Paris', toDateTime('2026-11-01 23:00:00'), [toInt64(7)], [toUInt8(3)], toDateTime('2026-11-06 00:00:00')
		FROM system.numbers LIMIT 3000`,
	} {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// digest sums a hash of every column of the current version of each (day, meter).
	digest := func() (rows uint64, sum uint64) {
		t.Helper()
		if err := conn.QueryRow(ctx, `SELECT count(), sum(cityHash64(day, meter_id, time_zone, start, wh, intervals, max15_wh, max30_wh,
			estimated, edited, substituted, substituted_wh, slot, slot_wh, slot_quality, computed_at))
			FROM consumption_profiles FINAL`).Scan(&rows, &sum); err != nil {
			t.Fatal(err)
		}
		return rows, sum
	}
	wantRows, wantSum := digest()
	if wantRows != 9000 {
		t.Fatalf("%d profiles before the migration, want 9000", wantRows)
	}
	check := func(when string) {
		t.Helper()
		if rows, sum := digest(); rows != wantRows || sum != wantSum {
			t.Errorf("%s: %d profiles, digest %d; want %d, %d", when, rows, sum, wantRows, wantSum)
		}
		var ddl string
		if err := conn.QueryRow(ctx, "SHOW CREATE TABLE consumption_profiles").Scan(&ddl); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(ddl, "index_granularity = 1024") || !strings.Contains(ddl, "ORDER BY (day, meter_id)") {
			t.Errorf("%s: consumption_profiles is %s", when, ddl)
		}
		for _, table := range []string{"consumption_profiles_1024", "consumption_profiles_0030"} {
			var exists uint8
			if err := conn.QueryRow(ctx, "EXISTS TABLE "+table).Scan(&exists); err != nil {
				t.Fatal(err)
			}
			if exists != 0 {
				t.Errorf("%s: %s is left behind", when, table)
			}
		}
	}
	if n, err := m.Up(ctx); err != nil || n < 1 {
		t.Fatalf("Up = %d, %v", n, err)
	}
	check("after the migration")

	stmts, err := rebuild.Statements(m.Capabilities(), cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	run := func(stmts []string) {
		t.Helper()
		for _, s := range stmts {
			if err := conn.Exec(ctx, s); err != nil {
				t.Fatalf("migration 0061 again: %v\n%s", err, s)
			}
		}
	}
	// upTo returns the statements of 0061 up to the first one starting with prefix.
	upTo := func(prefix string) []string {
		t.Helper()
		for i, s := range stmts {
			if strings.HasPrefix(s, prefix) {
				return stmts[:i+1]
			}
		}
		t.Fatalf("migration 0061 has no statement %q…", prefix)
		return nil
	}
	// Interrupted after the rename, before the old table was dropped: applied again.
	run(upTo("RENAME TABLE"))
	run(stmts)
	check("applied again after its rename")
	// Interrupted after the copy: the copy runs twice.
	run(upTo("INSERT INTO consumption_profiles_1024"))
	run(stmts)
	check("applied again after its copy")
}
