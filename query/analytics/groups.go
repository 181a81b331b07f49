package analytics

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/fault"
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

// Group names one group of meters.
type Group struct {
	// Kind is how the meters are grouped.
	Kind schema.GroupKind
	// ID is the group's id; schema.FleetID for the fleet.
	ID string
}

// parseGroup validates a group kind and id read from the named parameters.
func parseGroup(kind, kindField, id, idField string) (Group, error) {
	k, err := schema.ParseGroupKind(kind)
	if err != nil {
		return Group{}, fault.Invalid(kindField, "%v", err)
	}
	if k == schema.KindFleet && id == "" {
		id = schema.FleetID
	}
	if err := schema.CheckGroupID(idField, k, id); err != nil {
		return Group{}, err
	}
	return Group{Kind: k, ID: id}, nil
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

// loadSQL reads a group's load curve at one resolution.
const loadSQL = `SELECT start, wh, meters, intervals, expected_intervals, estimated, questionable
FROM group_consumption FINAL
WHERE resolution = ? AND group_kind = ? AND group_id = ? AND start >= ? AND start < ?
ORDER BY start`

// GroupLoad returns a group's load curve over [from, to) in steps read from
// group_consumption: one row per interval with data, columns start, wh, meters,
// intervals, expected_intervals, estimated, questionable and completeness (intervals /
// expected_intervals). A group with neither registry members nor rows is fault.ErrNotFound.
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
// holds a row of it (the fleet always exists), and an fault.ErrNotFound error otherwise.
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
		return fmt.Errorf("%s %q: %w", g.Kind, g.ID, fault.ErrNotFound)
	}
	return nil
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
		return c, fault.Invalid("cursor", "is not a cursor this API returned")
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
