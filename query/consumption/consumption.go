package consumption

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/calendar"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/table"
	"github.com/meterhouse/meterhouse/vee"
)

// Step is the length of the intervals consumption is reported in.
type Step string

// The steps a consumption query can use.
const (
	Step15m Step = "15m"
	Step1h  Step = "1h"
	Step1d  Step = "1d"
	// Step1mo is a calendar month; only per-meter consumption offers it (ParseMeterStep).
	Step1mo Step = "1mo"
)

// ParseStep validates a step parameter.
func ParseStep(s string) (Step, error) {
	switch st := Step(s); st {
	case Step15m, Step1h, Step1d:
		return st, nil
	}
	return "", fmt.Errorf("%q is not a step: want 15m, 1h or 1d", s)
}

// ParseMeterStep validates the step of per-meter consumption: 15m, 1h, 1d or 1mo.
func ParseMeterStep(s string) (Step, error) {
	if Step(s) == Step1mo {
		return Step1mo, nil
	}
	if st, err := ParseStep(s); err == nil {
		return st, nil
	}
	return "", fmt.Errorf("%q is not a step: want 15m, 1h, 1d or 1mo", s)
}

// Duration returns the step's length: 24 hours for 1d (a UTC day; local days last 23 to
// 25 hours) and 31 days for 1mo (the longest month).
func (s Step) Duration() time.Duration {
	switch s {
	case Step15m:
		return 15 * time.Minute
	case Step1d:
		return 24 * time.Hour
	case Step1mo:
		return 31 * 24 * time.Hour
	}
	return time.Hour
}

// calendar reports whether the step's buckets follow a time zone's calendar (days and
// months) rather than fixed lengths.
func (s Step) calendar() bool { return s == Step1d || s == Step1mo }

// floor returns the start of the bucket containing t: a multiple of the step in UTC for
// 15m and 1h, the start of the local day or month in loc for 1d and 1mo (package
// calendar: the first instant of the date, 01:00 where midnight does not exist).
func (s Step) floor(t time.Time, loc *time.Location) time.Time {
	switch s {
	case Step1d:
		return calendar.DayStart(t, loc)
	case Step1mo:
		return calendar.MonthStart(t, loc)
	}
	return t.UTC().Truncate(s.Duration())
}

// next returns the start of the bucket after the one starting at start.
func (s Step) next(start time.Time, loc *time.Location) time.Time {
	switch s {
	case Step1d:
		return calendar.NextDay(start, loc)
	case Step1mo:
		return calendar.NextMonth(start, loc)
	}
	return start.Add(s.Duration())
}

// Point is the energy consumed over one interval.
type Point struct {
	// Start is the interval's start, UTC.
	Start time.Time `json:"start"`
	// Wh is the register difference over the interval (raw), or the validated energy.
	Wh int64 `json:"wh"`
	// Quality is the NAESB ESPI quality code of validated energy (vee.Quality): 0 valid,
	// 7 edited, 8 and 9 estimated, 10 questionable, 13 mixed, 16 flat-filled. Raw points
	// have none.
	Quality *uint8 `json:"quality,omitempty"`
	// Estimated, Edited and Questionable count the 15-minute intervals of a validated point
	// that were estimated, edited by hand and flagged questionable.
	Estimated    *uint32 `json:"estimated,omitempty"`
	Edited       *uint32 `json:"edited,omitempty"`
	Questionable *uint32 `json:"questionable,omitempty"`
	// Completeness is the share of the point's 15-minute intervals that were measured,
	// from 0 to 1, for validated points.
	Completeness *float64 `json:"completeness,omitempty"`
}

// Consumption is a meter's consumption over a range, one point per interval with data.
type Consumption struct {
	MeterID string `json:"meter_id"`
	Step    Step   `json:"step"`
	// TZ is the time zone of 1d and 1mo buckets.
	TZ string `json:"tz,omitempty"`
	// Source is raw (register differences) or validated (the VEE job's consumption).
	Source Source  `json:"source,omitempty"`
	Unit   string  `json:"unit"`
	Points []Point `json:"points"`
}

