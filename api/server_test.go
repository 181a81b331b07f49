package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/prometheus/client_golang/prometheus"
)

// tokens is an in-memory Authenticator for the unit tests of the middleware; the real one
// (package auth) is tested against ClickHouse in cmd/meterhouse.
type tokens map[string]Principal

func (ts tokens) Authenticate(_ context.Context, token string) (Principal, error) {
	if token == "broken" {
		return Principal{}, errors.New("store down")
	}
	p, ok := ts[token]
	if !ok {
		return Principal{}, fmt.Errorf("%w: unknown token", fault.ErrUnauthenticated)
	}
	return p, nil
}

func newTestServer(t *testing.T, cfg Config, opts ...Option) (*Server, *httptest.Server) {
	t.Helper()
	srv, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Echo())
	t.Cleanup(hs.Close)
	return srv, hs
}

func do(t *testing.T, method, url, token string, body io.Reader) (*http.Response, ErrorBody, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var eb ErrorBody
	_ = json.Unmarshal(b, &eb)
	return resp, eb, b
}

func ok(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"ok": "yes"}) }

func TestHandleRefusesUndeclaredRoles(t *testing.T) {
	srv, _ := newTestServer(t, DefaultConfig())
	for _, tc := range []struct {
		name  string
		route Route
	}{
		{"no role", Route{Method: http.MethodGet, Path: "/v1/x", Summary: "x", Handler: ok}},
		{"unknown role", Route{Method: http.MethodGet, Path: "/v1/x", Summary: "x", Roles: []Role{"root"}, Handler: ok}},
		{"public with roles", Route{Method: http.MethodGet, Path: "/v1/x", Summary: "x", Public: true, Roles: []Role{RoleAnalyst}, Handler: ok}},
		{"no handler", Route{Method: http.MethodGet, Path: "/v1/x", Summary: "x", Roles: []Role{RoleAnalyst}}},
		{"twice", Route{Method: http.MethodGet, Path: "/healthz", Summary: "x", Public: true, Handler: ok}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := srv.Handle(tc.route); err == nil {
				t.Fatal("Handle accepted the route")
			}
		})
	}
}

