package analytics

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/query/consumption"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/table"
)

// Register adds the group and fleet load curves, the top consumers, the average
// daily profiles and the data-quality summaries to srv, for analysts (and admin).
func (s *Service) Register(srv *api.Server) error {
	rangeParams := []api.Param{
		{Name: "from", In: "query", Required: true, Description: "Start of the range, RFC 3339."},
		{Name: "to", In: "query", Required: true, Description: "End of the range (exclusive), RFC 3339."},
	}
	groupParams := []api.Param{
		{Name: "kind", In: "path", Required: true, Description: "Group kind: feeder, region, customer_class, tariff or fleet."},
		{Name: "id", In: "path", Required: true, Description: "Group id, like a feeder name; the fleet's id is all."},
	}
	stepParam := api.Param{Name: "step", In: "query", Description: "Interval length: 15m, 1h (default) or 1d (UTC days); from is rounded down and to up to whole steps."}
	profileParams := []api.Param{
		{Name: "tz", In: "query", Description: "IANA time zone whose wall clock the slots follow; default the meter's registry zone (UTC for groups)."},
		{Name: "step", In: "query", Description: "Slot length: 15m (default) or 1h."},
	}
	formats := "Output by Accept: application/json (default), text/csv or application/vnd.apache.arrow.stream."
	routes := []api.Route{
		{Method: http.MethodGet, Path: "/v1/groups/:kind/:id/load",
			Summary:     "A group's validated load curve: energy per interval summed over its meters.",
			Description: "Reads group_consumption. Columns start, wh, meters, intervals, expected_intervals, estimated, questionable, completeness. " + formats,
			Params:      append(append(slices.Clone(groupParams), rangeParams...), stepParam),
			Handler:     s.handleGroupLoad},
		{Method: http.MethodGet, Path: "/v1/fleet/load",
			Summary:     "The whole fleet's validated load curve.",
			Description: "The load curve of group fleet/all. " + formats,
			Params:      append(slices.Clone(rangeParams), stepParam),
			Handler:     s.handleGroupLoad},
		{Method: http.MethodGet, Path: "/v1/top-consumers",
			Summary:     "The n meters or groups that consumed the most energy in a period.",
			Description: "Sums hourly validated consumption over [from, to) rounded to whole UTC hours. Columns rank, id, wh, intervals, expected_intervals. " + formats,
			Params: append(slices.Clone(rangeParams),
				api.Param{Name: "n", In: "query", Type: "integer", Description: "How many, 1 to 10000; default 10."},
				api.Param{Name: "kind", In: "query", Description: "meter (default), feeder, region, customer_class or tariff."}),
			Handler: s.handleTopConsumers},
		{Method: http.MethodGet, Path: "/v1/meters/:meter_id/profile",
			Summary:     "A meter's average daily load profile by local time of day.",
			Description: "For each wall-clock slot: the energy of the slot summed over the days that have it, divided by those days (a 23-hour day has no 02:00 slot, a 25-hour day counts its repeated hour in one slot). Columns slot, minute_of_day, avg_wh, wh, days. " + formats,
			Params: append(append([]api.Param{{Name: "meter_id", In: "path", Required: true, Description: "Meter id."}},
				rangeParams...), profileParams...),
			Handler: s.handleMeterProfile},
		{Method: http.MethodGet, Path: "/v1/groups/:kind/:id/profile",
			Summary:     "A group's average daily load profile by local time of day.",
			Description: "As the meter profile, over group_consumption. " + formats,
			Params:      append(append(slices.Clone(groupParams), rangeParams...), profileParams...),
			Handler:     s.handleGroupProfile},
		{Method: http.MethodGet, Path: "/v1/quality",
			Summary:     "Data quality per meter of a group, a page at a time, with the group's totals.",
			Description: "Counts over [from, to) rounded to whole UTC hours: intervals measured, expected, estimated, edited, questionable, hours flagged and the rules raised. The JSON body carries the group's totals; the next page's cursor is in next_cursor and the X-Next-Cursor header. " + formats,
			Params: append(slices.Clone(rangeParams),
				api.Param{Name: "group_kind", In: "query", Description: "feeder, region, customer_class, tariff or fleet (default)."},
				api.Param{Name: "group_id", In: "query", Description: "Group id; required unless group_kind is fleet."},
				api.Param{Name: "limit", In: "query", Type: "integer", Description: "Meters per page, 1 to 1000; default 100."},
				api.Param{Name: "cursor", In: "query", Description: "The next_cursor of the previous page."}),
			Handler: s.handleQuality},
		{Method: http.MethodGet, Path: "/v1/quality/totals",
			Summary:     "A group's data-quality totals over a period, as one row.",
			Description: "Columns meters, reporting_meters, intervals, expected_intervals, completeness, estimated, edited, questionable, flagged_hours. " + formats,
			Params: append(slices.Clone(rangeParams),
				api.Param{Name: "group_kind", In: "query", Description: "feeder, region, customer_class, tariff or fleet (default)."},
				api.Param{Name: "group_id", In: "query", Description: "Group id; required unless group_kind is fleet."}),
			Handler: s.handleQualityTotals},
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

// groupFromPath reads the group of /v1/groups/:kind/:id, or the fleet for /v1/fleet/….
func groupFromPath(c echo.Context) (Group, error) {
	if c.Param("kind") == "" {
		return Group{Kind: schema.KindFleet, ID: schema.FleetID}, nil
	}
	return parseGroup(c.Param("kind"), "kind", c.Param("id"), "id")
}

// timeRange reads from and to, rounds them to whole steps of d (UTC) and bounds the number
// of steps by maxSteps.
func timeRange(c echo.Context, d time.Duration, maxSteps int) (from, to time.Time, err error) {
	if from, err = consumption.TimeParam(c, "from"); err != nil {
		return
	}
	if to, err = consumption.TimeParam(c, "to"); err != nil {
		return
	}
	f, t := roundRange(from, to, d)
	steps := "whole " + strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m") + " steps"
	if err = schema.CheckRounded("from", from, f, "rounded down to "+steps); err != nil {
		return
	}
	if err = schema.CheckRounded("to", to, t, "rounded up to "+steps); err != nil {
		return
	}
	from, to = f, t
	if !to.After(from) {
		return from, to, fault.Invalid("to", "must be after from")
	}
	if n := int(to.Sub(from) / d); n > maxSteps {
		return from, to, fault.Invalid("to", "the range spans %d intervals of %s; at most %d are allowed", n, d, maxSteps)
	}
	return from, to, nil
}

// intParam reads an optional integer query parameter in [lo, hi].
func intParam(c echo.Context, name string, def, lo, hi int) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fault.Invalid(name, "%q is not an integer from %d to %d", v, lo, hi)
	}
	return n, nil
}

