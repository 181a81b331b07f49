package sql_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/query/sql"
)

// TestSQLCannotReadCredentials checks that analyst SQL reaches neither the API tokens nor
// the admin audit trail: they are not in the platform database any more, and the guard
// refuses to name the private database that holds them, in every spelling.
func TestSQLCannotReadCredentials(t *testing.T) {
	a := newEndpoint(t, sql.DefaultConfig()) // issues the analyst's token: api_tokens has a row
	private := testenv.PrivateDatabase(t, a.conn)
	post := func(t *testing.T, sql string) response {
		t.Helper()
		return a.do(t, http.MethodPost, "/v1/sql", "", "text/plain", sql, a.user)
	}
	if r := post(t, "SELECT count() AS n FROM consumption"); r.status != http.StatusOK {
		t.Fatalf("consumption: %d %s", r.status, r.body)
	}
	for _, table := range []string{"api_tokens", "admin_audit"} {
		t.Run(table+" unqualified", func(t *testing.T) {
			r := post(t, "SELECT * FROM "+table)
			if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "doesn't exist") {
				t.Fatalf("%d %s, want 400: no such table in the platform database", r.status, r.body)
			}
		})
		for _, name := range []string{private + "." + table, "`" + private + "`." + table, `"` + private + `".` + table} {
			t.Run(name, func(t *testing.T) {
				r := post(t, "SELECT * FROM "+name)
				var eb struct {
					Error struct{ Field, Message string }
				}
				_ = json.Unmarshal(r.body, &eb)
				if r.status != http.StatusBadRequest || eb.Error.Field != "query" || !strings.Contains(eb.Error.Message, private) {
					t.Fatalf("%d %s, want 400 refusing database %s", r.status, r.body, private)
				}
			})
		}
	}
}
