package analytics

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/labstack/echo/v4"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/query/consumption"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/table"
)

// Service answers the group and fleet analytics over one ClickHouse database: load
// curves, top consumers, average daily profiles and data-quality summaries, all read from
// the tables the VEE job writes. It is safe for concurrent use.
type Service struct {
	cfg  consumption.Config
	conn driver.Conn
}

// New returns a Service over conn, which must be connected to the platform's database.
// cfg is the query section, shared with package consumption: MaxPoints bounds the steps
// one request may span.
func New(cfg consumption.Config, conn driver.Conn) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, errors.New("analytics: New needs a connection")
	}
	return &Service{cfg: cfg, conn: conn}, nil
}

// Page sizes of the paginated endpoints.
const (
	// DefaultPageSize is the page size when a request gives no limit.
	DefaultPageSize = 100
	// MaxPageSize is the largest limit a request may ask for.
	MaxPageSize = 1000
	// MaxTopN is the largest n of a top-consumers request.
	MaxTopN = 10000
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

// Group names one group of meters.
type Group struct {
	// Kind is how the meters are grouped.
	Kind schema.GroupKind
	// ID is the group's id; schema.FleetID for the fleet.
	ID string
}

// groupFromPath reads the group of /v1/groups/:kind/:id, or the fleet for /v1/fleet/….
func groupFromPath(c echo.Context) (Group, error) {
	if c.Param("kind") == "" {
		return Group{Kind: schema.KindFleet, ID: schema.FleetID}, nil
	}
	return parseGroup(c.Param("kind"), "kind", c.Param("id"), "id")
}

// parseGroup validates a group kind and id read from the named parameters.
func parseGroup(kind, kindField, id, idField string) (Group, error) {
	k, err := schema.ParseGroupKind(kind)
	if err != nil {
		return Group{}, api.Invalid(kindField, "%v", err)
	}
	if k == schema.KindFleet && id == "" {
		id = schema.FleetID
	}
	switch {
	case k == schema.KindFleet && id != schema.FleetID:
		return Group{}, api.Invalid(idField, "the fleet's only group id is %q", schema.FleetID)
	case id == "":
		return Group{}, api.Invalid(idField, "is required")
	case len(id) > 256 || !utf8.ValidString(id) || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return Group{}, api.Invalid(idField, "is not a group id: at most 256 printable characters")
	}
	return Group{Kind: k, ID: id}, nil
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
		return from, to, api.Invalid("to", "must be after from")
	}
	if n := int(to.Sub(from) / d); n > maxSteps {
		return from, to, api.Invalid("to", "the range spans %d intervals of %s; at most %d are allowed", n, d, maxSteps)
	}
	return from, to, nil
}

// roundRange rounds from down and to up to whole multiples of d since the Unix epoch (UTC).
func roundRange(from, to time.Time, d time.Duration) (time.Time, time.Time) {
	from = from.UTC().Truncate(d)
	if t := to.UTC().Truncate(d); t.Before(to) {
		to = t.Add(d)
	} else {
		to = t.UTC()
	}
	return from, to
}

// intParam reads an optional integer query parameter in [lo, hi].
func intParam(c echo.Context, name string, def, lo, hi int) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, api.Invalid(name, "%q is not an integer from %d to %d", v, lo, hi)
	}
	return n, nil
}

// loadSQL reads a group's load curve at one resolution.
const loadSQL = `SELECT start, wh, meters, intervals, expected_intervals, estimated, questionable
FROM group_consumption FINAL
WHERE resolution = ? AND group_kind = ? AND group_id = ? AND start >= ? AND start < ?
ORDER BY start`

