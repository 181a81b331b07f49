package weather

import (
	"mime"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/table"
)

// ReadRoles may read weather, besides admin: analysts and the forecasts they run, billing
// (weather normalisation) and operators.
var ReadRoles = []api.Role{api.RoleAnalyst, api.RoleBilling, api.RoleOperator}

// MaxRange is the longest range of hours GET /v1/weather/{region} answers.
const MaxRange = 5 * 366 * 24 * time.Hour

// Register adds the weather routes to srv: PUT /v1/admin/weather (admin) and
// GET /v1/weather/{region}.
func (s *Store) Register(srv *api.Server) error {
	if err := srv.Handle(api.Route{
		Method: http.MethodPut, Path: "/v1/admin/weather",
		Summary: "Loads observed and forecast temperatures, replacing the values of the same region, kind, source, issue and hour.",
		Description: "The body is the weather CSV format (text/csv): a header region,valid_time,issued_at,kind,source,temperature_c " +
			"in any order, then one row per region, hour and issue. The load is stored whole or not at all; every refusal names " +
			"the column (field) and the line.",
		Roles: []api.Role{api.RoleAdmin},
		Body: &api.Body{ContentTypes: []string{"text/csv"}, Required: true, Description: "The values.",
			Example: "region,valid_time,issued_at,kind,source,temperature_c\nVIC,2026-01-07T00:00:00Z,2026-01-06T06:00:00Z,forecast,bom,25.5\nVIC,2026-01-07T00:00:00Z,,observed,bom,27.1\n"},
		Response: "The number of values stored.",
		Handler:  s.handleLoad,
	}); err != nil {
		return err
	}
	return srv.Handle(api.Route{
		Method: http.MethodGet, Path: "/v1/weather/:region",
		Summary: "Lists a region's hourly temperatures: observations, or per hour the latest forecast issued at or before issued_by.",
		Roles:   ReadRoles,
		Params: []api.Param{
			{Name: "region", In: "path", Required: true, Description: "The region, as in the meter registry."},
			{Name: "kind", In: "query", Required: true, Description: "observed or forecast."},
			{Name: "from", In: "query", Required: true, Description: "The first hour, RFC 3339."},
			{Name: "to", In: "query", Required: true, Description: "The end of the range (exclusive), RFC 3339; at most 5 years after from."},
			{Name: "issued_by", In: "query", Description: "With kind=forecast (required): the latest forecast issued at or before this time, RFC 3339."},
			{Name: "source", In: "query", Description: "Only this source; default every source (at one issue time, the greatest source name)."}},
		Response: "One row per hour that has a value (valid_time, issued_at, source, temperature_c), as JSON, CSV or Arrow; hours without one are absent.",
		Handler:  s.handleRead,
	})
}

// loadResponse is the body of a successful PUT.
type loadResponse struct {
	// Stored is the number of values stored.
	Stored int `json:"stored"`
}

func (s *Store) handleLoad(c echo.Context) error {
	if ct, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType)); ct != "text/csv" {
		return fault.Invalid("Content-Type", "%q: want text/csv", ct)
	}
	vs, err := ParseCSV(c.Request().Body)
	if err != nil {
		return err
	}
	n, err := s.Load(c.Request().Context(), vs)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, loadResponse{Stored: n})
}

func (s *Store) handleRead(c echo.Context) error {
	q := Query{Region: c.Param("region"), Source: c.QueryParam("source")}
	var err error
	if q.From, err = schema.ParseTime("from", c.QueryParam("from")); err != nil {
		return err
	}
	if q.To, err = schema.ParseTime("to", c.QueryParam("to")); err != nil {
		return err
	}
	if q.To.Sub(q.From) > MaxRange {
		return fault.Invalid("to", "the range is longer than %s", MaxRange)
	}
	var series Series
	switch kind := Kind(c.QueryParam("kind")); kind {
	case Forecast:
		by, err := schema.ParseTime("issued_by", c.QueryParam("issued_by"))
		if err != nil {
			return err
		}
		series, err = s.Forecast(c.Request().Context(), q, by)
		if err != nil {
			return err
		}
	case Observed:
		if c.QueryParam("issued_by") != "" {
			return fault.Invalid("issued_by", "observations have no issue time")
		}
		if series, err = s.Observed(c.Request().Context(), q); err != nil {
			return err
		}
	default:
		return fault.Invalid("kind", "%q: want observed or forecast", kind)
	}
	n := len(series)
	valid, issued, sources, temps := make([]time.Time, n), make([]time.Time, n), make([]string, n), make([]float64, n)
	for i, v := range series {
		valid[i], issued[i], sources[i], temps[i] = v.ValidTime, v.IssuedAt, v.Source, v.TemperatureC
	}
	return table.Respond(c, table.Result{
		Table: table.New(table.Times("valid_time", valid), table.Times("issued_at", issued),
			table.Strings("source", sources), table.Float64s("temperature_c", temps)),
		Meta: map[string]any{"region": q.Region, "kind": c.QueryParam("kind")},
	})
}
