package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/auth"
	"github.com/meterhouse/meterhouse/broker"
	"github.com/meterhouse/meterhouse/config"
	"github.com/meterhouse/meterhouse/ingest"
	"github.com/meterhouse/meterhouse/internal/app"
	"github.com/meterhouse/meterhouse/internal/testenv"
	analystsql "github.com/meterhouse/meterhouse/query/sql"
)

// publicRoutes are the only routes that may be served without a token.
var publicRoutes = []string{"GET /healthz", "GET /metrics", "GET /readyz"}

// testAuthSecret is the auth secret of the servers and stores of these tests, so that a
// store a test makes issues tokens its server accepts.
var testAuthSecret = testenv.Suffix() + testenv.Suffix() + testenv.Suffix()

// testServer builds the production server (app.New with the API) over a fresh database and returns
// it, an HTTP server for it and the database connection.
func testServer(t *testing.T, edit func(*config.Config)) (*api.Server, *httptest.Server, driver.Conn) {
	t.Helper()
	chCfg, conn := testenv.ClickHouse(t)
	cfg := config.Default()
	cfg.ClickHouse = chCfg
	cfg.Kafka = testenv.Kafka()
	cfg.API.AccessLog = false
	cfg.Auth.Secret = testAuthSecret
	if edit != nil {
		edit(&cfg)
	}
	readings, err := ingest.NewReadingsWriter(cfg.Kafka, cfg.Ingest)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { readings.Close() })
	sqlConn := analystPool(t, cfg)
	a, err := app.New(context.Background(), cfg, testenv.Logger(t),
		app.Resources{ClickHouse: conn, AnalystSQL: sqlConn, Readings: readings}, app.Parts{API: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := a.Server()
	hs := httptest.NewServer(srv.Echo())
	t.Cleanup(hs.Close)
	return srv, hs, conn
}

// analystPool opens the analyst SQL pool as serve does (analystsql.Connect), with the
// analyst user of the test's own (readonly=1, this test's database only) whose profile
// holds the SQL section's limits, since under readonly=1 the server ignores per-query settings.
func analystPool(t *testing.T, cfg config.Config) driver.Conn {
	t.Helper()
	a := testenv.AnalystClickHouseWith(t, cfg.ClickHouse, cfg.SQL.ProfileSettings())
	cfg.SQL.Username, cfg.SQL.Password, cfg.SQL.PasswordFile = a.Username, a.Password, ""
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := analystsql.Connect(ctx, cfg.ClickHouse, cfg.SQL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// routeURL fills a route's path parameters with a harmless value.
func routeURL(base string, r api.Route) string {
	segs := strings.Split(r.Path, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") || s == "*" {
			segs[i] = "MTR-000001"
		}
	}
	return base + strings.Join(segs, "/")
}

func call(t *testing.T, method, url, token string) (int, []byte) {
	t.Helper()
	r := testenv.Do(t, testenv.Request{Method: method, URL: url, Token: token})
	return r.Status, r.Body
}

func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var eb api.ErrorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	return eb.Error.Code
}

// TestEveryRouteAuthorized checks, for every route of the production server: without a
// token, or with a malformed, unknown, expired or revoked one → 401 with the JSON error
// body; with a role the route does not allow → 403; with each allowed role and with admin
// → neither. Public routes are exactly /healthz, /readyz and /metrics.
func TestEveryRouteAuthorized(t *testing.T) {
	srv, hs, conn := testServer(t, nil)
	ctx := context.Background()
	store, err := auth.NewStore(auth.Config{TokenTTL: time.Hour, Secret: testAuthSecret}, conn, testenv.PrivateDatabase(t, conn))
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[api.Role]string{}
	for _, r := range api.Roles() {
		tokens[r] = testenv.Token(t, store, r)
	}
	revoked, tok, err := store.Create(ctx, "test", auth.NewToken{Name: "revoked", Roles: api.Roles()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Revoke(ctx, "test", tok.ID); err != nil {
		t.Fatal(err)
	}
	past, err := auth.NewStore(auth.Config{Secret: testAuthSecret}, conn, testenv.PrivateDatabase(t, conn), auth.WithClock(func() time.Time { return time.Now().Add(-2 * time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	expired, _, err := past.Create(ctx, "test", auth.NewToken{Name: "expired", Roles: api.Roles(), TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}

	var public []string
	for _, r := range srv.Routes() {
		name := r.Method + " " + r.Path
		url := routeURL(hs.URL, r)
		t.Run(name, func(t *testing.T) {
			if r.Public {
				public = append(public, name)
				if code, body := call(t, r.Method, url, ""); code == http.StatusUnauthorized || code == http.StatusForbidden {
					t.Errorf("public route without token: %d %s", code, body)
				}
				return
			}
			if len(r.Roles) == 0 {
				t.Fatal("route declares no role")
			}
			for _, bad := range []struct{ name, token string }{
				{"no token", ""}, {"malformed", "secret"}, {"unknown", unknown},
				{"revoked", revoked}, {"expired", expired},
			} {
				code, body := call(t, r.Method, url, bad.token)
				if code != http.StatusUnauthorized || errorCode(t, body) != "unauthorized" {
					t.Errorf("%s token: %d %s, want 401 unauthorized", bad.name, code, body)
				}
			}
			for _, role := range api.Roles() {
				code, body := call(t, r.Method, url, tokens[role])
				allowed := role == api.RoleAdmin || slices.Contains(r.Roles, role)
				switch {
				case allowed && (code == http.StatusUnauthorized || code == http.StatusForbidden):
					t.Errorf("role %s (allowed): %d %s", role, code, body)
				case !allowed && (code != http.StatusForbidden || errorCode(t, body) != "forbidden"):
					t.Errorf("role %s (not allowed): %d %s, want 403 forbidden", role, code, body)
				}
			}
		})
	}
	slices.Sort(public)
	if !slices.Equal(public, publicRoutes) {
		t.Errorf("public routes %v, want exactly %v", public, publicRoutes)
	}
}

// TestOpenAPI checks that /openapi.json is a valid OpenAPI 3 document that documents every
// registered route and method, each with a summary.
func TestOpenAPI(t *testing.T) {
	srv, hs, conn := testServer(t, nil)
	store, err := auth.NewStore(auth.Config{TokenTTL: time.Hour, Secret: testAuthSecret}, conn, testenv.PrivateDatabase(t, conn))
	if err != nil {
		t.Fatal(err)
	}
	code, body := call(t, http.MethodGet, hs.URL+"/openapi.json", testenv.Token(t, store, api.RoleAnalyst))
	if code != http.StatusOK {
		t.Fatalf("GET /openapi.json: %d %s", code, body)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(body)
	if err != nil {
		t.Fatalf("/openapi.json does not parse as OpenAPI 3: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("/openapi.json is not valid OpenAPI 3: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	documented := 0
	for path, item := range doc.Paths.Map() {
		documented += len(item.Operations())
		_ = path
	}
	routes := srv.Routes()
	if documented != len(routes) {
		t.Errorf("%d operations documented, %d routes registered", documented, len(routes))
	}
	for _, r := range routes {
		item := doc.Paths.Find(api.OpenAPIPath(r.Path))
		var op *openapi3.Operation
		if item != nil {
			op = item.GetOperation(r.Method)
		}
		if op == nil {
			t.Errorf("%s %s is not documented", r.Method, r.Path)
			continue
		}
		if op.Summary == "" {
			t.Errorf("%s %s has no summary", r.Method, r.Path)
		}
		secured := op.Security != nil && len(*op.Security) > 0
		if secured == r.Public {
			t.Errorf("%s %s: documented security %v, public %v", r.Method, r.Path, op.Security, r.Public)
		}
	}
}

// TestReadyz checks that /readyz reports ClickHouse and Kafka (as the application user
// meterhouse), a broker that cannot be reached and one that refuses the password.
func TestReadyz(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kafka  func() broker.Config
		status int
		check  string
	}{
		{"reachable", func() broker.Config { return testenv.KafkaAs("meterhouse") }, http.StatusOK, "ok"},
		{"kafka down", func() broker.Config { c := testenv.Kafka(); c.Brokers = []string{"127.0.0.1:1"}; return c }, http.StatusServiceUnavailable, "failed"},
		{"wrong password", func() broker.Config {
			c := testenv.KafkaAs("meterhouse")
			if c.SASL.Mechanism == "" {
				t.Skip("the test broker has no SASL")
			}
			c.SASL.Password, c.SASL.PasswordFile = "wrong", ""
			return c
		}, http.StatusServiceUnavailable, "failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, hs, _ := testServer(t, func(c *config.Config) { c.Kafka = tc.kafka() })
			code, body := call(t, http.MethodGet, hs.URL+"/readyz", "")
			var r api.Readiness
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatal(err)
			}
			if code != tc.status || r.Checks["clickhouse"] != "ok" || r.Checks["kafka"] != tc.check {
				t.Errorf("/readyz: %d %s", code, body)
			}
		})
	}
}
