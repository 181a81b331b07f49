package auth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/auth"
	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestAdminRoutes drives the token routes over HTTP: an admin issues a token, the token
// works, the admin revokes it, it stops working, and the audit trail names the admin.
func TestAdminRoutes(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	srv, mint := testenv.API(t, conn)
	hs := httptest.NewServer(srv.Echo())
	t.Cleanup(hs.Close)
	admin := mint(api.RoleAdmin)

	send := func(method, path, token, body string) (int, []byte) {
		t.Helper()
		r := testenv.Do(t, testenv.Request{Method: method, URL: hs.URL + path, Token: token,
			ContentType: "application/json", Body: strings.NewReader(body)})
		return r.Status, r.Body
	}

	for _, tc := range []struct {
		name, body, field string
	}{
		{"empty body", "", "body"},
		{"not JSON", "{", "body"},
		{"unknown field", `{"name":"x","roles":["admin"],"role":"x"}`, "body"},
		{"no roles", `{"name":"x"}`, "roles"},
		{"bad role", `{"name":"x","roles":["root"]}`, "roles"},
		{"bad ttl", `{"name":"x","roles":["admin"],"ttl":"1y"}`, "ttl"},
		{"name padded past the limit", `{"name":"` + strings.Repeat(" ", 10000) + `ana","roles":["admin"]}`, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := send(http.MethodPost, "/v1/admin/tokens", admin, tc.body)
			var eb api.ErrorBody
			if err := json.Unmarshal(b, &eb); err != nil || code != 400 || eb.Error.Field != tc.field {
				t.Fatalf("%d %s, want 400 on field %s", code, b, tc.field)
			}
		})
	}

	code, b := send(http.MethodPost, "/v1/admin/tokens", admin, `{"name":"das-north","roles":["ingest"],"ttl":"720h"}`)
	var created auth.Created
	if err := json.Unmarshal(b, &created); err != nil || code != http.StatusCreated || !auth.WellFormed(created.Secret) ||
		created.Name != "das-north" || created.Status != auth.StatusActive || created.ExpiresAt.IsZero() {
		t.Fatalf("create: %d %s", code, b)
	}
	if code, b := send(http.MethodGet, "/v1/admin/tokens", created.Secret, ""); code != http.StatusForbidden {
		t.Fatalf("ingest token on an admin route: %d %s", code, b)
	}
	if code, b := send(http.MethodGet, "/v1/admin/tokens/"+created.ID, admin, ""); code != 200 || strings.Contains(string(b), created.Secret) {
		t.Fatalf("get: %d %s", code, b)
	}
	if code, b := send(http.MethodGet, "/v1/admin/tokens", admin, ""); code != 200 || !strings.Contains(string(b), created.ID) || strings.Contains(string(b), "mh_") {
		t.Fatalf("list: %d %s", code, b)
	}
	if code, b := send(http.MethodDelete, "/v1/admin/tokens/"+created.ID, admin, ""); code != 200 || !strings.Contains(string(b), `"status":"revoked"`) {
		t.Fatalf("revoke: %d %s", code, b)
	}
	if code, b := send(http.MethodDelete, "/v1/admin/tokens/"+created.ID, admin, ""); code != http.StatusConflict {
		t.Fatalf("revoke again: %d %s", code, b)
	}
	if code, b := send(http.MethodGet, "/v1/admin/tokens", created.Secret, ""); code != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d %s", code, b)
	}
	if code, b := send(http.MethodGet, "/v1/admin/tokens/ffffffffffffffff", admin, ""); code != http.StatusNotFound {
		t.Fatalf("unknown id: %d %s", code, b)
	}
	if code, b := send(http.MethodGet, "/v1/admin/audit?limit=0", admin, ""); code != 400 {
		t.Fatalf("audit limit=0: %d %s", code, b)
	}
	code, b = send(http.MethodGet, "/v1/admin/audit", admin, "")
	var trail struct{ Entries []auth.AuditEntry }
	if err := json.Unmarshal(b, &trail); err != nil || code != 200 {
		t.Fatalf("audit: %d %s", code, b)
	}
	actions := map[string]string{}
	for _, e := range trail.Entries {
		if e.Target == created.ID {
			actions[e.Action] = e.Actor
		}
	}
	for _, a := range []string{auth.ActionTokenCreate, auth.ActionTokenRevoke} {
		if !strings.HasPrefix(actions[a], "api:test-admin (token ") {
			t.Errorf("audit of %s: actor %q, want the admin's principal", a, actions[a])
		}
	}
}