// Source says where consumption comes from.
type Source string

// The sources of per-meter consumption.
const (
	// SourceRaw is register differences of the stored readings, as the meter reported them.
	SourceRaw Source = "raw"
	// SourceValidated is the VEE job's validated consumption: estimated where readings are
	// missing, edited where an analyst overrode it, with quality codes.
	SourceValidated Source = "validated"
)

// ParseSource validates a source parameter.
func ParseSource(s string) (Source, error) {
	switch src := Source(s); src {
	case SourceRaw, SourceValidated:
		return src, nil
	}
	return "", fmt.Errorf("%q is not a source: want raw or validated", s)
}

// bucket is the last register reading that closed an interval inside one step-long bucket.
type bucket struct {
	start time.Time
	reg   int64
}

// deltas turns per-bucket closing registers into consumption points. The energy of a
// bucket is its closing register minus the closing register of the bucket with data before
// it, so energy over a gap is attributed to the first bucket after the gap and the points
// add up to the register difference over the whole range. A bucket whose start register is
// unknown (no earlier reading at all) gets no point.
func deltas(prev int64, hasPrev bool, buckets []bucket) []Point {
	points := make([]Point, 0, len(buckets))
	for _, b := range buckets {
		if hasPrev {
			points = append(points, Point{Start: b.start, Wh: b.reg - prev})
		}
		prev, hasPrev = b.reg, true
	}
	return points
}

// consumptionSQL returns, for a step, the query of a meter's closing registers. 1h reads
// the meter's hourly registers (parameters: meter_id, lookback start, to): the rows of
// [from - lookback, to), which raw merges into buckets and the before marker (the last
// register before from) in Go; 1d and 1mo give one closing register per local day (month)
// of the time zone bound second, and the before marker in a bucket dated at the epoch
// (parameters: from, tz, meter_id, lookback start, to). Their hours fall into the local
// day (month) containing their start: exact for zones whose offset is a whole number of
// hours. hourly_registers may hold a (meter, hour) more than once until its merges run;
// the latest reading (argMax by last_ts) is the hour's register either way, so replays do
// not change the answer. The 15-minute step reads the raw readings (parameters: from,
// meter_id, to), where a reading stamped ts closes the bucket containing ts - 1 second and
// argMax over duplicates of one reading returns that reading.
func consumptionSQL(step Step) string {
	switch step {
	case Step15m:
		return `SELECT if(ts <= ?, toDateTime(0), toStartOfFifteenMinutes(ts - 1)) AS b, argMax(register_wh, ts) AS reg
FROM readings
WHERE meter_id = ? AND ts <= ?
GROUP BY b
ORDER BY b`
	case Step1d, Step1mo:
		return `SELECT if(hour < ?, toDate('1970-01-01'), ` + calendarBucket(step, "hour") + `) AS b, argMax(last_wh, last_ts) AS reg
FROM hourly_registers
WHERE meter_id = ? AND hour >= ? AND hour < ?
GROUP BY b
ORDER BY b`
	}
	return `SELECT hour, last_ts, last_wh
FROM hourly_registers
WHERE meter_id = ? AND hour >= ? AND hour < ?`
}

// registerBeforeSQL returns the last hourly register of a meter before an hour and how
// many hours it has before it (parameters: meter_id, hour): the before marker of a meter
// with no register in the lookback before its range.
const registerBeforeSQL = `SELECT argMax(last_wh, last_ts), count()
FROM hourly_registers
WHERE meter_id = ? AND hour < ?`

// lookback is how far before a range the hourly query reads the meter's registers to find
// the register its first point starts from: two days, so that meters reading once a day
// and short outages need one query; a meter silent for longer gets a second one
// (registerBeforeSQL).
const lookback = 48 * time.Hour

// calendarBucket returns the expression of the local date (1d) or first of the month
// (1mo) of column col in the time zone bound as a parameter.
func calendarBucket(step Step, col string) string {
	if step == Step1mo {
		return "toStartOfMonth(toDate(" + col + ", ?))"
	}
	return "toDate(" + col + ", ?)"
}

