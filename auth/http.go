package auth

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/fault"
)

// Register adds the admin-only token and audit routes to srv.
func (s *Store) Register(srv *api.Server) error {
	admin := []api.Role{api.RoleAdmin}
	idParam := api.Param{Name: "token_id", In: "path", Required: true, Description: "The token's public id."}
	for _, r := range []api.Route{
		{
			Method: http.MethodPost, Path: "/v1/admin/tokens", Roles: admin,
			Summary:     "Issues an API token; its text is in the response and is never shown again.",
			Description: "The token's lifetime is ttl (like 720h), the configured auth.token_ttl when empty, or none with \"never\".",
			Body: &api.Body{ContentTypes: []string{"application/json"}, Required: true,
				Description: `{"name": principal, "roles": [role, …], "ttl": "720h" | "never" (optional)}`,
				Example:     map[string]any{"name": "das-north", "roles": []string{"ingest"}, "ttl": "2160h"}},
			Status: http.StatusCreated, Response: `{"token": "mh_…", plus the token's record}`,
			Handler: s.handleCreate,
		},
		{
			Method: http.MethodGet, Path: "/v1/admin/tokens", Roles: admin,
			Summary:  "Lists every token ever issued, newest first, without their texts.",
			Response: `{"tokens": [token records with status active, expired or revoked]}`,
			Handler:  s.handleList,
		},
		{
			Method: http.MethodGet, Path: "/v1/admin/tokens/:token_id", Roles: admin,
			Summary: "Shows one token's record.", Params: []api.Param{idParam},
			Handler: s.handleGet,
		},
		{
			Method: http.MethodDelete, Path: "/v1/admin/tokens/:token_id", Roles: admin,
			Summary:  "Revokes a token; 409 if it already was.",
			Params:   []api.Param{idParam},
			Response: "The revoked token's record.",
			Handler:  s.handleRevoke,
		},
		{
			Method: http.MethodGet, Path: "/v1/admin/audit", Roles: admin,
			Summary: "The administration audit trail (token creations and revocations), newest first.",
			Params: []api.Param{{Name: "limit", In: "query", Type: "integer",
				Description: "Most records to return: 1-10000, default 100."}},
			Response: `{"entries": [{"at", "event_id", "actor", "action", "target", "detail"}]}`,
			Handler:  s.handleAudit,
		},
	} {
		if err := srv.Handle(r); err != nil {
			return err
		}
	}
	return nil
}

// actor names the principal of an authorized request for the audit trail.
func actor(c echo.Context) string {
	if p, ok := api.PrincipalFrom(c.Request().Context()); ok {
		return "api:" + p.String()
	}
	return "api:unknown"
}

// Created is the body of a token creation's response: the only place the token's text
// ever appears, next to its record.
type Created struct {
	// Secret is the token's text, sent as "Authorization: Bearer <token>".
	Secret string `json:"token"`
	Token
}

func (s *Store) handleCreate(c echo.Context) error {
	var req NewToken
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return echo.ErrStatusRequestEntityTooLarge
		}
		if errors.Is(err, io.EOF) {
			return fault.Invalid("body", "a JSON object with name and roles is required")
		}
		return fault.Invalid("body", "not a token request: %v", err)
	}
	secret, t, err := s.Create(c.Request().Context(), actor(c), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, Created{Secret: secret, Token: t})
}

func (s *Store) handleList(c echo.Context) error {
	ts, err := s.List(c.Request().Context())
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []Token{}
	}
	return c.JSON(http.StatusOK, map[string]any{"tokens": ts})
}

func (s *Store) handleGet(c echo.Context) error {
	t, err := s.Get(c.Request().Context(), c.Param("token_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, t)
}

func (s *Store) handleRevoke(c echo.Context) error {
	t, err := s.Revoke(c.Request().Context(), actor(c), c.Param("token_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, t)
}

func (s *Store) handleAudit(c echo.Context) error {
	limit := 100
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return fault.Invalid("limit", "%q: want an integer from 1 to 10000", v)
		}
		limit = n
	}
	es, err := s.Audit(c.Request().Context(), limit)
	if err != nil {
		return err
	}
	if es == nil {
		es = []AuditEntry{}
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": es})
}