// GroupLoad returns a group's load curve over [from, to) in steps read from
// group_consumption: one row per interval with data, columns start, wh, meters,
// intervals, expected_intervals, estimated, questionable and completeness (intervals /
// expected_intervals). A group with neither registry members nor rows is api.ErrNotFound.
func (s *Service) GroupLoad(ctx context.Context, g Group, from, to time.Time, step consumption.Step) (*table.Table, error) {
	rows, err := s.conn.Query(ctx, loadSQL, string(step), string(g.Kind), g.ID, from, to)
	if err != nil {
		return nil, fmt.Errorf("query load of %s %s: %w", g.Kind, g.ID, err)
	}
	defer rows.Close()
	var (
		starts                           []time.Time
		whs                              []int64
		meters, ivs, exp, est, quest     []uint64
		completeness                     []float64
		start                            time.Time
		wh                               int64
		nMeters, nIv, nExp, nEst, nQuest uint32
	)
	for rows.Next() {
		if err := rows.Scan(&start, &wh, &nMeters, &nIv, &nExp, &nEst, &nQuest); err != nil {
			return nil, fmt.Errorf("query load of %s %s: %w", g.Kind, g.ID, err)
		}
		starts, whs = append(starts, start.UTC()), append(whs, wh)
		meters, ivs, exp = append(meters, uint64(nMeters)), append(ivs, uint64(nIv)), append(exp, uint64(nExp))
		est, quest = append(est, uint64(nEst)), append(quest, uint64(nQuest))
		completeness = append(completeness, ratio(uint64(nIv), uint64(nExp)))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query load of %s %s: %w", g.Kind, g.ID, err)
	}
	if len(starts) == 0 {
		if err := s.groupExists(ctx, g); err != nil {
			return nil, err
		}
	}
	return table.New(
		table.Times("start", orEmpty(starts)), table.Int64s("wh", orEmpty(whs)),
		table.UInt64s("meters", orEmpty(meters)), table.UInt64s("intervals", orEmpty(ivs)),
		table.UInt64s("expected_intervals", orEmpty(exp)), table.UInt64s("estimated", orEmpty(est)),
		table.UInt64s("questionable", orEmpty(quest)), table.Float64s("completeness", orEmpty(completeness)),
	), nil
}

