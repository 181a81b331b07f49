package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/credentials"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
)

// Errors of Authenticate. Each wraps fault.ErrUnauthenticated, so a request carrying such a
// token gets a 401.
var (
	// ErrUnknownToken means no token has the presented text.
	ErrUnknownToken = fmt.Errorf("%w: unknown token", fault.ErrUnauthenticated)
	// ErrRevoked means the token was revoked.
	ErrRevoked = fmt.Errorf("%w: token revoked", fault.ErrUnauthenticated)
	// ErrExpired means the token's lifetime is over.
	ErrExpired = fmt.Errorf("%w: token expired", fault.ErrUnauthenticated)
)

// Config configures tokens.
type Config struct {
	// TokenTTL is the lifetime of a new token when its creator gives none; 0 means tokens
	// never expire unless asked to.
	TokenTTL time.Duration `yaml:"token_ttl"`
	// CacheTTL is how long a process trusts a token it has checked before it asks
	// ClickHouse again; a revocation made by another process takes effect within it. 0
	// checks every request against ClickHouse.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// SecretFile names a file holding the server-side secret (its first line, at least 32
	// bytes) under which tokens are stored: the store keeps HMAC-SHA256(secret, token),
	// never the token or a bare hash of it. Every process that serves or issues tokens
	// (serve, token) must use the same secret; changing it invalidates every token. The
	// local services write .services/secrets/api-token-hmac.key. SecretFile or Secret is
	// required by NewStore; they are exclusive.
	SecretFile string `yaml:"secret_file"`
	// Secret is the secret itself, for the environment (MH_AUTH_SECRET) rather than a
	// file; it is redacted when configuration is printed.
	Secret string `yaml:"secret" secret:"true"`
}

// MinSecretBytes is the shortest accepted auth secret: 256 bits.
const MinSecretBytes = 32

// DefaultConfig gives tokens 90 days and caches checks for 10 seconds. It has no secret:
// give auth.secret_file or auth.secret.
func DefaultConfig() Config {
	return Config{TokenTTL: 90 * 24 * time.Hour, CacheTTL: 10 * time.Second}
}

// Validate reports the first field that cannot work, naming it. A missing secret is not
// an error here (commands that issue or check no token need none); NewStore refuses it.
func (c Config) Validate() error {
	if c.TokenTTL < 0 {
		return fmt.Errorf("auth.token_ttl: must not be negative, got %s", c.TokenTTL)
	}
	if c.CacheTTL < 0 {
		return fmt.Errorf("auth.cache_ttl: must not be negative, got %s", c.CacheTTL)
	}
	if c.Secret != "" || c.SecretFile != "" {
		if _, err := c.key(); err != nil {
			return err
		}
	}
	return nil
}

// key returns the HMAC key, from Secret or read from SecretFile.
func (c Config) key() ([]byte, error) {
	switch {
	case c.Secret != "" && c.SecretFile != "":
		return nil, errors.New("auth.secret, auth.secret_file: give one, not both")
	case c.Secret == "" && c.SecretFile == "":
		return nil, errors.New("auth.secret_file (MH_AUTH_SECRET_FILE) or auth.secret (MH_AUTH_SECRET): required: the server-side secret tokens are stored under, at least 32 bytes")
	case c.Secret != "":
		if len(c.Secret) < MinSecretBytes {
			return nil, fmt.Errorf("auth.secret: %d bytes, want at least %d", len(c.Secret), MinSecretBytes)
		}
		return []byte(c.Secret), nil
	}
	line, err := credentials.ReadFile(c.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("auth.secret_file: %w", err)
	}
	if len(line) < MinSecretBytes {
		return nil, fmt.Errorf("auth.secret_file: %s holds %d bytes, want at least %d", c.SecretFile, len(line), MinSecretBytes)
	}
	return []byte(line), nil
}