func (s *Service) handleGroupLoad(c echo.Context) error {
	g, err := groupFromPath(c)
	if err != nil {
		return err
	}
	step := consumption.Step1h
	if v := c.QueryParam("step"); v != "" {
		if step, err = consumption.ParseStep(v); err != nil {
			return fault.Invalid("step", "%v", err)
		}
	}
	from, to, err := timeRange(c, step.Duration(), s.cfg.MaxPoints)
	if err != nil {
		return err
	}
	tbl, err := s.GroupLoad(c.Request().Context(), g, from, to, step)
	if err != nil {
		return err
	}
	return table.Respond(c, table.Result{Table: tbl, Meta: map[string]any{
		"group_kind": g.Kind, "group_id": g.ID, "step": step, "unit": "Wh",
		"from": from.Format(time.RFC3339), "to": to.Format(time.RFC3339),
	}})
}

func (s *Service) handleTopConsumers(c echo.Context) error {
	kind := c.QueryParam("kind")
	switch kind {
	case "":
		kind = "meter"
	case "meter":
	default:
		k, err := schema.ParseGroupKind(kind)
		if err != nil || k == schema.KindFleet {
			return fault.Invalid("kind", "%q is not meter, feeder, region, customer_class or tariff", kind)
		}
	}
	n, err := intParam(c, "n", 10, 1, MaxTopN)
	if err != nil {
		return err
	}
	from, to, err := timeRange(c, time.Hour, s.cfg.MaxPoints)
	if err != nil {
		return err
	}
	tbl, err := s.TopConsumers(c.Request().Context(), kind, from, to, n)
	if err != nil {
		return err
	}
	return table.Respond(c, table.Result{Table: tbl, Meta: map[string]any{
		"kind": kind, "unit": "Wh", "from": from.Format(time.RFC3339), "to": to.Format(time.RFC3339),
	}})
}