// validatedSQL returns the query of validated consumption per bucket over [from, to).
// 15m and 1h read the rows of that resolution: 15m from consumption (parameters:
// resolution, meter_id, from, to), 1h from its narrow copy consumption_hourly (migration
// 0059; parameters: meter_id, from, to),
// without FINAL, each row with its computed_at: a window the job has written again is
// stored twice until a merge replaces the older rows, which validated sees as two rows of
// one start and then asks again with FINAL (validatedFinalSQL), so the answer is FINAL's
// in every case while the common one, merged, costs a fraction of the server's CPU. 1d
// and 1mo aggregate the 15m rows into local days or months of the time zone bound first
// (parameters: tz, meter_id, from, to), so that any zone can be asked for; their quality
// combines as vee.CombineQualities does (equal codes keep theirs, others give 13, mixed).
func validatedSQL(step Step) string {
	return validatedRowsSQL(step, false)
}

// validatedFinalSQL is validatedSQL of 15m and 1h with FINAL, for a range holding a start
// more than once.
func validatedFinalSQL(step Step) string {
	return validatedRowsSQL(step, true)
}

// validatedRowsSQL returns validatedSQL, with FINAL for 15m and 1h when final is set.
func validatedRowsSQL(step Step, final bool) string {
	from := "consumption"
	if step == Step1h {
		from = "consumption_hourly"
	}
	if final {
		from += " FINAL"
	}
	switch step {
	case Step1h:
		return `SELECT start, computed_at, wh, quality, intervals, expected_intervals, estimated, edited, questionable
FROM ` + from + `
WHERE meter_id = ? AND start >= ? AND start < ?`
	case Step15m:
		return `SELECT start, computed_at, wh, quality, intervals, expected_intervals, estimated, edited, questionable
FROM ` + from + `
WHERE resolution = ? AND meter_id = ? AND start >= ? AND start < ?`
	}
	return `SELECT ` + calendarBucket(step, "start") + ` AS b, sum(wh), if(min(quality) = max(quality), min(quality), ` +
		strconv.Itoa(int(vee.QualityMixed)) + `),
    toUInt32(sum(intervals)), toUInt32(sum(expected_intervals)), toUInt32(sum(estimated)), toUInt32(sum(edited)), toUInt32(sum(questionable))
FROM consumption FINAL
WHERE resolution = '15m' AND meter_id = ? AND start >= ? AND start < ?
GROUP BY b
ORDER BY b`
}

// Config configures the read paths of consumption and analytics (the query section of the
// configuration).
type Config struct {
	// MaxPoints bounds the intervals one consumption request may span.
	MaxPoints int `yaml:"max_points"`
}

// DefaultConfig allows a year of 15-minute points in one request.
func DefaultConfig() Config { return Config{MaxPoints: 366 * 96} }

// Validate reports the first field that cannot work, naming it.
func (c Config) Validate() error {
	if c.MaxPoints < 1 {
		return errors.New("query.max_points: must be at least 1")
	}
	return nil
}

// Service reads per-meter consumption over one ClickHouse database. It is safe for concurrent use.
type Service struct {
	cfg  Config
	conn driver.Conn
}

// New returns a Service over conn, which must be connected to the platform's database.
func New(cfg Config, conn driver.Conn) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, errors.New("consumption: New needs a connection")
	}
	return &Service{cfg: cfg, conn: conn}, nil
}

// MeterConsumption returns a meter's raw consumption over [from, to) in steps of UTC,
// as Consumption does.
func (s *Service) MeterConsumption(ctx context.Context, meterID string, from, to time.Time, step Step) (Consumption, error) {
	return s.Consumption(ctx, Request{MeterID: meterID, From: from, To: to, Step: step})
}