// Store keeps tokens and the admin audit trail in ClickHouse, in the tables api_tokens and
// admin_audit of the private database (schema.Config.PrivateDatabase). It is safe for
// concurrent use.
type Store struct {
	cfg    Config
	conn   driver.Conn
	key    []byte
	tokens string // the qualified name of the token table
	audits string // the qualified name of the audit table
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]cached // by the token's HMAC
}

// cached is a token checked against ClickHouse, trusted until until.
type cached struct {
	tok   Token
	until time.Time
}

// maxCached bounds the cache; when full it is emptied.
const maxCached = 10000

// Option adjusts a Store built by NewStore.
type Option func(*Store)

// WithClock makes the store read the time from now instead of time.Now: tests use it to
// issue tokens that are already expired.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// NewStore returns a store over conn whose tables are in the database private, the
// migrated private database (schema.Config.PrivateDatabase). cfg must hold a secret.
func NewStore(cfg Config, conn driver.Conn, private string, opts ...Option) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	key, err := cfg.key()
	if err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, errors.New("auth: NewStore needs a ClickHouse connection")
	}
	if private == "" {
		return nil, errors.New("auth: NewStore needs the private database's name")
	}
	s := &Store{
		cfg: cfg, conn: conn, key: key, now: time.Now, cache: map[string]cached{},
		tokens: private + ".api_tokens", audits: private + ".admin_audit",
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// hash returns what the store keeps of a token's text: the hex HMAC-SHA256 of it under the
// server-side secret. Unlike a bare hash, it cannot be checked against a guessed or stolen
// token by anyone without the secret, nor be computed from a token seen elsewhere.
func (s *Store) hash(token string) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(token))
	return hex.EncodeToString(mac.Sum(nil))
}

// Actions recorded in the audit trail.
const (
	ActionTokenCreate = "token.create"
	ActionTokenRevoke = "token.revoke"
)

// Create issues a token for req on behalf of actor (who appears in the audit trail) and
// returns its text, which is never stored and cannot be shown again, and its record. An
// invalid request is an fault.FieldError naming the field.
func (s *Store) Create(ctx context.Context, actor string, req NewToken) (string, Token, error) {
	now := s.now().UTC().Truncate(time.Second)
	roles, expires, err := req.validate(s.cfg.TokenTTL, now)
	if err != nil {
		return "", Token{}, err
	}
	secret, err := NewSecret()
	if err != nil {
		return "", Token{}, err
	}
	id, err := newID()
	if err != nil {
		return "", Token{}, err
	}
	t := Token{ID: id, Name: req.Name, Roles: roles, CreatedAt: now, CreatedBy: actor, ExpiresAt: expires}
	t.Status = t.StatusAt(now)
	// The audit record goes first: a token never exists without one.
	if err := s.audit(ctx, now, actor, ActionTokenCreate, id, map[string]any{
		"name": t.Name, "roles": t.Roles, "expires_at": zeroNever(expires),
	}); err != nil {
		return "", Token{}, err
	}
	if err := s.insert(ctx, s.hash(secret), t, 0); err != nil {
		return "", Token{}, err
	}
	return secret, t, nil
}

func zeroNever(t time.Time) any {
	if t.IsZero() {
		return "never"
	}
	return t
}

// insert appends one row of the token table.
func (s *Store) insert(ctx context.Context, hash string, t Token, revoked uint8) error {
	bctx, sent := schema.BatchContext(ctx)
	defer sent()
	b, err := s.conn.PrepareBatch(bctx, "INSERT INTO "+s.tokens+" (token_id, hash, name, roles, created_at, created_by, expires_at, revoked, revoked_at, revoked_by)")
	if err != nil {
		return fmt.Errorf("auth: prepare token insert: %w", err)
	}
	defer b.Abort() //nolint:errcheck // a no-op once sent
	roles := make([]string, len(t.Roles))
	for i, r := range t.Roles {
		roles[i] = string(r)
	}
	if err := b.Append(t.ID, hash, t.Name, roles, t.CreatedAt, t.CreatedBy, fromZero(t.ExpiresAt), revoked, fromZero(t.RevokedAt), t.RevokedBy); err != nil {
		return fmt.Errorf("auth: token %s: %w", t.ID, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("auth: insert token %s: %w", t.ID, err)
	}
	return nil
}

// fromZero stores the zero time as the epoch, DateTime's zero.
func fromZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return t.UTC()
}