// profileParams reads tz (defaulting to def), step (15m default, or 1h) and the range.
func (s *Service) profileParams(c echo.Context, def string) (*time.Location, consumption.Step, time.Time, time.Time, error) {
	tz := c.QueryParam("tz")
	if tz == "" {
		tz = def
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "Local" || tz == "" {
		return nil, "", time.Time{}, time.Time{}, fault.Invalid("tz", "%q is not an IANA time zone like Europe/Berlin", tz)
	}
	step := consumption.Step15m
	if v := c.QueryParam("step"); v != "" {
		if step, err = consumption.ParseStep(v); err != nil || step == consumption.Step1d {
			return nil, "", time.Time{}, time.Time{}, fault.Invalid("step", "%q is not a profile step: want 15m or 1h", v)
		}
	}
	from, to, err := timeRange(c, step.Duration(), s.cfg.MaxPoints)
	return loc, step, from, to, err
}

func (s *Service) handleMeterProfile(c echo.Context) error {
	id := c.Param("meter_id")
	if !schema.ValidMeterID([]byte(id)) {
		return fault.Invalid("meter_id", "%q is not 1-64 characters of A-Z a-z 0-9 . _ : -", id)
	}
	ctx := c.Request().Context()
	var zone string
	var n uint64
	// The meter's own zone is the default; a meter missing from the registry gets UTC.
	err := s.conn.QueryRow(ctx, `SELECT any(time_zone), count() FROM (SELECT meter_id, time_zone FROM meters FINAL) WHERE meter_id = ?`, id).Scan(&zone, &n)
	if err != nil {
		return fmt.Errorf("look up meter %s: %w", id, err)
	}
	if zone == "" {
		zone = "UTC"
	}
	loc, step, from, to, err := s.profileParams(c, zone)
	if err != nil {
		return err
	}
	tbl, err := s.Profile(ctx, id, nil, loc, from, to, step)
	if err != nil {
		return err
	}
	if tbl.Rows() == 0 && n == 0 {
		known, err := schema.MeterKnown(ctx, s.conn, id)
		if err != nil {
			return err
		}
		if !known {
			return fmt.Errorf("meter %q: %w", id, fault.ErrNotFound)
		}
	}
	return table.Respond(c, table.Result{Table: tbl, Meta: map[string]any{
		"meter_id": id, "tz": loc.String(), "step": step, "unit": "Wh",
		"from": from.Format(time.RFC3339), "to": to.Format(time.RFC3339),
	}})
}

func (s *Service) handleGroupProfile(c echo.Context) error {
	g, err := groupFromPath(c)
	if err != nil {
		return err
	}
	loc, step, from, to, err := s.profileParams(c, "UTC")
	if err != nil {
		return err
	}
	tbl, err := s.Profile(c.Request().Context(), "", &g, loc, from, to, step)
	if err != nil {
		return err
	}
	if tbl.Rows() == 0 {
		if err := s.groupExists(c.Request().Context(), g); err != nil {
			return err
		}
	}
	return table.Respond(c, table.Result{Table: tbl, Meta: map[string]any{
		"group_kind": g.Kind, "group_id": g.ID, "tz": loc.String(), "step": step, "unit": "Wh",
		"from": from.Format(time.RFC3339), "to": to.Format(time.RFC3339),
	}})
}

// qualityParams reads the group and range of the quality routes.
func (s *Service) qualityParams(c echo.Context) (Group, time.Time, time.Time, error) {
	kind := c.QueryParam("group_kind")
	if kind == "" {
		kind = string(schema.KindFleet)
	}
	g, err := parseGroup(kind, "group_kind", c.QueryParam("group_id"), "group_id")
	if err != nil {
		return g, time.Time{}, time.Time{}, err
	}
	from, to, err := timeRange(c, time.Hour, s.cfg.MaxPoints)
	return g, from, to, err
}

func (s *Service) handleQuality(c echo.Context) error {
	g, from, to, err := s.qualityParams(c)
	if err != nil {
		return err
	}
	limit, err := intParam(c, "limit", DefaultPageSize, 1, MaxPageSize)
	if err != nil {
		return err
	}
	cur := qualityCursor{Kind: string(g.Kind), ID: g.ID, From: from.Unix(), To: to.Unix()}
	if v := c.QueryParam("cursor"); v != "" {
		got, err := decodeQualityCursor(v)
		if err != nil {
			return err
		}
		if got.Kind != cur.Kind || got.ID != cur.ID || got.From != cur.From || got.To != cur.To {
			return fault.Invalid("cursor", "belongs to a request for another group or range")
		}
		cur.After = got.After
	}
	ctx := c.Request().Context()
	if err := s.groupExists(ctx, g); err != nil {
		return err
	}
	tbl, last, err := s.QualityPage(ctx, g, from, to, cur.After, limit)
	if err != nil {
		return err
	}
	totals, err := s.GroupQualityTotals(ctx, g, from, to)
	if err != nil {
		return err
	}
	res := table.Result{Table: tbl, Meta: map[string]any{
		"group_kind": g.Kind, "group_id": g.ID, "totals": totals,
		"from": from.Format(time.RFC3339), "to": to.Format(time.RFC3339),
	}}
	if last != "" {
		cur.After = last
		res.NextCursor = cur.encode()
	}
	return table.Respond(c, res)
}

func (s *Service) handleQualityTotals(c echo.Context) error {
	g, from, to, err := s.qualityParams(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.groupExists(ctx, g); err != nil {
		return err
	}
	totals, err := s.GroupQualityTotals(ctx, g, from, to)
	if err != nil {
		return err
	}
	return table.Respond(c, table.Result{Table: totals.Table(), Meta: map[string]any{
		"group_kind": g.Kind, "group_id": g.ID,
		"from": from.Format(time.RFC3339), "to": to.Format(time.RFC3339),
	}})
}
