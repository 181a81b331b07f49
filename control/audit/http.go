package audit

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/meterhouse/meterhouse/api"
)

// Register adds the admin-only route GET /v1/admin/audit/verify to srv.
func (l *Log) Register(srv *api.Server) error {
	return srv.Handle(api.Route{
		Method: http.MethodGet, Path: "/v1/admin/audit/verify", Roles: []api.Role{api.RoleAdmin},
		Summary: "Verifies the remote-control audit log's hash chain against its latest anchors.",
		Description: "Reads the whole log in sequence order. ok is false when an entry was edited, reordered, removed or " +
			"duplicated, or when entries an anchor names were cut off the end; problems then says which entry (seq) and what is wrong. " +
			"kind is one of missing, edited, reordered, duplicate, chain_broken, anchor_mismatch, truncated.",
		Response: `{"ok": bool, "head": {"log", "seq", "hash", "at"}, "entries": n, "anchors": n, "anchor": {latest anchor}, ` +
			`"problems": [{"seq", "kind", "detail"}], "omitted": n}`,
		Handler: l.handleVerify,
	})
}

// verifyBody is the route's answer: the report and whether it is OK.
type verifyBody struct {
	OK bool `json:"ok"`
	Report
}

func (l *Log) handleVerify(c echo.Context) error {
	rep, err := l.Verify(c.Request().Context())
	if err != nil {
		return err
	}
	if rep.Problems == nil {
		rep.Problems = []Problem{}
	}
	return c.JSON(http.StatusOK, verifyBody{OK: rep.OK(), Report: rep})
}