// toZero reads DateTime's zero back as the zero time.
func toZero(t time.Time) time.Time {
	if t.Unix() <= 0 {
		return time.Time{}
	}
	return t.UTC()
}

// scan reads the token rows that where selects.
func (s *Store) scan(ctx context.Context, where string, args ...any) ([]Token, []string, error) {
	rows, err := s.conn.Query(ctx, `SELECT token_id, hash, name, roles, created_at, created_by, expires_at, revoked, revoked_at, revoked_by
FROM `+s.tokens+" FINAL "+where, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: read tokens: %w", err)
	}
	defer rows.Close()
	now := s.now()
	var out []Token
	var hashes []string
	for rows.Next() {
		var t Token
		var hash string
		var roles []string
		var revoked uint8 // the row's version; revoked_at says the same
		if err := rows.Scan(&t.ID, &hash, &t.Name, &roles, &t.CreatedAt, &t.CreatedBy, &t.ExpiresAt, &revoked, &t.RevokedAt, &t.RevokedBy); err != nil {
			return nil, nil, fmt.Errorf("auth: read tokens: %w", err)
		}
		for _, r := range roles {
			t.Roles = append(t.Roles, api.Role(r))
		}
		t.CreatedAt = t.CreatedAt.UTC()
		t.ExpiresAt, t.RevokedAt = toZero(t.ExpiresAt), toZero(t.RevokedAt)
		t.Status = t.StatusAt(now)
		out = append(out, t)
		hashes = append(hashes, hash)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("auth: read tokens: %w", err)
	}
	return out, hashes, nil
}

// List returns every token ever issued, newest first, without their texts.
func (s *Store) List(ctx context.Context) ([]Token, error) {
	ts, _, err := s.scan(ctx, "ORDER BY created_at DESC, token_id")
	return ts, err
}

// Get returns the token with public id id, or an error wrapping fault.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Token, error) {
	t, _, err := s.get(ctx, id)
	return t, err
}

func (s *Store) get(ctx context.Context, id string) (Token, string, error) {
	ts, hashes, err := s.scan(ctx, "WHERE token_id = ?", id)
	if err != nil {
		return Token{}, "", err
	}
	if len(ts) == 0 {
		return Token{}, "", fmt.Errorf("%w: no token with id %q", fault.ErrNotFound, id)
	}
	return ts[0], hashes[0], nil
}

// Revoke revokes the token with public id id on behalf of actor and returns its record.
// It returns an error wrapping fault.ErrNotFound for an unknown id and fault.ErrConflict for a
// token already revoked. The revocation takes effect at once in this process and within
// auth.cache_ttl in others.
func (s *Store) Revoke(ctx context.Context, actor, id string) (Token, error) {
	t, hash, err := s.get(ctx, id)
	if err != nil {
		return Token{}, err
	}
	if t.Status == StatusRevoked {
		return t, fmt.Errorf("%w: token %s is already revoked (at %s by %s)", fault.ErrConflict, id, t.RevokedAt.Format(time.RFC3339), t.RevokedBy)
	}
	now := s.now().UTC().Truncate(time.Second)
	if err := s.audit(ctx, now, actor, ActionTokenRevoke, id, map[string]any{"name": t.Name, "roles": t.Roles}); err != nil {
		return Token{}, err
	}
	t.RevokedAt, t.RevokedBy = now, actor
	if err := s.insert(ctx, hash, t, 1); err != nil {
		return Token{}, err
	}
	s.mu.Lock()
	delete(s.cache, hash)
	s.mu.Unlock()
	t.Status = StatusRevoked
	return t, nil
}