func TestAuthorization(t *testing.T) {
	ts := tokens{
		"ana":   {Name: "ana", TokenID: "1", Roles: []Role{RoleAnalyst}},
		"root":  {Name: "root", TokenID: "2", Roles: []Role{RoleAdmin}},
		"multi": {Name: "ops", TokenID: "3", Roles: []Role{RoleIngest, RoleBilling}},
	}
	srv, hs := newTestServer(t, DefaultConfig(), WithAuthenticator(ts))
	var seen Principal
	if err := srv.Handle(Route{Method: http.MethodGet, Path: "/v1/bills", Summary: "Bills.", Roles: []Role{RoleBilling},
		Handler: func(c echo.Context) error {
			seen, _ = PrincipalFrom(c.Request().Context())
			return ok(c)
		}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, header string
		status       int
		code         string
	}{
		{"no header", "", 401, "unauthorized"},
		{"basic scheme", "Basic YWxhZGRpbjpvcGVuc2VzYW1l", 401, "unauthorized"},
		{"empty bearer", "Bearer ", 401, "unauthorized"},
		{"unknown", "Bearer nope", 401, "unauthorized"},
		{"store down", "Bearer broken", 500, "internal"},
		{"wrong role", "Bearer ana", 403, "forbidden"},
		{"admin", "Bearer root", 200, ""},
		{"one of several roles", "bearer multi", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, eb, body := do(t, http.MethodGet, hs.URL+"/v1/bills", tc.header, nil)
			if resp.StatusCode != tc.status || eb.Error.Code != tc.code {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, body, tc.status, tc.code)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	if seen.Name != "ops" {
		t.Errorf("handler saw principal %+v, want ops", seen)
	}
}

// TestFailClosed: a server without an Authenticator refuses every non-public route.
func TestFailClosed(t *testing.T) {
	srv, hs := newTestServer(t, DefaultConfig())
	if err := srv.Handle(Route{Method: http.MethodGet, Path: "/v1/x", Summary: "x", Roles: []Role{RoleAnalyst}, Handler: ok}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/x", "/openapi.json"} {
		if resp, _, body := do(t, http.MethodGet, hs.URL+path, "Bearer anything", nil); resp.StatusCode != 401 {
			t.Errorf("%s: %d %s, want 401", path, resp.StatusCode, body)
		}
	}
	if resp, _, _ := do(t, http.MethodGet, hs.URL+"/healthz", "", nil); resp.StatusCode != 200 {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
}

// TestErrors checks the one error handler: status, code and field of each domain error,
// and that 5xx responses carry no detail (no SQL, no addresses).
func TestErrors(t *testing.T) {
	cfg := DefaultConfig()
	cfg.BodyLimit = "1K"
	cfg.RequestTimeout = 50 * time.Millisecond
	srv, hs := newTestServer(t, cfg, WithAuthenticator(tokens{"t": {Name: "t", Roles: []Role{RoleAnalyst}}}))
	handlers := map[string]error{
		"field":       fault.Invalid("from", "%q is not a time", "x"),
		"invalid":     fmt.Errorf("%w: from after to", fault.ErrInvalid),
		"notfound":    fmt.Errorf("meter MTR-1: %w", fault.ErrNotFound),
		"conflict":    fmt.Errorf("%w: already revoked", fault.ErrConflict),
		"unavailable": fmt.Errorf("%w: dial tcp 10.0.0.1:9000: refused", fault.ErrUnavailable),
		"internal":    errors.New("code: 62, message: Syntax error: SELECT secret FROM t"),
		"panic":       nil,
	}
	for name, err := range handlers {
		if err := srv.Handle(Route{Method: http.MethodPost, Path: "/e/" + name, Summary: name, Roles: []Role{RoleAnalyst},
			Handler: func(c echo.Context) error {
				if name == "panic" {
					panic("boom at /srv/secret.go:12")
				}
				if _, rerr := io.ReadAll(c.Request().Body); rerr != nil {
					return rerr
				}
				return err
			}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Handle(Route{Method: http.MethodPost, Path: "/e/slow", Summary: "slow", Roles: []Role{RoleAnalyst},
		Handler: func(c echo.Context) error {
			<-c.Request().Context().Done()
			return c.Request().Context().Err()
		}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path   string
		body   string
		status int
		code   string
		field  string
	}{
		{"/e/field", "", 400, "invalid_parameter", "from"},
		{"/e/invalid", "", 400, "invalid_request", ""},
		{"/e/notfound", "", 404, "not_found", ""},
		{"/e/conflict", "", 409, "conflict", ""},
		{"/e/unavailable", "", 503, "unavailable", ""},
		{"/e/internal", "", 500, "internal", ""},
		{"/e/panic", "", 500, "internal", ""},
		{"/e/slow", "", 503, "timeout", ""},
		{"/e/field", strings.Repeat("x", 2048), 413, "too_large", ""},
		{"/nowhere", "", 404, "not_found", ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, eb, body := do(t, http.MethodPost, hs.URL+tc.path, "Bearer t", strings.NewReader(tc.body))
			if resp.StatusCode != tc.status || eb.Error.Code != tc.code || eb.Error.Field != tc.field || eb.Error.Message == "" {
				t.Fatalf("%d %s, want %d %s field %q", resp.StatusCode, body, tc.status, tc.code, tc.field)
			}
			for _, leak := range []string{"SELECT", "10.0.0.1", "secret", "goroutine", ".go:"} {
				if strings.Contains(string(body), leak) {
					t.Errorf("response leaks %q: %s", leak, body)
				}
			}
		})
	}
}

func TestReadyzAndMetrics(t *testing.T) {
	srv, hs := newTestServer(t, DefaultConfig())
	srv.AddReadiness("db", func(context.Context) error { return nil })
	resp, _, body := do(t, http.MethodGet, hs.URL+"/readyz", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"db":"ok"`) {
		t.Fatalf("/readyz: %d %s", resp.StatusCode, body)
	}
	srv.AddReadiness("queue", func(context.Context) error { return errors.New("dial 10.0.0.2:9092: refused") })
	resp, _, body = do(t, http.MethodGet, hs.URL+"/readyz", "", nil)
	if resp.StatusCode != 503 || !strings.Contains(string(body), `"queue":"failed"`) || strings.Contains(string(body), "10.0.0.2") {
		t.Fatalf("/readyz with a failing check: %d %s", resp.StatusCode, body)
	}

	// Components register their own collectors on the server's registry.
	if err := srv.Registry().Register(newTestCounter()); err != nil {
		t.Fatal(err)
	}
	do(t, http.MethodGet, hs.URL+"/nowhere/at/all", "", nil)
	resp, _, body = do(t, http.MethodGet, hs.URL+"/metrics", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`meterhouse_http_requests_total{method="GET",route="/readyz",status="200"} 1`,
		`meterhouse_http_requests_total{method="GET",route="/readyz",status="503"} 1`,
		`meterhouse_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`meterhouse_http_request_duration_seconds_bucket{method="GET",route="/readyz",le="+Inf"} 2`,
		`meterhouse_test_total 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		key  string
	}{
		{"default", func(*Config) {}, ""},
		{"listen", func(c *Config) { c.Listen = "8080" }, "api.listen"},
		{"read timeout", func(c *Config) { c.ReadTimeout = 0 }, "api.read_timeout"},
		{"request timeout", func(c *Config) { c.RequestTimeout = -time.Second }, "api.request_timeout"},
		{"readiness timeout", func(c *Config) { c.ReadinessTimeout = 0 }, "api.readiness_timeout"},
		{"empty body limit", func(c *Config) { c.BodyLimit = "" }, "api.body_limit"},
		{"bad body limit", func(c *Config) { c.BodyLimit = "lots" }, "api.body_limit"},
		{"trusted proxies", func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8", "127.0.0.1", "::1"} }, ""},
		{"bad trusted proxy", func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8", "proxy.local"} }, "api.trusted_proxies"},
		{"cert without key", func(c *Config) { c.TLS.CertFile = "/nonexistent/tls.crt" }, "api.tls.key_file"},
		{"missing cert file", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = "/nonexistent/tls.crt", "/nonexistent/tls.key" }, "api.tls.cert_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			if tc.key == "" && err != nil || tc.key != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.key+":")) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tc.key)
			}
			if tc.key != "" {
				if _, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
					t.Fatal("New accepted the bad configuration")
				}
			}
		})
	}
}

func TestOpenAPIPath(t *testing.T) {
	for in, want := range map[string]string{
		"/healthz":                         "/healthz",
		"/v1/meters/:meter_id/consumption": "/v1/meters/{meter_id}/consumption",
		"/v1/a/:x/b/:y":                    "/v1/a/{x}/b/{y}",
	} {
		if got := OpenAPIPath(in); got != want {
			t.Errorf("OpenAPIPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func newTestCounter() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: "meterhouse_test_total", Help: "A test counter."})
}

// TestParseRoleMessage: the unknown-role message names every role (it once left out
// editor) and does not repeat a long input.
func TestParseRoleMessage(t *testing.T) {
	_, err := ParseRole("root" + strings.Repeat("x", 10000))
	var fe *fault.FieldError
	if !errors.As(err, &fe) || !errors.Is(err, fault.ErrInvalid) {
		t.Fatalf("err = %v, want a fault.FieldError", err)
	}
	for _, r := range Roles() {
		if !strings.Contains(fe.Message, string(r)) {
			t.Errorf("message %q does not name role %s", fe.Message, r)
		}
	}
	if len(fe.Message) > 200 {
		t.Errorf("message of %d bytes repeats the input", len(fe.Message))
	}
	for _, r := range Roles() {
		if got, err := ParseRole(string(r)); err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
		// Roles are matched as given, like every other field of a token request.
		if got, err := ParseRole(" " + string(r)); err == nil {
			t.Errorf("ParseRole(%q) = %q, want an error", " "+string(r), got)
		}
	}
}
