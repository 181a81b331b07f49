package auth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
)

// TokenPrefix starts every Meterhouse API token, so that secret scanners and people can
// recognise one.
const TokenPrefix = "mh_"

// tokenBytes is the number of random bytes in a token: 256 bits.
const tokenBytes = 32

// tokenLen is the length of a token's text: the prefix and 43 base64url characters.
var tokenLen = len(TokenPrefix) + base64.RawURLEncoding.EncodedLen(tokenBytes)

// NewSecret returns a new random token text.
func NewSecret() (string, error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("auth: random token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// WellFormed reports whether s has the shape of a token, without looking it up.
func WellFormed(s string) bool {
	rest, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok || len(s) != tokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}

// newID returns a new public token id: 16 hex characters.
func newID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("auth: random id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Token is what the store knows about a token: everything but its text.
type Token struct {
	// ID is the token's public id.
	ID string `json:"id"`
	// Name names the principal the token acts for.
	Name string `json:"name"`
	// Roles are the roles the token grants.
	Roles []api.Role `json:"roles"`
	// CreatedAt is when the token was created, and CreatedBy who created it.
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	// ExpiresAt is when the token stops working; zero means never.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// RevokedAt is when the token was revoked, and RevokedBy who revoked it; zero and
	// empty while it is not.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
	// Status is active, expired or revoked at the time the token was read.
	Status Status `json:"status"`
}

// Status is the state of a token at a given time.
type Status string

// The states of a token.
const (
	StatusActive  Status = "active"
	StatusExpired Status = "expired"
	StatusRevoked Status = "revoked"
)

// StatusAt returns the token's state at now.
func (t Token) StatusAt(now time.Time) Status {
	switch {
	case !t.RevokedAt.IsZero():
		return StatusRevoked
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return StatusExpired
	}
	return StatusActive
}

// Principal returns the principal the token authenticates.
func (t Token) Principal() api.Principal {
	return api.Principal{Name: t.Name, TokenID: t.ID, Roles: append([]api.Role(nil), t.Roles...)}
}

// NewToken is a request for a token. Every field is checked as given: nothing is trimmed
// or otherwise normalised before its length and characters are checked, and the name is
// stored exactly as given.
type NewToken struct {
	// Name names the principal: a person or a system, 1–64 printable characters (valid
	// UTF-8, no control or invisible characters), neither starting nor ending with a space.
	Name string `json:"name"`
	// Roles lists the roles to grant: at least one, at most as many entries as there are
	// roles (duplicates count, and are granted once).
	Roles []api.Role `json:"roles"`
	// TTL is how long the token works: empty for the configured auth.token_ttl, "never"
	// for no expiry, or a duration like 720h; at most 32 characters.
	TTL string `json:"ttl,omitempty"`
}

// Limits of a token request, checked on the text as given.
const (
	// maxNameLen is the most characters (runes) in a token's name.
	maxNameLen = 64
	// maxRoleLen is the most bytes in one role entry: longer ones are refused unread.
	maxRoleLen = 32
	// maxTTLLen is the most bytes in a ttl.
	maxTTLLen = 32
)

// validName reports why name cannot name a principal, or "" when it can.
func validName(name string) string {
	switch {
	case name == "":
		return "a name is required"
	case len(name) > 4*maxNameLen || utf8.RuneCountInString(name) > maxNameLen:
		return fmt.Sprintf("a name of %d bytes; want 1-%d printable characters", len(name), maxNameLen)
	case !utf8.ValidString(name):
		return fmt.Sprintf("%q is not valid UTF-8", name)
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return fmt.Sprintf("%q: want 1-%d printable characters, without control or invisible characters", name, maxNameLen)
	case strings.TrimSpace(name) != name:
		return fmt.Sprintf("%q: must not start or end with a space", name)
	}
	return ""
}

// validate checks the request and returns its roles without duplicates and its expiry
// (zero for never), given the default lifetime and now.
func (n NewToken) validate(defaultTTL time.Duration, now time.Time) ([]api.Role, time.Time, error) {
	if msg := validName(n.Name); msg != "" {
		return nil, time.Time{}, fault.Invalid("name", "%s", msg)
	}
	if len(n.Roles) == 0 {
		return nil, time.Time{}, fault.Invalid("roles", "at least one role is required")
	}
	if len(n.Roles) > len(api.Roles()) {
		return nil, time.Time{}, fault.Invalid("roles", "%d entries; want at most %d (one of each of %s)", len(n.Roles), len(api.Roles()), api.RoleList())
	}
	var roles []api.Role
	for _, r := range n.Roles {
		if len(r) > maxRoleLen {
			return nil, time.Time{}, fault.Invalid("roles", "a role of %d bytes; want one of %s", len(r), api.RoleList())
		}
		role, err := api.ParseRole(string(r))
		if err != nil {
			var fe *fault.FieldError
			if errors.As(err, &fe) {
				return nil, time.Time{}, fault.Invalid("roles", "%s", fe.Message)
			}
			return nil, time.Time{}, err
		}
		if !slices.Contains(roles, role) {
			roles = append(roles, role)
		}
	}
	if len(n.TTL) > maxTTLLen {
		return nil, time.Time{}, fault.Invalid("ttl", "%d bytes; want a positive duration like 720h, or never", len(n.TTL))
	}
	ttl := defaultTTL
	switch n.TTL {
	case "":
	case "never":
		ttl = 0
	default:
		d, err := time.ParseDuration(n.TTL)
		if err != nil || d <= 0 {
			return nil, time.Time{}, fault.Invalid("ttl", "%q: want a positive duration like 720h, or never", n.TTL)
		}
		ttl = d
	}
	if ttl == 0 {
		return roles, time.Time{}, nil
	}
	exp := now.Add(ttl).Truncate(time.Second)
	if exp.After(schema.LatestTime) { // a DateTime would wrap it around into the past
		return nil, time.Time{}, fault.Invalid("ttl", "%q: the token would expire after %s, the latest time the store holds; use never",
			n.TTL, schema.LatestTime.Format(time.RFC3339))
	}
	return roles, exp, nil
}
