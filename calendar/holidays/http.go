package holidays

import (
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/table"
)

// ReadRoles may read calendars, besides admin: analysts and the forecasts they run,
// billing (tariff periods by day type) and operators (remote control schedules).
var ReadRoles = []api.Role{api.RoleAnalyst, api.RoleBilling, api.RoleOperator}

// MaxDays is the longest range of dates GET /v1/calendars/{region} answers: 20 years.
const MaxDays = 20 * 366

// Register adds the calendar routes to srv: PUT /v1/admin/calendars/{region} (admin) and
// GET /v1/calendars/{region}.
func (s *Store) Register(srv *api.Server) error {
	region := api.Param{Name: "region", In: "path", Required: true, Description: "The region, as in the meter registry."}
	if err := srv.Handle(api.Route{
		Method: http.MethodPut, Path: "/v1/admin/calendars/:region",
		Summary: "Loads holidays, special days and substituted working days of a region, replacing the entries of the same dates.",
		Description: "The body is the calendar CSV format (text/csv: header region,date,kind,name) or a JSON array of " +
			"{region, date, kind, name} (application/json; region may be left out). kind is holiday, special or working " +
			"(a Saturday or Sunday that is worked; on a weekday it cancels an earlier entry). Every row must be of the " +
			"path's region. The load is stored whole or not at all.",
		Roles:  []api.Role{api.RoleAdmin},
		Params: []api.Param{region},
		Body: &api.Body{ContentTypes: []string{"text/csv", "application/json"}, Required: true,
			Description: "The entries.",
			Example:     "region,date,kind,name\nCN,2026-02-14,working,Spring Festival swap\nCN,2026-02-17,holiday,Spring Festival\n"},
		Response: "The number of entries stored.",
		Handler:  s.handleLoad,
	}); err != nil {
		return err
	}
	return srv.Handle(api.Route{
		Method: http.MethodGet, Path: "/v1/calendars/:region",
		Summary: "Lists every date of a range with its kind of day in a region: working, weekend, holiday, special or substituted_working.",
		Roles:   ReadRoles,
		Params: []api.Param{region,
			{Name: "from", In: "query", Required: true, Description: "The first date, YYYY-MM-DD."},
			{Name: "to", In: "query", Required: true, Description: "The date after the last, YYYY-MM-DD; at most 7320 days after from."}},
		Response: "One row per date (date, kind, name), as JSON, CSV or Arrow by the Accept header.",
		Handler:  s.handleDays,
	})
}

// loadResponse is the body of a successful PUT.
type loadResponse struct {
	// Region is the region loaded.
	Region string `json:"region"`
	// Stored is the number of entries stored.
	Stored int `json:"stored"`
}

func (s *Store) handleLoad(c echo.Context) error {
	region := c.Param("region")
	if err := schema.CheckRegion("region", region); err != nil {
		return err
	}
	ct, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	var parse func(io.Reader, string) ([]Entry, error)
	switch ct {
	case "text/csv":
		parse = ParseCSV
	case "application/json":
		parse = ParseJSON
	default:
		return fault.Invalid("Content-Type", "%q: want text/csv or application/json", ct)
	}
	es, err := parse(c.Request().Body, region)
	if err != nil {
		return err
	}
	n, err := s.Load(c.Request().Context(), es, "api")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, loadResponse{Region: region, Stored: n})
}

func (s *Store) handleDays(c echo.Context) error {
	region := c.Param("region")
	if err := schema.CheckRegion("region", region); err != nil {
		return err
	}
	from, err := ParseDate("from", c.QueryParam("from"))
	if err != nil {
		return err
	}
	to, err := ParseDate("to", c.QueryParam("to"))
	if err != nil {
		return err
	}
	if !from.Before(to) {
		return fault.Invalid("to", "%s is not after from", c.QueryParam("to"))
	}
	if to.Sub(from) > MaxDays*24*time.Hour {
		return fault.Invalid("to", "the range is longer than %d days", MaxDays)
	}
	days, err := s.Days(c.Request().Context(), region, from, to)
	if err != nil {
		return err
	}
	var dates, kinds, names []string
	for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
		dates = append(dates, d.Format(time.DateOnly))
		kinds = append(kinds, string(days.Kind(d)))
		names = append(names, days.Name(d))
	}
	return table.Respond(c, table.Result{
		Table: table.New(table.Strings("date", dates), table.Strings("kind", kinds), table.Strings("name", names)),
		Meta:  map[string]any{"region": region},
	})
}