// orEmpty returns an empty slice for nil, so that a table without rows keeps typed columns.
func orEmpty[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

// ratio returns n/d, or 0 when d is 0.
func ratio(n, d uint64) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// groupExists returns nil when the registry lists a member of g or group_consumption
// holds a row of it (the fleet always exists), and an api.ErrNotFound error otherwise.
func (s *Service) groupExists(ctx context.Context, g Group) error {
	if g.Kind == schema.KindFleet {
		return nil
	}
	var n uint64
	q := `SELECT (SELECT count() FROM (SELECT ` + g.Kind.RegistryColumn() + ` AS gid FROM meters FINAL) WHERE gid = ?)
     + (SELECT count() FROM group_consumption WHERE group_kind = ? AND group_id = ?)`
	if err := s.conn.QueryRow(ctx, q, g.ID, string(g.Kind), g.ID).Scan(&n); err != nil {
		return fmt.Errorf("look up %s %s: %w", g.Kind, g.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("%s %q: %w", g.Kind, g.ID, api.ErrNotFound)
	}
	return nil
}

func (s *Service) handleGroupLoad(c echo.Context) error {
	g, err := groupFromPath(c)
	if err != nil {
		return err
	}
	step := consumption.Step1h
	if v := c.QueryParam("step"); v != "" {
		if step, err = consumption.ParseStep(v); err != nil {
			return api.Invalid("step", "%v", err)
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

// topSQL returns the query for the n largest consumers of a kind ("meter" or a group
// kind) over hourly validated consumption. Parameters: [group_kind,] from, to, n.
func topSQL(kind string) string {
	if kind == "meter" {
		return `SELECT meter_id, sum(wh) AS total_wh, sum(intervals) AS total_intervals, sum(expected_intervals) AS total_expected
FROM consumption FINAL
WHERE resolution = '1h' AND start >= ? AND start < ?
GROUP BY meter_id
ORDER BY total_wh DESC, meter_id
LIMIT ?`
	}
	return `SELECT group_id, sum(wh) AS total_wh, sum(intervals) AS total_intervals, sum(expected_intervals) AS total_expected
FROM group_consumption FINAL
WHERE resolution = '1h' AND group_kind = ? AND start >= ? AND start < ?
GROUP BY group_id
ORDER BY total_wh DESC, group_id
LIMIT ?`
}

// TopConsumers returns the n meters (kind "meter") or groups of a kind that consumed the
// most energy over [from, to), which must be whole UTC hours: columns rank, id, wh,
// intervals, expected_intervals, largest first, ties by id.
func (s *Service) TopConsumers(ctx context.Context, kind string, from, to time.Time, n int) (*table.Table, error) {
	args := []any{from, to, n}
	if kind != "meter" {
		args = append([]any{kind}, args...)
	}
	rows, err := s.conn.Query(ctx, topSQL(kind), args...)
	if err != nil {
		return nil, fmt.Errorf("query top consumers: %w", err)
	}
	defer rows.Close()
	ranks, ids, whs, ivs, exps := []uint64{}, []string{}, []int64{}, []uint64{}, []uint64{}
	for rows.Next() {
		var id string
		var wh int64
		var iv, exp uint64
		if err := rows.Scan(&id, &wh, &iv, &exp); err != nil {
			return nil, fmt.Errorf("query top consumers: %w", err)
		}
		ranks = append(ranks, uint64(len(ranks)+1))
		ids, whs, ivs, exps = append(ids, id), append(whs, wh), append(ivs, iv), append(exps, exp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query top consumers: %w", err)
	}
	return table.New(table.UInt64s("rank", ranks), table.Strings("id", ids), table.Int64s("wh", whs),
		table.UInt64s("intervals", ivs), table.UInt64s("expected_intervals", exps)), nil
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
			return api.Invalid("kind", "%q is not meter, feeder, region, customer_class or tariff", kind)
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

// profileSQL returns the query of an average daily profile: per local minute of day, the
// energy summed and the local dates that have data in that slot. Parameters: tz, tz, tz,
// resolution, then meter_id (table consumption) or group_kind, group_id (group_consumption),
// then from, to. The time zone is bound as a literal, as ClickHouse requires a constant.
func profileSQL(group bool) string {
	from, where := "consumption FINAL", "meter_id = ?"
	if group {
		from, where = "group_consumption FINAL", "group_kind = ? AND group_id = ?"
	}
	return `SELECT toUInt64(toHour(start, ?) * 60 + toMinute(start, ?)) AS minute_of_day, sum(wh) AS total_wh, uniqExact(toDate(start, ?)) AS days
FROM ` + from + `
WHERE resolution = ? AND ` + where + ` AND start >= ? AND start < ?
GROUP BY minute_of_day
ORDER BY minute_of_day`
}

// Profile returns the average daily profile of a meter (g nil) or group over [from, to)
// in the wall clock of loc, from rows of step 15m or 1h: one row per slot with data,
// columns slot ("HH:MM" local), minute_of_day, avg_wh (wh / days), wh and days (local
// dates having the slot). On a 23-hour day the skipped slots get nothing; on a 25-hour
// day the repeated hour's energy falls into its slot once for that date.
func (s *Service) Profile(ctx context.Context, meterID string, g *Group, loc *time.Location, from, to time.Time, step consumption.Step) (*table.Table, error) {
	tz := loc.String()
	args := []any{tz, tz, tz, string(step)}
	if g != nil {
		args = append(args, string(g.Kind), g.ID)
	} else {
		args = append(args, meterID)
	}
	args = append(args, from, to)
	rows, err := s.conn.Query(ctx, profileSQL(g != nil), args...)
	if err != nil {
		return nil, fmt.Errorf("query profile: %w", err)
	}
	defer rows.Close()
	slots, minutes, avgs, whs, days := []string{}, []uint64{}, []float64{}, []int64{}, []uint64{}
	for rows.Next() {
		var m, d uint64
		var wh int64
		if err := rows.Scan(&m, &wh, &d); err != nil {
			return nil, fmt.Errorf("query profile: %w", err)
		}
		slots = append(slots, fmt.Sprintf("%02d:%02d", m/60, m%60))
		minutes, whs, days = append(minutes, m), append(whs, wh), append(days, d)
		avgs = append(avgs, float64(wh)/float64(d))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query profile: %w", err)
	}
	return table.New(table.Strings("slot", slots), table.UInt64s("minute_of_day", minutes),
		table.Float64s("avg_wh", avgs), table.Int64s("wh", whs), table.UInt64s("days", days)), nil
}

// profileParams reads tz (defaulting to def), step (15m default, or 1h) and the range.
func (s *Service) profileParams(c echo.Context, def string) (*time.Location, consumption.Step, time.Time, time.Time, error) {
	tz := c.QueryParam("tz")
	if tz == "" {
		tz = def
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "Local" || tz == "" {
		return nil, "", time.Time{}, time.Time{}, api.Invalid("tz", "%q is not an IANA time zone like Europe/Berlin", tz)
	}
	step := consumption.Step15m
	if v := c.QueryParam("step"); v != "" {
		if step, err = consumption.ParseStep(v); err != nil || step == consumption.Step1d {
			return nil, "", time.Time{}, time.Time{}, api.Invalid("step", "%q is not a profile step: want 15m or 1h", v)
		}
	}
	from, to, err := timeRange(c, step.Duration(), s.cfg.MaxPoints)
	return loc, step, from, to, err
}

func (s *Service) handleMeterProfile(c echo.Context) error {
	id := c.Param("meter_id")
	if !schema.ValidMeterID([]byte(id)) {
		return api.Invalid("meter_id", "%q is not 1-64 characters of A-Z a-z 0-9 . _ : -", id)
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
			return fmt.Errorf("meter %q: %w", id, api.ErrNotFound)
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

// qualityCursor is the decoded form of a quality page's opaque cursor. It is bound to
// the query it continues, so that it cannot be replayed against another group or range.
type qualityCursor struct {
	After string `json:"a"`
	Kind  string `json:"k"`
	ID    string `json:"g"`
	From  int64  `json:"f"`
	To    int64  `json:"t"`
}

func (c qualityCursor) encode() string {
	b, _ := json.Marshal(c) // strings and integers always marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeQualityCursor(s string) (qualityCursor, error) {
	var c qualityCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil {
		return c, api.Invalid("cursor", "is not a cursor this API returned")
	}
	return c, nil
}

// qualitySQL returns the per-meter data-quality query of a group kind. members selects
// the group's meters from the registry (FINAL in a subquery, so that a filter never sees
// an outdated version of a meter); with page set it continues after a meter id and is
// limited. Parameters: [group_id,] [after, limit,] from, to, [group_id,] [after, limit].
// Both sides of the join are named: servers since 20.x refuse a joined subquery without
// an alias (joined_subquery_requires_alias), which 18.16 does not check.
func qualitySQL(k schema.GroupKind, page bool) string {
	var conds []string
	cols := "meter_id"
	if col := k.RegistryColumn(); col != "" {
		conds = append(conds, "gid = ?")
		cols += ", " + col + " AS gid"
	}
	if page {
		conds = append(conds, "meter_id > ?")
	}
	members := "SELECT meter_id FROM (SELECT " + cols + " FROM meters FINAL)"
	if len(conds) > 0 {
		members += " WHERE " + strings.Join(conds, " AND ")
	}
	if page {
		members += " ORDER BY meter_id LIMIT ?"
	}
	inMembers := ""
	if len(conds) > 0 {
		inMembers = "\n      AND meter_id IN (" + members + ")"
	}
	return `SELECT meter_id, intervals_n, estimated_n, edited_n, questionable_n, flagged_n, flag_names
FROM
(
    ` + members + `
) AS members
ANY LEFT JOIN
(
    SELECT meter_id, sum(intervals) AS intervals_n, sum(estimated) AS estimated_n, sum(edited) AS edited_n,
        sum(questionable) AS questionable_n, countIf(notEmpty(flags)) AS flagged_n, groupUniqArrayArray(flags) AS flag_names
    FROM consumption FINAL
    WHERE resolution = '1h' AND start >= ? AND start < ?` + inMembers + `
    GROUP BY meter_id
) AS stats USING meter_id
ORDER BY meter_id`
}

// qualityTotalsSQL aggregates qualitySQL(k, false) over the group.
func qualityTotalsSQL(k schema.GroupKind) string {
	return `SELECT count() AS members, countIf(intervals_n > 0) AS reporting, sum(intervals_n), sum(estimated_n),
    sum(edited_n), sum(questionable_n), sum(flagged_n)
FROM
(
` + qualitySQL(k, false) + `
)`
}

// qualityArgs returns the parameters of qualitySQL or qualityTotalsSQL.
func qualityArgs(g Group, from, to time.Time, page bool, after string, limit int) []any {
	var members []any
	if g.Kind != schema.KindFleet {
		members = append(members, g.ID)
	}
	if page {
		members = append(members, after, limit)
	}
	args := append(slices.Clone(members), from, to)
	if g.Kind != schema.KindFleet || page {
		args = append(args, members...)
	}
	return args
}

// QualityPage returns the data quality of up to limit meters of g after meter id after,
// over [from, to) (whole UTC hours), ordered by meter id: columns meter_id, intervals,
// expected_intervals, completeness, estimated, edited, questionable, flagged_hours and
// flags (the rule names raised, sorted). It also returns the last meter id when more
// meters follow, and "" on the last page.
func (s *Service) QualityPage(ctx context.Context, g Group, from, to time.Time, after string, limit int) (*table.Table, string, error) {
	rows, err := s.conn.Query(ctx, qualitySQL(g.Kind, true), qualityArgs(g, from, to, true, after, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("query quality of %s %s: %w", g.Kind, g.ID, err)
	}
	defer rows.Close()
	expected := uint64(to.Sub(from) / (15 * time.Minute))
	ids, flags := []string{}, [][]string{}
	ivs, exps, est, ed, quest, flagged := []uint64{}, []uint64{}, []uint64{}, []uint64{}, []uint64{}, []uint64{}
	completeness := []float64{}
	for rows.Next() {
		var id string
		var iv, e, d, q, f uint64
		var names []string
		if err := rows.Scan(&id, &iv, &e, &d, &q, &f, &names); err != nil {
			return nil, "", fmt.Errorf("query quality of %s %s: %w", g.Kind, g.ID, err)
		}
		slices.Sort(names)
		ids, flags = append(ids, id), append(flags, orEmpty(names))
		ivs, exps, completeness = append(ivs, iv), append(exps, expected), append(completeness, ratio(iv, expected))
		est, ed, quest, flagged = append(est, e), append(ed, d), append(quest, q), append(flagged, f)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("query quality of %s %s: %w", g.Kind, g.ID, err)
	}
	next := ""
	if len(ids) > limit {
		ids, flags = ids[:limit], flags[:limit]
		ivs, exps, completeness = ivs[:limit], exps[:limit], completeness[:limit]
		est, ed, quest, flagged = est[:limit], ed[:limit], quest[:limit], flagged[:limit]
		next = ids[limit-1]
	}
	return table.New(table.Strings("meter_id", ids), table.UInt64s("intervals", ivs),
		table.UInt64s("expected_intervals", exps), table.Float64s("completeness", completeness),
		table.UInt64s("estimated", est), table.UInt64s("edited", ed), table.UInt64s("questionable", quest),
		table.UInt64s("flagged_hours", flagged), table.StringLists("flags", flags)), next, nil
}

// QualityTotals is the data quality of a whole group over a period.
type QualityTotals struct {
	// Meters counts the group's meters in the registry.
	Meters uint64 `json:"meters"`
	// ReportingMeters counts those with at least one measured interval.
	ReportingMeters uint64 `json:"reporting_meters"`
	// Intervals counts the measured 15-minute intervals.
	Intervals uint64 `json:"intervals"`
	// ExpectedIntervals is Meters times the 15-minute slots of the period.
	ExpectedIntervals uint64 `json:"expected_intervals"`
	// Completeness is Intervals / ExpectedIntervals.
	Completeness float64 `json:"completeness"`
	// Estimated, Edited and Questionable count 15-minute intervals.
	Estimated    uint64 `json:"estimated"`
	Edited       uint64 `json:"edited"`
	Questionable uint64 `json:"questionable"`
	// FlaggedHours counts meter-hours on which a validation rule was raised.
	FlaggedHours uint64 `json:"flagged_hours"`
}

// Table returns the totals as a one-row table.
func (q QualityTotals) Table() *table.Table {
	return table.New(table.UInt64s("meters", []uint64{q.Meters}), table.UInt64s("reporting_meters", []uint64{q.ReportingMeters}),
		table.UInt64s("intervals", []uint64{q.Intervals}), table.UInt64s("expected_intervals", []uint64{q.ExpectedIntervals}),
		table.Float64s("completeness", []float64{q.Completeness}), table.UInt64s("estimated", []uint64{q.Estimated}),
		table.UInt64s("edited", []uint64{q.Edited}), table.UInt64s("questionable", []uint64{q.Questionable}),
		table.UInt64s("flagged_hours", []uint64{q.FlaggedHours}))
}

// GroupQualityTotals returns the data quality of all of g's meters over [from, to)
// (whole UTC hours).
func (s *Service) GroupQualityTotals(ctx context.Context, g Group, from, to time.Time) (QualityTotals, error) {
	var t QualityTotals
	err := s.conn.QueryRow(ctx, qualityTotalsSQL(g.Kind), qualityArgs(g, from, to, false, "", 0)...).
		Scan(&t.Meters, &t.ReportingMeters, &t.Intervals, &t.Estimated, &t.Edited, &t.Questionable, &t.FlaggedHours)
	if err != nil {
		return t, fmt.Errorf("query quality totals of %s %s: %w", g.Kind, g.ID, err)
	}
	t.ExpectedIntervals = t.Meters * uint64(to.Sub(from)/(15*time.Minute))
	t.Completeness = ratio(t.Intervals, t.ExpectedIntervals)
	return t, nil
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
			return api.Invalid("cursor", "belongs to a request for another group or range")
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