// Request asks for one meter's consumption.
type Request struct {
	// MeterID is the meter.
	MeterID string
	// From and To bound the range [From, To); From is rounded down and To up to whole
	// buckets.
	From, To time.Time
	// Step is the bucket: 15m, 1h, 1d or 1mo.
	Step Step
	// Location is the time zone of 1d and 1mo buckets, whose days last 23 to 25 hours
	// across daylight-saving changes; nil means UTC. 15m and 1h buckets are UTC.
	Location *time.Location
	// Source is raw (the default) or validated.
	Source Source
}

// Consumption returns a meter's consumption per bucket. Raw points are register
// differences (see deltas); validated points are the VEE job's consumption rows, with
// quality and completeness, and are absent where the job has not computed the meter. It
// returns an fault.ErrNotFound error for a meter with neither a registry entry nor
// readings, and fault.FieldError for parameters out of range.
func (s *Service) Consumption(ctx context.Context, r Request) (Consumption, error) {
	loc := r.Location
	if loc == nil {
		loc = time.UTC
	}
	src := r.Source
	if src == "" {
		src = SourceRaw
	}
	step := r.Step
	if err := schema.CheckTime("from", r.From); err != nil {
		return Consumption{}, err
	}
	if err := schema.CheckTime("to", r.To); err != nil {
		return Consumption{}, err
	}
	from := step.floor(r.From, loc)
	to := step.floor(r.To, loc)
	if to.Before(r.To) {
		to = step.next(to, loc)
	}
	how := "whole " + string(step) + " steps"
	if step.calendar() {
		how = "local " + map[Step]string{Step1d: "days", Step1mo: "months"}[step] + " of " + loc.String()
	}
	if err := schema.CheckRounded("from", r.From, from, "rounded down to "+how); err != nil {
		return Consumption{}, err
	}
	if err := schema.CheckRounded("to", r.To, to, "rounded up to "+how); err != nil {
		return Consumption{}, err
	}
	if !to.After(from) {
		return Consumption{}, fault.Invalid("to", "must be after from")
	}
	n := int(to.Sub(from) / step.Duration())
	if step.calendar() {
		n = 0
		for t := from; t.Before(to) && n <= s.cfg.MaxPoints; t = step.next(t, loc) {
			n++
		}
	}
	if n > s.cfg.MaxPoints {
		return Consumption{}, fault.Invalid("to", "the range spans more than %d %s intervals; at most %d are allowed", s.cfg.MaxPoints, step, s.cfg.MaxPoints)
	}
	res := Consumption{MeterID: r.MeterID, Step: step, Unit: "Wh", Source: src}
	if step.calendar() {
		res.TZ = loc.String()
	}
	var err error
	var known bool
	if src == SourceValidated {
		res.Points, err = s.validated(ctx, r.MeterID, from, to, step, loc)
		known = len(res.Points) > 0
	} else {
		res.Points, known, err = s.raw(ctx, r.MeterID, from, to, step, loc)
	}
	if err != nil {
		return Consumption{}, err
	}
	if !known {
		if known, err = schema.MeterKnown(ctx, s.conn, r.MeterID); err != nil {
			return Consumption{}, err
		}
		if !known {
			return Consumption{}, fmt.Errorf("meter %q: %w", r.MeterID, fault.ErrNotFound)
		}
	}
	return res, nil
}

// pointQuery is the context of a query that reads one meter's key range: one thread (more
// only add their start-up cost) and the uncompressed cache (a point query decompresses
// blocks of 64 KiB and more around the few rows it needs).
func pointQuery(ctx context.Context) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_threads": 1, "use_uncompressed_cache": 1}))
}

