package schema_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
	analystsql "github.com/meterhouse/meterhouse/query/sql"
	"github.com/meterhouse/meterhouse/schema"
)

// TestAnalystCannotReadPrivateDatabase checks the ClickHouse side of the private
// database: a user with the analyst profile, granted the platform database, reads its
// tables but is denied the private database's api_tokens and admin_audit, which are no
// longer in the platform database.
func TestAnalystCannotReadPrivateDatabase(t *testing.T) {
	cfg, _ := testenv.ClickHouse(t)
	analyst := testenv.AnalystClickHouse(t, cfg)
	conn, err := schema.Connect(context.Background(), analyst)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM consumption").Scan(&n); err != nil {
		t.Fatalf("analyst reads consumption: %v", err)
	}
	for _, table := range []string{"api_tokens", "admin_audit"} {
		err := conn.QueryRow(ctx, "SELECT count() FROM "+cfg.PrivateDatabase()+"."+table).Scan(&n)
		if err == nil || !strings.Contains(err.Error(), "Access denied") {
			t.Errorf("analyst reads %s.%s: %v, want Access denied", cfg.PrivateDatabase(), table, err)
		}
		err = conn.QueryRow(ctx, "SELECT count() FROM "+table).Scan(&n)
		if err == nil || !strings.Contains(err.Error(), "doesn't exist") {
			t.Errorf("platform database still has %s: %v", table, err)
		}
	}
}

// TestAnalystProfile checks the analyst_readonly profile of the local services: its limits
// are those of the sql configuration's defaults and hold without any per-query setting,
// and readonly=1 refuses writes and settings sent with a query.
func TestAnalystProfile(t *testing.T) {
	cfg, _ := testenv.ClickHouse(t)
	ctx := context.Background()

	t.Run("settings", func(t *testing.T) {
		conn, err := schema.Connect(ctx, testenv.AnalystClickHouse(t, cfg))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		d := analystsql.DefaultConfig()
		want := map[string]string{
			"readonly":                        "1",
			"max_execution_time":              strconv.Itoa(int(d.MaxExecutionTime / time.Second)),
			"max_memory_usage":                strconv.Itoa(d.MaxMemoryUsage),
			"max_rows_to_read":                strconv.Itoa(d.MaxRowsToRead),
			"max_result_rows":                 strconv.Itoa(d.MaxResultRows),
			"max_result_bytes":                strconv.Itoa(d.MaxResultBytes),
			"result_overflow_mode":            "throw",
			"read_overflow_mode":              "throw",
			"timeout_overflow_mode":           "throw",
			"max_concurrent_queries_for_user": "8",
		}
		rows, err := conn.Query(ctx, "SELECT name, value FROM system.settings")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[string]string{}
		for rows.Next() {
			var name, value string
			if err := rows.Scan(&name, &value); err != nil {
				t.Fatal(err)
			}
			got[name] = value
		}
		for name, v := range want {
			if got[name] != v {
				t.Errorf("analyst profile: %s = %q, want %q", name, got[name], v)
			}
		}
	})

	t.Run("limit holds without per-query settings", func(t *testing.T) {
		small := testenv.AnalystClickHouseWith(t, cfg, map[string]string{"max_result_rows": "10"})
		conn, err := schema.Connect(ctx, small)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		count := func(q string) (int, error) {
			rows, err := conn.Query(ctx, q)
			if err != nil {
				return 0, err
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				n++
			}
			return n, rows.Err()
		}
		if n, err := count("SELECT number FROM system.numbers LIMIT 10"); err != nil || n != 10 {
			t.Fatalf("10 rows: %d, %v", n, err)
		}
		if _, err := count("SELECT number FROM system.numbers LIMIT 11"); err == nil || !strings.Contains(err.Error(), "Limit for result exceeded") {
			t.Fatalf("11 rows with max_result_rows 10 in the profile: %v, want Limit for result exceeded", err)
		}
		if _, err := count("SELECT number FROM system.numbers LIMIT 11 SETTINGS max_result_rows = 100"); err == nil || !strings.Contains(err.Error(), "readonly") {
			t.Fatalf("a SETTINGS clause under readonly=1: %v, want it refused", err)
		}
		if err := conn.Exec(ctx, "CREATE TABLE analyst_was_here (x UInt8) ENGINE = Memory"); err == nil || !strings.Contains(err.Error(), "readonly") {
			t.Fatalf("CREATE TABLE as analyst: %v, want it refused in readonly mode", err)
		}
	})
}

// TestDefaultUserClosed checks that the server's default user, which has every right,
// no longer lets anyone in without a password.
func TestDefaultUserClosed(t *testing.T) {
	testenv.Integration(t)
	cfg := testenv.ClickHouseConfig(t)
	cfg.Username, cfg.Password, cfg.PasswordFile = "default", "", ""
	cfg.Database = "default"
	conn, err := schema.Connect(context.Background(), cfg)
	if err == nil {
		conn.Close()
		t.Fatal("user default without a password was let in")
	}
	if !strings.Contains(err.Error(), "assword") {
		t.Fatalf("user default without a password: %v, want a password error", err)
	}
	// The application user is let in with its password: the refusal above is about the
	// password, not an unreachable server.
	app := testenv.ClickHouseConfig(t)
	app.Database = "default"
	if c, err := schema.Connect(context.Background(), app); err != nil {
		t.Fatalf("application user: %v", err)
	} else {
		c.Close()
	}
}
