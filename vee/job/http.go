package job

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/table"
)

// EditRoles may edit consumption, besides admin: the edit permission is a role of its own,
// granted to analysts who may edit (a token with roles analyst and editor), and every edit
// names its author.
var EditRoles = []api.Role{api.RoleEditor}

// Register adds the editing routes to srv.
func (j *Job) Register(srv *api.Server) error {
	meter := api.Param{Name: "meter_id", In: "path", Required: true, Description: "Meter id."}
	if err := srv.Handle(api.Route{
		Method: http.MethodPost, Path: "/v1/meters/:meter_id/edits",
		Summary: "Overrides a meter's validated consumption over a range of 15-minute intervals, with a reason.",
		Description: "The edit is stored with its author, time, reason and the validated total it replaced (previous_wh), " +
			"and the affected days are recomputed at once. The readings are never changed. Mode each gives every " +
			"interval the value wh; mode spread splits wh over the range.",
		Roles:  EditRoles,
		Params: []api.Param{meter},
		Body: &api.Body{ContentTypes: []string{"application/json"}, Required: true,
			Description: "start (RFC 3339, on the 15-minute grid), end (exclusive; default start + 15m), wh, mode (each or spread), reason.",
			Example:     map[string]any{"start": "2026-01-01T10:00:00Z", "end": "2026-01-01T11:00:00Z", "wh": 250, "mode": "each", "reason": "meter exchange, value from the old meter's display"}},
		Status:   http.StatusCreated,
		Response: "The stored edit, and whether the recomputation succeeded.",
		Handler:  j.handleAddEdit,
	}); err != nil {
		return err
	}
	return srv.Handle(api.Route{
		Method: http.MethodGet, Path: "/v1/meters/:meter_id/edits",
		Summary: "Lists the manual edits of a meter's consumption: the audit trail, with the values they replaced.",
		Roles:   []api.Role{api.RoleAnalyst, api.RoleBilling},
		Params: []api.Param{meter,
			{Name: "from", In: "query", Description: "Only edits ending after this time, RFC 3339."},
			{Name: "to", In: "query", Description: "Only edits starting before this time, RFC 3339."}},
		Response: "One row per edit, oldest first, as JSON, CSV or Arrow by the Accept header.",
		Handler:  j.handleEdits,
	})
}

// editResponse is the body of a successful POST.
type editResponse struct {
	Edit
	// Recomputed reports whether the affected days were recomputed; when false, the next
	// run of the job applies the edit.
	Recomputed bool `json:"recomputed"`
}

func (j *Job) handleAddEdit(c echo.Context) error {
	id, err := meterParam(c)
	if err != nil {
		return err
	}
	p, ok := api.PrincipalFrom(c.Request().Context())
	if !ok {
		return fmt.Errorf("%w: an edit needs an authenticated author", fault.ErrUnauthenticated)
	}
	var req EditRequest
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return fault.Invalid("body", "not a JSON edit (start, end, wh, mode, reason): %v", err)
	}
	e, recomputed, err := j.AddEdit(c.Request().Context(), id, p.Name, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, editResponse{Edit: e, Recomputed: recomputed})
}

func (j *Job) handleEdits(c echo.Context) error {
	id, err := meterParam(c)
	if err != nil {
		return err
	}
	from, to := schema.MinDateTime, schema.LatestTime
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := c.QueryParam(p.name); v != "" {
			t, err := schema.ParseTime(p.name, v)
			if err != nil {
				return err
			}
			*p.dst = t
		}
	}
	es, err := j.Edits(c.Request().Context(), id, from, to)
	if err != nil {
		return err
	}
	n := len(es)
	ids, modes, reasons, authors := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	starts, ends, created := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	whs, prev := make([]int64, n), make([]int64, n)
	for i, e := range es {
		ids[i], modes[i], reasons[i], authors[i] = e.ID, e.Mode, e.Reason, e.Author
		starts[i], ends[i], created[i] = e.Start, e.End, e.CreatedAt
		whs[i], prev[i] = e.Wh, e.PreviousWh
	}
	return table.Respond(c, table.Result{
		Table: table.New(
			table.Strings("edit_id", ids), table.Times("start", starts), table.Times("end", ends),
			table.Int64s("wh", whs), table.Strings("mode", modes), table.Strings("reason", reasons),
			table.Strings("author", authors), table.Int64s("previous_wh", prev),
			table.Times("created_at", created)),
		Meta: map[string]any{"meter_id": id},
	})
}

func meterParam(c echo.Context) (string, error) {
	id := c.Param("meter_id")
	if !schema.ValidMeterID([]byte(id)) {
		return "", fault.Invalid("meter_id", "%q is not 1-64 characters of A-Z a-z 0-9 . _ : -", id)
	}
	return id, nil
}