// Authenticate returns the principal of an active token. It implements api.Authenticator:
// an unknown, revoked or expired token is an error wrapping fault.ErrUnauthenticated (one of
// ErrUnknownToken, ErrRevoked, ErrExpired); a store that cannot be read is an error
// wrapping fault.ErrUnavailable.
func (s *Store) Authenticate(ctx context.Context, secret string) (api.Principal, error) {
	if !WellFormed(secret) {
		return api.Principal{}, ErrUnknownToken
	}
	// The lookup's text (visible in system.processes to every ClickHouse user on 18.16)
	// holds the HMAC, which is useless without the secret, never the token or its bare hash.
	hash := s.hash(secret)
	now := s.now()
	s.mu.Lock()
	c, ok := s.cache[hash]
	s.mu.Unlock()
	if !ok || !now.Before(c.until) {
		ts, _, err := s.scan(ctx, "WHERE hash = ?", hash)
		if err != nil {
			return api.Principal{}, fmt.Errorf("%w: %w", fault.ErrUnavailable, err)
		}
		if len(ts) == 0 {
			return api.Principal{}, ErrUnknownToken
		}
		c = cached{tok: ts[0], until: now.Add(s.cfg.CacheTTL)}
		if s.cfg.CacheTTL > 0 {
			s.mu.Lock()
			if len(s.cache) >= maxCached {
				clear(s.cache)
			}
			s.cache[hash] = c
			s.mu.Unlock()
		}
	}
	switch c.tok.StatusAt(now) {
	case StatusRevoked:
		return api.Principal{}, ErrRevoked
	case StatusExpired:
		return api.Principal{}, ErrExpired
	}
	return c.tok.Principal(), nil
}

// AuditEntry is one record of the administration trail.
type AuditEntry struct {
	// At is when the action happened.
	At time.Time `json:"at"`
	// EventID identifies the record.
	EventID string `json:"event_id"`
	// Actor is who acted: a principal and its token, or cli:<user> for the command line.
	Actor string `json:"actor"`
	// Action is what was done, like token.create.
	Action string `json:"action"`
	// Target is what it was done to, like a token id.
	Target string `json:"target"`
	// Detail holds the action's parameters.
	Detail json.RawMessage `json:"detail"`
}

func (s *Store) audit(ctx context.Context, at time.Time, actor, action, target string, detail map[string]any) error {
	d, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("auth: audit detail: %w", err)
	}
	id, err := newID()
	if err != nil {
		return err
	}
	bctx, sent := schema.BatchContext(ctx)
	defer sent()
	b, err := s.conn.PrepareBatch(bctx, "INSERT INTO "+s.audits+" (at, event_id, actor, action, target, detail)")
	if err != nil {
		return fmt.Errorf("auth: prepare audit insert: %w", err)
	}
	defer b.Abort() //nolint:errcheck // a no-op once sent
	if err := b.Append(at.UTC(), id, actor, action, target, string(d)); err != nil {
		return fmt.Errorf("auth: audit: %w", err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("auth: write audit record: %w", err)
	}
	return nil
}

// Audit returns the newest limit records of the administration trail, newest first.
func (s *Store) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := s.conn.Query(ctx, `SELECT at, event_id, actor, action, target, detail FROM `+s.audits+`
ORDER BY at DESC, event_id LIMIT ?`, uint64(limit))
	if err != nil {
		return nil, fmt.Errorf("auth: read audit: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var detail string
		if err := rows.Scan(&e.At, &e.EventID, &e.Actor, &e.Action, &e.Target, &detail); err != nil {
			return nil, fmt.Errorf("auth: read audit: %w", err)
		}
		e.At, e.Detail = e.At.UTC(), json.RawMessage(detail)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auth: read audit: %w", err)
	}
	return out, nil
}