// raw returns register-difference points; the bool reports whether any reading was found.
func (s *Service) raw(ctx context.Context, meterID string, from, to time.Time, step Step, loc *time.Location) ([]Point, bool, error) {
	ctx = pointQuery(ctx)
	var (
		bs      []bucket
		prev    int64
		hasPrev bool
		err     error
	)
	epoch := time.Unix(0, 0)
	lo := from.Add(-lookback)
	if lo.Before(epoch) {
		lo = epoch
	}
	switch {
	case step == Step1h:
		bs, prev, hasPrev, err = s.hourly(ctx, meterID, lo, from, to)
	case step.calendar():
		bs, prev, hasPrev, err = s.buckets(ctx, consumptionSQL(step), step, loc, from, loc.String(), meterID, lo, to)
	default:
		bs, prev, hasPrev, err = s.buckets(ctx, consumptionSQL(step), step, loc, from, meterID, to)
	}
	if err != nil {
		return nil, false, fmt.Errorf("query consumption: %w", err)
	}
	if !hasPrev && step != Step15m && lo.After(epoch) {
		var n uint64
		if err := s.conn.QueryRow(ctx, registerBeforeSQL, meterID, lo).Scan(&prev, &n); err != nil {
			return nil, false, fmt.Errorf("query consumption: %w", err)
		}
		hasPrev = n > 0
	}
	return deltas(prev, hasPrev, bs), len(bs) > 0 || hasPrev, nil
}

// buckets runs a query that returns closing registers per bucket, the before marker in a
// bucket dated at the epoch, and returns the buckets and the marker.
func (s *Service) buckets(ctx context.Context, sql string, step Step, loc *time.Location, args ...any) (bs []bucket, prev int64, hasPrev bool, err error) {
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var b bucket
		if err := rows.Scan(&b.start, &b.reg); err != nil {
			return nil, 0, false, err
		}
		if b.start.Unix() == 0 { // the before marker: the last register at or before from
			prev, hasPrev = b.reg, true
			continue
		}
		b.start = bucketStart(b.start, step, loc)
		bs = append(bs, b)
	}
	return bs, prev, hasPrev, rows.Err()
}

// hourly reads a meter's hourly registers over [lo, to) and returns the hours from from on
// as buckets and the last register before from as the before marker.
func (s *Service) hourly(ctx context.Context, meterID string, lo, from, to time.Time) (bs []bucket, prev int64, hasPrev bool, err error) {
	rows, err := s.conn.Query(ctx, consumptionSQL(Step1h), meterID, lo, to)
	if err != nil {
		return nil, 0, false, err
	}
	defer rows.Close()
	hs := make([]hourRegister, 0, min(int(to.Sub(lo)/time.Hour)+1, s.cfg.MaxPoints+int(lookback/time.Hour)))
	for rows.Next() {
		var h hourRegister
		if err := rows.Scan(&h.hour, &h.ts, &h.reg); err != nil {
			return nil, 0, false, err
		}
		hs = append(hs, h)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, false, err
	}
	bs, prev, hasPrev = hourBuckets(hs, from)
	return bs, prev, hasPrev, nil
}

// hourRegister is one row of hourly_registers: the register of the reading at ts, the
// latest one of its hour in the block it came with.
type hourRegister struct {
	hour, ts time.Time
	reg      int64
}

// hourBuckets merges rows of hourly_registers, in any order and with a (meter, hour) more
// than once until the table's merges have run, into one bucket per hour from from on, the
// register of each the one of its latest reading, and returns as the before marker the
// register of the latest reading before from. It sorts hs in place.
func hourBuckets(hs []hourRegister, from time.Time) (bs []bucket, prev int64, hasPrev bool) {
	slices.SortFunc(hs, func(a, b hourRegister) int {
		if c := a.hour.Compare(b.hour); c != 0 {
			return c
		}
		return a.ts.Compare(b.ts)
	})
	bs = make([]bucket, 0, len(hs))
	for i, h := range hs {
		if i+1 < len(hs) && hs[i+1].hour.Equal(h.hour) {
			continue // a later reading of the same hour follows
		}
		if h.hour.Before(from) {
			prev, hasPrev = h.reg, true
			continue
		}
		bs = append(bs, bucket{start: h.hour.UTC(), reg: h.reg})
	}
	return bs, prev, hasPrev
}

// bucketStart turns a bucket as ClickHouse returns it into its UTC start: calendar
// buckets come as local dates.
func bucketStart(b time.Time, step Step, loc *time.Location) time.Time {
	if !step.calendar() {
		return b.UTC()
	}
	y, m, d := b.Date()
	return calendar.DateStart(y, m, d, loc)
}

