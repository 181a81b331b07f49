package testenv

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/auth"
	"github.com/meterhouse/meterhouse/schema"
)

// API returns an API server that authenticates with a real token store over conn (a
// database from ClickHouse, so migrated; the store uses its private database), and a
// function that issues a real token holding the given roles. Register the component's routes on the server, then serve it with
// httptest.NewServer(srv.Echo()) and send "Authorization: Bearer "+token. The token
// routes (/v1/admin/…) are registered too.
func API(t testing.TB, conn driver.Conn) (*api.Server, func(roles ...api.Role) string) {
	t.Helper()
	store, err := auth.NewStore(AuthConfig(t), conn, PrivateDatabase(t, conn))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.DefaultConfig(), Logger(t), api.WithAuthenticator(store))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Register(srv); err != nil {
		t.Fatal(err)
	}
	return srv, func(roles ...api.Role) string { return Token(t, store, roles...) }
}

// PrivateDatabase returns the name of the private database of the platform database conn
// is connected to.
func PrivateDatabase(t testing.TB, conn driver.Conn) string {
	t.Helper()
	var db string
	if err := conn.QueryRow(context.Background(), "SELECT currentDatabase()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	return schema.Config{Database: db}.PrivateDatabase()
}

// Token issues a real token holding roles from store and returns its text.
func Token(t testing.TB, store *auth.Store, roles ...api.Role) string {
	t.Helper()
	if len(roles) == 0 {
		t.Fatal("testenv.Token: give at least one role")
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	secret, _, err := store.Create(ctx, "testenv", auth.NewToken{Name: "test-" + strings.Join(names, "-"), Roles: roles})
	if err != nil {
		t.Fatalf("issue test token: %v", err)
	}
	return secret
}
