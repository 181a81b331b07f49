package job

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/query/consumption"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/table"
)

// MaxHorizon is the largest horizon a forecast request may ask for.
const MaxHorizon = 72 * time.Hour

// Register adds the forecast routes to srv, for analysts (and admin): the latest forecast
// of a meter, a group and the fleet, and forecast accuracy over time.
func (s *Store) Register(srv *api.Server) error {
	formats := "Output by Accept: application/json (default), text/csv or application/vnd.apache.arrow.stream."
	forecastParams := []api.Param{
		{Name: "issued", In: "query", Description: "RFC 3339: the forecast issued last at or before this time; default now, the latest."},
		{Name: "horizon", In: "query", Description: "A duration like 24h or 38h, positive and at most 72h: only the hours starting before the issue time plus it; default every hour."},
	}
	forecastDesc := "Rows time (UTC start of the hour) and wh (forecast energy). The JSON body also carries scope, id, issued, start, " +
		"method (model, sum, group-model or a baseline with its reason), model_version, scale and unit. 404 when no forecast was issued by then. " + formats
	routes := []api.Route{
		{Method: http.MethodGet, Path: "/v1/meters/:meter_id/forecast",
			Summary:     "A meter's day-ahead load forecast, per hour.",
			Description: forecastDesc,
			Params:      append([]api.Param{{Name: "meter_id", In: "path", Required: true, Description: "Meter id."}}, forecastParams...),
			Handler:     s.handleForecast},
		{Method: http.MethodGet, Path: "/v1/groups/:kind/:group_id/forecast",
			Summary:     "A group's day-ahead load forecast, per hour.",
			Description: forecastDesc,
			Params: append([]api.Param{
				{Name: "kind", In: "path", Required: true, Description: "Group kind: feeder, region, customer_class, tariff or fleet."},
				{Name: "group_id", In: "path", Required: true, Description: "Group id, like a feeder name; the fleet's id is all."},
			}, forecastParams...),
			Handler: s.handleForecast},
		{Method: http.MethodGet, Path: "/v1/fleet/forecast",
			Summary:     "The whole fleet's day-ahead load forecast, per hour.",
			Description: "The forecast of group fleet/all. " + forecastDesc,
			Params:      forecastParams,
			Handler:     s.handleForecast},
		{Method: http.MethodGet, Path: "/v1/forecast/accuracy",
			Summary: "Forecast against actual over a range of issues: per issue of one series, or summarised over every series of a scope.",
			Description: "Measured on the target hours whose validated consumption is complete. With id: one row per issue, " +
				"issued, start, hours, actual_wh, forecast_wh, mae, rmse, mape, bias, mase, method, model_version. " +
				"Without id: one row per issue over the scope's series, issued, series, median_mae, mean_mae, median_mase, " +
				"mean_mase, mean_bias, hours, so that drift shows. Measures that are undefined (no positive actual, no naive MAE) are null. " + formats,
			Params: []api.Param{
				{Name: "scope", In: "query", Required: true, Description: "meter, feeder, region, customer_class, tariff or fleet."},
				{Name: "id", In: "query", Description: "Meter or group id; without it, the summary over every series of the scope."},
				{Name: "from", In: "query", Required: true, Description: "Start of the range of issue times, RFC 3339."},
				{Name: "to", In: "query", Required: true, Description: "End of the range of issue times (exclusive), RFC 3339; at most 366 days after from."},
			},
			Handler: s.handleAccuracy},
	}
	for _, r := range routes {
		r.Roles = []api.Role{api.RoleAnalyst}
		r.Response = "The rows, in the format the Accept header chooses."
		if err := srv.Handle(r); err != nil {
			return err
		}
	}
	return nil
}

// seriesFromPath reads the series of /v1/meters/:meter_id/…, /v1/groups/:kind/:group_id/…
// or /v1/fleet/….
func seriesFromPath(c echo.Context) (string, string, error) {
	names := c.ParamNames()
	switch {
	case slices.Contains(names, "meter_id"):
		id := c.Param("meter_id")
		return ScopeMeter, id, CheckSeries("scope", ScopeMeter, "meter_id", id)
	case slices.Contains(names, "kind"):
		k, err := schema.ParseGroupKind(c.Param("kind"))
		if err != nil {
			return "", "", fault.Invalid("kind", "%v", err)
		}
		id := c.Param("group_id")
		return string(k), id, schema.CheckGroupID("group_id", k, id)
	}
	return string(schema.KindFleet), schema.FleetID, nil
}

func (s *Store) handleForecast(c echo.Context) error {
	scope, id, err := seriesFromPath(c)
	if err != nil {
		return err
	}
	issuedBy := s.now().UTC()
	if v := c.QueryParam("issued"); v != "" {
		if issuedBy, err = schema.ParseTime("issued", v); err != nil {
			return err
		}
	}
	var horizon time.Duration
	if v := c.QueryParam("horizon"); v != "" {
		if horizon, err = time.ParseDuration(v); err != nil || horizon <= 0 || horizon > MaxHorizon {
			return fault.Invalid("horizon", "%q is not a positive duration of at most %s, like 24h or 38h", v, MaxHorizon)
		}
	}
	f, err := table.Accepted(c)
	if err != nil {
		return err
	}
	fc, ok, err := s.Forecast(c.Request().Context(), scope, id, issuedBy)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no forecast of %s %q was issued at or before %s: %w", scope, id, issuedBy.Format(time.RFC3339), fault.ErrNotFound)
	}
	times, wh := table.Times("time", make([]time.Time, 0, len(fc.Wh))), table.Float64s("wh", make([]float64, 0, len(fc.Wh)))
	for i, v := range fc.Wh {
		t := fc.Start.Add(time.Duration(i) * time.Hour)
		if horizon > 0 && !t.Before(fc.Issued.Add(horizon)) {
			break
		}
		times.Append(t)
		wh.Append(v)
	}
	return table.RespondAs(c, f, table.Result{Table: table.New(times, wh), Meta: map[string]any{
		"scope": scope, "id": id, "issued": fc.Issued.Format(time.RFC3339), "start": fc.Start.Format(time.RFC3339),
		"method": fc.Method, "model_version": fc.ModelVersion, "scale": fc.Scale, "unit": "Wh",
	}})
}

func (s *Store) handleAccuracy(c echo.Context) error {
	scope, id := c.QueryParam("scope"), c.QueryParam("id")
	if scope == "" {
		return fault.Invalid("scope", "is required: meter, feeder, region, customer_class, tariff or fleet")
	}
	from, err := consumption.TimeParam(c, "from")
	if err != nil {
		return err
	}
	to, err := consumption.TimeParam(c, "to")
	if err != nil {
		return err
	}
	f, err := table.Accepted(c)
	if err != nil {
		return err
	}
	meta := map[string]any{"scope": scope, "from": from.Format(time.RFC3339), "to": to.Format(time.RFC3339), "unit": "Wh"}
	var tbl *table.Table
	if id != "" {
		meta["id"] = id
		tbl, err = s.Accuracy(c.Request().Context(), scope, id, from, to)
	} else {
		tbl, err = s.AccuracySummary(c.Request().Context(), scope, from, to)
	}
	if err != nil {
		return err
	}
	return table.RespondAs(c, f, table.Result{Table: tbl, Meta: meta})
}
