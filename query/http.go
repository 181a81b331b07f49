package query

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/schema"
)

// Register adds the query routes to srv.
func (s *Service) Register(srv *api.Server) error {
	return srv.Handle(api.Route{
		Method: http.MethodGet, Path: "/v1/meters/:meter_id/consumption",
		Summary: "A meter's consumption per interval, as register differences in Wh.",
		Roles:   []api.Role{api.RoleAnalyst, api.RoleBilling},
		Params: []api.Param{
			{Name: "meter_id", In: "path", Required: true, Description: "Meter id."},
			{Name: "from", In: "query", Required: true, Description: "Start of the range, RFC 3339; rounded down to a whole step."},
			{Name: "to", In: "query", Required: true, Description: "End of the range (exclusive), RFC 3339; rounded up to a whole step."},
			{Name: "step", In: "query", Description: "Interval length: 15m, 1h (default) or 1d."},
		},
		Handler: s.handleConsumption,
	})
}

func (s *Service) handleConsumption(c echo.Context) error {
	id := c.Param("meter_id")
	if !schema.ValidMeterID([]byte(id)) {
		return api.Invalid("meter_id", "%q is not 1-64 characters of A-Z a-z 0-9 . _ : -", id)
	}
	from, err := timeParam(c, "from")
	if err != nil {
		return err
	}
	to, err := timeParam(c, "to")
	if err != nil {
		return err
	}
	step := Step1h
	if v := c.QueryParam("step"); v != "" {
		if step, err = ParseStep(v); err != nil {
			return api.Invalid("step", "%v", err)
		}
	}
	res, err := s.MeterConsumption(c.Request().Context(), id, from, to, step)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// timeParam reads a required RFC 3339 query parameter.
func timeParam(c echo.Context, name string) (time.Time, error) {
	v := c.QueryParam(name)
	if v == "" {
		return time.Time{}, api.Invalid(name, "is required (RFC 3339, like 2026-01-01T00:00:00Z)")
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, api.Invalid(name, "%q is not an RFC 3339 time like 2026-01-01T00:00:00Z", v)
	}
	return t, nil
}
