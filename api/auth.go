package api

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/meterhouse/meterhouse/fault"
)

// Role names a set of permissions a principal can hold.
type Role string

// The roles of Meterhouse. Admin may use every route.
const (
	RoleAdmin      Role = "admin"      // manage tokens and everything else
	RoleAnalyst    Role = "analyst"    // read consumption and run analyst SQL
	RoleEditor     Role = "editor"     // edit validated consumption (the analyst's edit permission)
	RoleIngest     Role = "ingest"     // write readings
	RoleBilling    Role = "billing"    // run and read bills
	RoleOperator   Role = "operator"   // request remote commands
	RoleSupervisor Role = "supervisor" // approve remote commands
)

// Roles returns every role, admin first.
func Roles() []Role {
	return []Role{RoleAdmin, RoleAnalyst, RoleEditor, RoleIngest, RoleBilling, RoleOperator, RoleSupervisor}
}

// ParseRole returns the role named exactly s (" admin" is no role), or a fault.FieldError on
// field "role" whose message names every role of Roles, so that no list of roles is ever
// written by hand. Callers that know the field's real name re-wrap the message.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if slices.Contains(Roles(), r) {
		return r, nil
	}
	shown := s
	if len(shown) > maxRoleEcho {
		shown = shown[:maxRoleEcho] + "…"
	}
	return "", fault.Invalid("role", "unknown role %q (want one of %s)", shown, RoleList())
}

// maxRoleEcho bounds how much of an unknown role's text an error message repeats.
const maxRoleEcho = 32

// RoleList names every role of Roles, comma-separated, for messages and usage texts.
func RoleList() string { return joinRoles(Roles()) }

func joinRoles(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// Principal is who a request acts for: the holder of an API token.
type Principal struct {
	// Name identifies the principal (a person or a system such as the DAS) in logs and
	// audit trails.
	Name string `json:"name"`
	// TokenID is the public id of the token the request carried.
	TokenID string `json:"token_id"`
	// Roles are the roles the token grants.
	Roles []Role `json:"roles"`
}

// Has reports whether p holds role r.
func (p Principal) Has(r Role) bool { return slices.Contains(p.Roles, r) }

// Allowed reports whether p may use a route open to roles: admin may use every route,
// others need one of roles.
func (p Principal) Allowed(roles []Role) bool {
	if p.Has(RoleAdmin) {
		return true
	}
	return slices.ContainsFunc(roles, p.Has)
}

// String names the principal and its token for logs and audit records.
func (p Principal) String() string { return p.Name + " (token " + p.TokenID + ")" }

// Authenticator turns the bearer token of a request into its principal. It returns an
// error wrapping fault.ErrUnauthenticated for a token that is unknown, revoked or expired; any
// other error means it could not decide (the request gets a 503).
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Principal, error)
}

type principalKey struct{}

// WithPrincipal returns a copy of ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal of an authorized request's context. Handlers of
// non-public routes can rely on it being present.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// authorize returns the middleware of a non-public route: it authenticates the bearer
// token and checks the principal's roles against the route's, then hands the request on
// with the principal in its context. Without an Authenticator every request is refused.
func (s *Server) authorize(r Route) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			token, ok := bearer(c.Request().Header.Get(echo.HeaderAuthorization))
			if !ok {
				return fmt.Errorf("%w: no bearer token; send the header Authorization: Bearer followed by an API token", fault.ErrUnauthenticated)
			}
			if s.auth == nil {
				return fmt.Errorf("%w: this server has no token store", fault.ErrUnauthenticated)
			}
			p, err := s.auth.Authenticate(c.Request().Context(), token)
			if err != nil {
				return err
			}
			if !p.Allowed(r.Roles) {
				s.log.Info("forbidden", "principal", p.String(), "method", r.Method, "route", r.Path)
				return fmt.Errorf("%w: %s may not use %s %s (it needs one of: %s)",
					fault.ErrForbidden, p.Name, r.Method, r.Path, joinRoles(append([]Role{RoleAdmin}, r.Roles...)))
			}
			c.Set(principalContextKey, p)
			c.SetRequest(c.Request().WithContext(WithPrincipal(c.Request().Context(), p)))
			return next(c)
		}
	}
}

// principalContextKey stores the principal in the Echo context, for the access log.
const principalContextKey = "meterhouse.principal"

// bearer extracts the token of an "Authorization: Bearer <token>" header value.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
