package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/fault"
)

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s, err := NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s, TokenPrefix) || len(s) != 46 || !WellFormed(s) {
			t.Fatalf("NewSecret() = %q: want mh_ and 43 base64url characters", s)
		}
		if seen[s] {
			t.Fatalf("NewSecret() repeated %q", s)
		}
		seen[s] = true
	}
}

func TestWellFormed(t *testing.T) {
	good, _ := NewSecret()
	for _, tc := range []struct {
		name string
		in   string
		want bool
	}{
		{"generated", good, true},
		{"empty", "", false},
		{"no prefix", strings.TrimPrefix(good, TokenPrefix) + "xxx", false},
		{"short", good[:45], false},
		{"long", good + "A", false},
		{"not base64url", good[:45] + "+", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := WellFormed(tc.in); got != tc.want {
				t.Errorf("WellFormed(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestNewTokenValidate(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		req       NewToken
		field     string // the FieldError's field, or "" for success
		roles     []api.Role
		expiresIn time.Duration // 0: never
	}{
		{"default ttl", NewToken{Name: "ana", Roles: []api.Role{"analyst"}}, "", []api.Role{"analyst"}, 24 * time.Hour},
		{"ttl", NewToken{Name: "das", Roles: []api.Role{"ingest", "ingest"}, TTL: "1h"}, "", []api.Role{"ingest"}, time.Hour},
		{"never", NewToken{Name: "root", Roles: []api.Role{"admin", "billing"}, TTL: "never"}, "", []api.Role{"admin", "billing"}, 0},
		{"no name", NewToken{Roles: []api.Role{"admin"}}, "name", nil, 0},
		{"long name", NewToken{Name: strings.Repeat("n", 65), Roles: []api.Role{"admin"}}, "name", nil, 0},
		{"control char", NewToken{Name: "a\nb", Roles: []api.Role{"admin"}}, "name", nil, 0},
		{"no roles", NewToken{Name: "x"}, "roles", nil, 0},
		{"unknown role", NewToken{Name: "x", Roles: []api.Role{"root"}}, "roles", nil, 0},
		{"bad ttl", NewToken{Name: "x", Roles: []api.Role{"admin"}, TTL: "soon"}, "ttl", nil, 0},
		{"negative ttl", NewToken{Name: "x", Roles: []api.Role{"admin"}, TTL: "-1h"}, "ttl", nil, 0},
		// Limits apply to the text as given, never to a trimmed or normalised copy: a name
		// padded to 10 016 characters with spaces was stored.
		{"name padded with spaces", NewToken{Name: strings.Repeat(" ", 9952) + strings.Repeat("n", 64), Roles: []api.Role{"admin"}}, "name", nil, 0},
		{"name padded at the end", NewToken{Name: "ana" + strings.Repeat(" ", 10013), Roles: []api.Role{"admin"}}, "name", nil, 0},
		{"leading space", NewToken{Name: " ana", Roles: []api.Role{"admin"}}, "name", nil, 0},
		{"trailing tab", NewToken{Name: "ana\t", Roles: []api.Role{"admin"}}, "name", nil, 0},
		{"only spaces", NewToken{Name: "   ", Roles: []api.Role{"admin"}}, "name", nil, 0},
		{"inner space", NewToken{Name: "Ana Lyst", Roles: []api.Role{"analyst"}}, "", []api.Role{"analyst"}, 24 * time.Hour},
		{"64 characters of 2 bytes", NewToken{Name: strings.Repeat("é", 64), Roles: []api.Role{"admin"}}, "", []api.Role{"admin"}, 24 * time.Hour},
		{"65 characters of 2 bytes", NewToken{Name: strings.Repeat("é", 65), Roles: []api.Role{"admin"}}, "name", nil, 0},
		{"invalid UTF-8", NewToken{Name: "a\xffb", Roles: []api.Role{"admin"}}, "name", nil, 0},
		{"zero-width space", NewToken{Name: "a\u200bb", Roles: []api.Role{"admin"}}, "name", nil, 0},
		{"line separator", NewToken{Name: "a\u2028b", Roles: []api.Role{"admin"}}, "name", nil, 0},
		{"as many roles as exist", NewToken{Name: "x", Roles: api.Roles()}, "", api.Roles(), 24 * time.Hour},
		{"more role entries than roles", NewToken{Name: "x", Roles: append(api.Roles(), "admin")}, "roles", nil, 0},
		{"a million role entries", NewToken{Name: "x", Roles: make([]api.Role, 1_000_000)}, "roles", nil, 0},
		{"padded role", NewToken{Name: "x", Roles: []api.Role{api.Role(strings.Repeat(" ", 10000) + "admin")}}, "roles", nil, 0},
		{"role with a space", NewToken{Name: "x", Roles: []api.Role{" admin"}}, "roles", nil, 0},
		{"padded ttl", NewToken{Name: "x", Roles: []api.Role{"admin"}, TTL: strings.Repeat("0", 10000) + "1h"}, "ttl", nil, 0},
		{"ttl past the store", NewToken{Name: "x", Roles: []api.Role{"admin"}, TTL: "1000000h"}, "ttl", nil, 0}, // 2140: would wrap to 2004
	} {
		t.Run(tc.name, func(t *testing.T) {
			roles, expires, err := tc.req.validate(24*time.Hour, now)
			if tc.field != "" {
				var fe *fault.FieldError
				if !errors.As(err, &fe) || fe.Field != tc.field {
					t.Fatalf("err = %v, want a FieldError on %s", err, tc.field)
				}
				if len(fe.Message) > 200 {
					t.Errorf("the message repeats the input: %d bytes", len(fe.Message))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(roleNames(roles), ",") != strings.Join(roleNames(tc.roles), ",") {
				t.Errorf("roles = %v, want %v", roles, tc.roles)
			}
			want := time.Time{}
			if tc.expiresIn > 0 {
				want = now.Add(tc.expiresIn)
			}
			if !expires.Equal(want) {
				t.Errorf("expires = %v, want %v", expires, want)
			}
		})
	}
}

// TestUnknownRoleMessage: the message names every role that exists (it once left out
// editor), from the one list of roles.
func TestUnknownRoleMessage(t *testing.T) {
	_, _, err := NewToken{Name: "x", Roles: []api.Role{"root"}}.validate(time.Hour, time.Now())
	var fe *fault.FieldError
	if !errors.As(err, &fe) || fe.Field != "roles" {
		t.Fatalf("err = %v, want a FieldError on roles", err)
	}
	for _, r := range api.Roles() {
		if !strings.Contains(fe.Message, string(r)) {
			t.Errorf("message %q does not name role %s", fe.Message, r)
		}
	}
}

func roleNames(rs []api.Role) []string {
	var s []string
	for _, r := range rs {
		s = append(s, string(r))
	}
	return s
}

func TestStatusAt(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		tok  Token
		want Status
	}{
		{"never expires", Token{}, StatusActive},
		{"before expiry", Token{ExpiresAt: now.Add(time.Second)}, StatusActive},
		{"at expiry", Token{ExpiresAt: now}, StatusExpired},
		{"revoked", Token{ExpiresAt: now.Add(time.Hour), RevokedAt: now.Add(-time.Hour)}, StatusRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.tok.StatusAt(now); got != tc.want {
				t.Errorf("StatusAt = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		key  string
	}{
		{"default", DefaultConfig(), ""},
		{"zero", Config{}, ""},
		{"negative token ttl", Config{TokenTTL: -time.Second}, "auth.token_ttl"},
		{"negative cache ttl", Config{CacheTTL: -time.Second}, "auth.cache_ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.key == "" && err != nil || tc.key != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.key+":")) {
				t.Errorf("Validate() = %v, want an error naming %q", err, tc.key)
			}
		})
	}
}