// validatedRow is one row of validated consumption as validatedSQL returns it.
type validatedRow struct {
	start, computed                                    time.Time
	wh                                                 int64
	quality                                            uint8
	present, expected, estimated, edited, questionable uint32
}

// validatedValues holds the values a validated point points to, allocated once per answer.
type validatedValues struct {
	quality                       uint8
	estimated, edited, questioned uint32
	completeness                  float64
}

// validated returns the validated consumption points over [from, to).
func (s *Service) validated(ctx context.Context, meterID string, from, to time.Time, step Step, loc *time.Location) ([]Point, error) {
	ctx = pointQuery(ctx)
	args := []any{string(step), meterID, from, to}
	switch {
	case step.calendar():
		args[0] = loc.String()
	case step == Step1h:
		args = args[1:] // consumption_hourly holds 1h rows only
	}
	vs, err := s.validatedRows(ctx, validatedSQL(step), step.calendar(), args)
	if err == nil && !step.calendar() {
		slices.SortFunc(vs, func(a, b validatedRow) int { return a.start.Compare(b.start) })
		for i := 1; i < len(vs); i++ {
			if vs[i].start.Equal(vs[i-1].start) { // a window stored twice: FINAL decides
				if vs, err = s.validatedRows(ctx, validatedFinalSQL(step), false, args); err == nil {
					slices.SortFunc(vs, func(a, b validatedRow) int { return a.start.Compare(b.start) })
				}
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("query validated consumption: %w", err)
	}
	points := make([]Point, len(vs))
	values := make([]validatedValues, len(vs))
	for i, r := range vs {
		p, v := &points[i], &values[i]
		p.Start, p.Wh = bucketStart(r.start, step, loc), r.wh
		expected := r.expected
		if step.calendar() {
			// Slots of the local day or month, whether or not the job computed them all.
			expected = uint32(step.next(p.Start, loc).Sub(p.Start) / (15 * time.Minute))
		}
		if expected > 0 {
			v.completeness = float64(r.present) / float64(expected)
		}
		v.quality, v.estimated, v.edited, v.questioned = r.quality, r.estimated, r.edited, r.questionable
		p.Quality, p.Estimated, p.Edited, p.Questionable, p.Completeness = &v.quality, &v.estimated, &v.edited, &v.questioned, &v.completeness
	}
	return points, nil
}

// validatedRows runs a validated query; calendar queries have no computed_at column.
func (s *Service) validatedRows(ctx context.Context, sql string, calendar bool, args []any) ([]validatedRow, error) {
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		vs   []validatedRow
		r    validatedRow
		dest = []any{&r.start, &r.computed, &r.wh, &r.quality, &r.present, &r.expected, &r.estimated, &r.edited, &r.questionable}
	)
	if calendar {
		dest = append(dest[:1], dest[2:]...)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		vs = append(vs, r)
	}
	return vs, rows.Err()
}

// Table returns the points as a table for CSV and Arrow: start and wh, and for validated
// consumption quality, estimated, edited, questionable and completeness.
func (c Consumption) Table() *table.Table {
	n := len(c.Points)
	starts, whs := make([]time.Time, n), make([]int64, n)
	for i, p := range c.Points {
		starts[i], whs[i] = p.Start, p.Wh
	}
	t := table.New(table.Times("start", starts), table.Int64s("wh", whs))
	if c.Source != SourceValidated {
		return t
	}
	qs, est, ed, quest, comp := make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]float64, n)
	for i, p := range c.Points {
		qs[i], est[i], ed[i], quest[i], comp[i] = uint64(*p.Quality), uint64(*p.Estimated), uint64(*p.Edited), uint64(*p.Questionable), *p.Completeness
	}
	t.Columns = append(t.Columns, table.UInt64s("quality", qs), table.UInt64s("estimated", est), table.UInt64s("edited", ed),
		table.UInt64s("questionable", quest), table.Float64s("completeness", comp))
	return t
}
