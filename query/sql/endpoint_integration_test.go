package sql_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/query/sql"
	"github.com/meterhouse/meterhouse/schema"
)

// endpoint is one test's API serving the analyst SQL endpoint over a fresh database
// holding the contract tables.
type endpoint struct {
	conn  driver.Conn
	url   string
	token func(roles ...api.Role) string
	user  string // an analyst's token
}

// newEndpoint serves the SQL endpoint (with sqlCfg) over a fresh, migrated database.
func newEndpoint(t *testing.T, sqlCfg sql.Config) *endpoint {
	t.Helper()
	cfg, conn := testenv.ClickHouse(t)
	srv, token := testenv.API(t, conn)
	sq, err := sql.New(sqlCfg, cfg.Database, analystPool(t, cfg, sqlCfg))
	if err != nil {
		t.Fatal(err)
	}
	if err := sq.Register(srv); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Echo())
	t.Cleanup(hs.Close)
	return &endpoint{conn: conn, url: hs.URL, token: token, user: token(api.RoleAnalyst)}
}

// analystPool opens the SQL endpoint's own pool as serve does (sql.Connect), with the
// analyst user of the test's own (readonly=1, this test's database only) whose profile
// holds sqlCfg's limits, since under readonly=1 the server ignores per-query settings.
func analystPool(t *testing.T, ch schema.Config, sqlCfg sql.Config) driver.Conn {
	t.Helper()
	a := testenv.AnalystClickHouseWith(t, ch, sqlCfg.ProfileSettings())
	sqlCfg.Username, sqlCfg.Password, sqlCfg.PasswordFile = a.Username, a.Password, ""
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := sql.Connect(ctx, ch, sqlCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// response is an HTTP answer read in full.
type response struct {
	status int
	body   []byte
}

func (a *endpoint) do(t *testing.T, method, path, accept, contentType, body, token string) response {
	t.Helper()
	r := testenv.Do(t, testenv.Request{Method: method, URL: a.url + path, Token: token,
		Accept: accept, ContentType: contentType, Body: strings.NewReader(body)})
	return response{status: r.Status, body: r.Body}
}

func decode(t *testing.T, r response) testenv.ResultJSON {
	t.Helper()
	return testenv.DecodeResult(t, r.status, r.body)
}
