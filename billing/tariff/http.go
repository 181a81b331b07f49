package tariff

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/table"
)

// WriteRoles may load tariffs, besides admin.
var WriteRoles = []api.Role{api.RoleBilling}

// ReadRoles may read tariffs, besides admin.
var ReadRoles = []api.Role{api.RoleBilling, api.RoleAnalyst}

// Register adds the tariff routes to srv: PUT /v1/admin/tariffs/{id} (billing), GET
// /v1/tariffs/{id} and GET /v1/tariffs (billing, analyst).
func (s *Store) Register(srv *api.Server) error {
	id := api.Param{Name: "id", In: "path", Required: true, Description: "The tariff's id, 1-64 characters of A-Z a-z 0-9 . _ : -."}
	if err := srv.Handle(api.Route{
		Method: http.MethodPut, Path: "/v1/admin/tariffs/:id",
		Summary: "Loads a version of a tariff: a tariff document, YAML or JSON, validated before it is stored.",
		Description: "The body is a tariff document (see the README's Tariffs section), YAML or JSON whatever the Content-Type. " +
			"Its id must be the path's. A document that fails validation is a 400 whose field is the path of the offending " +
			"field (energy.tou.periods[2].hours[0]). Loading the same id and effective_from again supersedes the earlier " +
			"load; every load is kept.",
		Roles:  WriteRoles,
		Params: []api.Param{id},
		Body: &api.Body{ContentTypes: []string{"application/yaml", "application/json"}, Required: true,
			Description: "The tariff document.",
			Example:     "id: FLAT-1\neffective_from: 2026-01-01\ntime_zone: Europe/Berlin\ncurrency: EUR\nenergy: {rate: 0.3124}\n"},
		Response: "The version stored: id, name, effective_from, effective_to, loaded_at.",
		Handler:  s.handleLoad,
	}); err != nil {
		return err
	}
	if err := srv.Handle(api.Route{
		Method: http.MethodGet, Path: "/v1/tariffs/:id",
		Summary: "Returns the version of a tariff in force at a date or instant, as its JSON document.",
		Roles:   ReadRoles,
		Params: []api.Param{id,
			{Name: "at", In: "query", Description: "A local date YYYY-MM-DD in the tariff's time zone, or an RFC 3339 instant; now when left out."}},
		Response: "The tariff document (decimals as exact JSON numbers); 404 when no version is in force.",
		Handler:  s.handleGet,
	}); err != nil {
		return err
	}
	return srv.Handle(api.Route{
		Method: http.MethodGet, Path: "/v1/tariffs",
		Summary:  "Lists every tariff's versions: id, name, effective_from, effective_to (empty when open-ended), loaded_at.",
		Roles:    ReadRoles,
		Response: "One row per version, as JSON, CSV or Arrow by the Accept header.",
		Handler:  s.handleList,
	})
}

func (s *Store) handleLoad(c echo.Context) error {
	id := c.Param("id")
	if err := checkID(id); err != nil {
		return err
	}
	d, err := Parse(c.Request().Body)
	if err != nil {
		return err
	}
	if d.ID != id {
		return fault.Invalid("id", "the document's id %q is not the path's %q", d.ID, id)
	}
	v, err := s.Load(c.Request().Context(), d)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Store) handleGet(c echo.Context) error {
	id := c.Param("id")
	if err := checkID(id); err != nil {
		return err
	}
	var (
		d   *Document
		err error
	)
	at := c.QueryParam("at")
	switch {
	case at == "":
		d, err = s.Get(c.Request().Context(), id, s.now())
	case len(at) == len(time.DateOnly):
		date, perr := ParseDate(at)
		if perr != nil {
			return fault.Invalid("at", "%v", perr)
		}
		d, err = s.GetOn(c.Request().Context(), id, date)
	default:
		t, perr := time.Parse(time.RFC3339, at)
		if perr != nil {
			return fault.Invalid("at", "%q: want YYYY-MM-DD or an RFC 3339 time", at)
		}
		d, err = s.Get(c.Request().Context(), id, t)
	}
	if err != nil {
		return err
	}
	b, err := d.JSON()
	if err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, b)
}

func (s *Store) handleList(c echo.Context) error {
	vs, err := s.List(c.Request().Context())
	if err != nil {
		return err
	}
	var ids, names, tos []string
	var froms, loaded []time.Time
	for _, v := range vs {
		ids, names = append(ids, v.ID), append(names, v.Name)
		froms, loaded = append(froms, v.EffectiveFrom.UTC()), append(loaded, v.LoadedAt)
		to := ""
		if v.EffectiveTo != nil {
			to = v.EffectiveTo.String()
		}
		tos = append(tos, to)
	}
	return table.Respond(c, table.Result{Table: table.New(
		table.Strings("id", ids), table.Strings("name", names), table.Dates("effective_from", froms),
		table.Strings("effective_to", tos), table.Times("loaded_at", loaded))})
}

// checkID checks a tariff id given outside a document (a path, a query).
func checkID(id string) error { return (&Document{ID: id}).checkID() }
