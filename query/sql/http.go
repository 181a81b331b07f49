package sql

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/table"
)

// Register adds POST /v1/sql to srv.
func (q *Endpoint) Register(srv *api.Server) error {
	return srv.Handle(api.Route{
		Method: http.MethodPost, Path: "/v1/sql",
		Summary: "Runs one read-only SQL statement against the platform database, with limits on time, memory, rows read and result size.",
		Roles:   []api.Role{api.RoleAnalyst},
		Description: "Allowed: SELECT, WITH … SELECT, DESCRIBE and SHOW TABLES over the platform database; refused, with a message naming what: writes, SET, SETTINGS and FORMAT clauses, INTO OUTFILE, several statements, other databases, system tables other than a few harmless ones, and table functions that reach files, networks or other servers. " +
			"Limits (config section sql) stop a query with 422; more queries at once than sql.max_concurrent, or than sql.max_concurrent_per_principal for one principal, get 429 with Retry-After. " +
			"Output by Accept: application/json (default), text/csv or application/vnd.apache.arrow.stream.",
		Body: &api.Body{
			ContentTypes: []string{"text/plain", "application/json"},
			Description:  "The SQL text as the body, or {\"query\": \"…\"} with Content-Type application/json.",
			Required:     true,
			Example:      "SELECT meter_id, sum(wh) AS wh FROM consumption FINAL WHERE resolution = '1d' GROUP BY meter_id ORDER BY wh DESC LIMIT 10",
		},
		Response: "The result rows, in the format the Accept header chooses.",
		Handler:  q.handle,
	})
}

func (q *Endpoint) handle(c echo.Context) error {
	// Refuse an unusable Accept before running anything.
	f, err := table.Accepted(c)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, int64(q.cfg.MaxQueryBytes)+1))
	if err != nil {
		return fmt.Errorf("read sql body: %w", err)
	}
	if len(body) > q.cfg.MaxQueryBytes {
		return fault.Invalid("query", "is longer than %d bytes", q.cfg.MaxQueryBytes)
	}
	text := string(body)
	if ct := c.Request().Header.Get(echo.HeaderContentType); strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
		var req struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return fault.Invalid("query", "the JSON body is not {\"query\": \"…\"}: %v", err)
		}
		text = req.Query
	}
	stmt, err := q.guard.Check(text)
	if err != nil {
		return err
	}
	// The slot is held until the response is written: the result stays in memory until
	// then, so the limit bounds the results held at once too.
	p, _ := api.PrincipalFrom(c.Request().Context())
	release, err := q.acquire(p.Name)
	if err != nil {
		return err
	}
	defer release()
	tbl, err := q.query(c.Request().Context(), stmt)
	if err != nil {
		return err
	}
	return table.RespondAs(c, f, table.Result{Table: tbl})
}
