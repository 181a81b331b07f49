package job

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/meterhouse/meterhouse/calendar/holidays"
	"github.com/meterhouse/meterhouse/forecast"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/weather"
)

// meter is one registry entry.
type meter struct {
	id, class, feeder, region, tariff string
	zone                              string
}

// group returns the meter's group id of kind k.
func (m *meter) group(k schema.GroupKind) string {
	switch k {
	case schema.KindFeeder:
		return m.feeder
	case schema.KindRegion:
		return m.region
	case schema.KindCustomerClass:
		return m.class
	case schema.KindTariff:
		return m.tariff
	}
	return schema.FleetID
}

// GroupFilter restricts a run to the meters of one group (and that group's own forecast).
type GroupFilter struct {
	// Kind and ID name the group; the fleet's ID is "all".
	Kind schema.GroupKind
	ID   string
}

// registry reads the meters, ordered by id, of the whole fleet or of one group.
func (j *Job) registry(ctx context.Context, g *GroupFilter) ([]meter, error) {
	q := `SELECT meter_id, customer_class, feeder, region, tariff, time_zone FROM meters FINAL`
	var args []any
	if g != nil && g.Kind != schema.KindFleet {
		q += ` WHERE ` + g.Kind.RegistryColumn() + ` = ?` // a constant column name
		args = append(args, g.ID)
	}
	rows, err := j.conn.Query(ctx, q+` ORDER BY meter_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read the registry: %w", err)
	}
	defer rows.Close()
	var out []meter
	zones := map[string]string{} // registry zone → the zone used
	for rows.Next() {
		var m meter
		if err := rows.Scan(&m.id, &m.class, &m.feeder, &m.region, &m.tariff, &m.zone); err != nil {
			return nil, fmt.Errorf("read the registry: %w", err)
		}
		z, ok := zones[m.zone]
		if !ok {
			// As the VEE job does (its profiles are then UTC days): an empty or unknown
			// zone is UTC.
			z = m.zone
			if _, err := time.LoadLocation(z); err != nil || z == "" || z == "Local" {
				j.log.Warn("forecast: meter time zone unknown; using UTC", "time_zone", m.zone)
				z = "UTC"
			}
			zones[m.zone] = z
		}
		m.zone = z
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the registry: %w", err)
	}
	return out, nil
}

// date is a civil date as the UTC midnight that starts it.
func date(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// localDay returns the UTC start and the number of hours of civil date day in loc.
func localDay(day time.Time, loc *time.Location) (time.Time, int) {
	s := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
	e := time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, loc)
	return s.UTC(), int(e.Sub(s) / time.Hour)
}

// profileColumns selects a consumption_profiles row for dayProfile. The hours travel as
// one string ("812,790,,805": an empty element is an incomplete hour) rather than two
// arrays: the driver scans a string directly but an array by reflection, which measured
// about 15 µs per row, most of a million meters' read.
const profileColumns = `meter_id, day, start, arrayStringConcat(arrayMap((v, n) -> if(n = 4, toString(v), ''), wh, intervals), ',')`

// dayProfile is one consumption_profiles row: hours holds the complete hours' Wh,
// comma-separated, empty for an incomplete hour.
type dayProfile struct {
	day, start time.Time
	hours      string
}

// addProfile folds a profile row into the clock-hour load of series s, whose day 0 is
// first, masking every hour that starts at or after issued (a replay of an old issue
// never sees what arrived for later hours) and every incomplete hour. wh and known are
// scratch buffers, grown as needed.
func addProfile(load []float64, first time.Time, loc *time.Location, r *dayProfile, issued time.Time, wh *[]float64, known *[]bool) {
	k := int(date(r.day).Sub(first) / (24 * time.Hour))
	if k < 0 || (k+1)*forecast.HoursPerDay > len(load) {
		return
	}
	*wh, *known = (*wh)[:0], (*known)[:0]
	rest := r.hours
	for i := 0; ; i++ {
		field := rest
		j := strings.IndexByte(rest, ',')
		if j >= 0 {
			field, rest = rest[:j], rest[j+1:]
		}
		v, err := strconv.ParseInt(field, 10, 64)
		ok := field != "" && err == nil && r.start.Add(time.Duration(i+1)*time.Hour).Compare(issued) <= 0
		*wh = append(*wh, float64(v))
		*known = append(*known, ok)
		if j < 0 {
			break
		}
	}
	var c [forecast.HoursPerDay]float64
	forecast.ClockHours(&c, r.start, loc, *wh, *known)
	copy(load[k*forecast.HoursPerDay:], c[:])
}

// idRange is an inclusive range of meter ids.
type idRange struct{ lo, hi string }

// readProfiles streams the consumption_profiles rows of the days [from, to] of the meters
// in the id ranges, ordered by meter id and day, to fn (every meter inside a range: a
// caller that wants some of them filters). Ranges read efficiently under ORDER BY (day,
// meter_id); a scattered set of ids (IN a list) made ClickHouse scan every meter of every
// day instead.
func (j *Job) readProfiles(ctx context.Context, rs []idRange, from, to time.Time, fn func(id string, r *dayProfile) error) error {
	if len(rs) == 0 {
		return nil
	}
	var cond []string
	args := []any{from.Format(time.DateOnly), to.Format(time.DateOnly)}
	for _, r := range rs {
		cond = append(cond, "(meter_id >= ? AND meter_id <= ?)")
		args = append(args, r.lo, r.hi)
	}
	rows, err := j.conn.Query(ctx, `SELECT `+profileColumns+` FROM consumption_profiles FINAL
WHERE day >= toDate(?) AND day <= toDate(?) AND (`+strings.Join(cond, " OR ")+`) ORDER BY meter_id, day`, args...)
	if err != nil {
		return fmt.Errorf("read consumption profiles: %w", err)
	}
	defer rows.Close()
	var id string
	var r dayProfile
	for rows.Next() {
		if err := rows.Scan(&id, &r.day, &r.start, &r.hours); err != nil {
			return fmt.Errorf("read consumption profiles: %w", err)
		}
		if err := fn(id, &r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read consumption profiles: %w", err)
	}
	return nil
}

// sampleBlocks is the number of contiguous blocks a class's training sample is taken in.
const sampleBlocks = 20

// sample returns up to n members of a class (sorted by id) as sampleBlocks blocks of
// consecutive members spread evenly over the id order, with the id ranges that hold
// them: the same meters on every run while the membership does not change, and spread
// over the fleet's id space (ids often follow regions or installation dates).
func sample(ms []*meter, n int) (map[string]bool, []idRange) {
	ids := map[string]bool{}
	if n >= len(ms) {
		for _, m := range ms {
			ids[m.id] = true
		}
		if len(ms) == 0 {
			return ids, nil
		}
		return ids, []idRange{{ms[0].id, ms[len(ms)-1].id}}
	}
	blocks := min(sampleBlocks, n)
	per := n / blocks
	var rs []idRange
	for b := range blocks {
		start := b * len(ms) / blocks
		end := min(start+per, len(ms))
		if b == blocks-1 {
			end = min(start+n-per*(blocks-1), len(ms))
		}
		for _, m := range ms[start:end] {
			ids[m.id] = true
		}
		rs = append(rs, idRange{ms[start].id, ms[end-1].id})
	}
	return ids, rs
}

// dayTypes returns the day types of the days first … first+n−1 in region's calendar
// (cached per run).
func (r *run) dayTypes(ctx context.Context, region string, first time.Time, n int) ([]forecast.DayType, error) {
	key := fmt.Sprintf("%s|%s|%d", region, first.Format(time.DateOnly), n)
	if t, ok := r.types[key]; ok {
		return t, nil
	}
	if region == "" { // no calendar: Monday to Friday are working days
		out := make([]forecast.DayType, n)
		for d := range out {
			if wd := first.AddDate(0, 0, d).Weekday(); wd == time.Saturday || wd == time.Sunday {
				out[d] = forecast.DayWeekend
			}
		}
		r.types[key] = out
		return out, nil
	}
	days, err := r.job.calendars.Days(ctx, region, first, first.AddDate(0, 0, n-1))
	if err != nil {
		return nil, fmt.Errorf("calendar of region %q: %w", region, err)
	}
	out := make([]forecast.DayType, n)
	for d := range out {
		switch days.Kind(first.AddDate(0, 0, d)) {
		case holidays.Working, holidays.SubstitutedWorking:
			out[d] = forecast.DayWorking
		case holidays.Weekend:
			out[d] = forecast.DayWeekend
		default: // holiday, special day
			out[d] = forecast.DayHoliday
		}
	}
	r.types[key] = out
	return out, nil
}

// temps returns region's hourly temperatures by clock hour over the days first …
// first+n−1 of loc: observations before the issue day, and for the days from it on the
// latest forecast issued at or before the issue (NaN where none). Cached per run; nil when
// the region has no value at all.
func (r *run) temps(ctx context.Context, region string, loc *time.Location, first time.Time, n int) ([]float64, error) {
	key := fmt.Sprintf("%s|%s|%s|%d", region, loc, first.Format(time.DateOnly), n)
	if t, ok := r.temp[key]; ok {
		return t, nil
	}
	from, _ := localDay(first, loc)
	to, _ := localDay(first.AddDate(0, 0, n), loc)
	q := weather.Query{Region: region, Source: r.job.cfg.WeatherSource, From: from, To: r.issued.Truncate(time.Hour)}
	byHour := map[int64]float64{}
	var obs, fc weather.Series
	var err error
	if q.From.Before(q.To) {
		if obs, err = r.job.weather.Observed(ctx, q); err != nil {
			return nil, fmt.Errorf("temperatures of region %q: %w", region, err)
		}
	}
	q.From, q.To = r.issued.Truncate(time.Hour), to
	if fc, err = r.job.weather.Forecast(ctx, q, r.issued); err != nil {
		return nil, fmt.Errorf("temperature forecast of region %q: %w", region, err)
	}
	for _, v := range obs {
		byHour[v.ValidTime.Unix()] = v.TemperatureC
	}
	for _, v := range fc {
		byHour[v.ValidTime.Unix()] = v.TemperatureC
	}
	if len(byHour) == 0 {
		r.temp[key] = nil
		return nil, nil
	}
	out := clockDays(byHour, loc, first, n)
	r.temp[key] = out
	return out, nil
}

// groupSeries reads the hourly group_consumption of every group of kind k over the days
// first … first+n−1 of loc (complete hours before the issue only), as clock-hour series.
func (r *run) groupSeries(ctx context.Context, k schema.GroupKind, loc *time.Location, first time.Time, n int) (map[string]*forecast.DaySeries, error) {
	from, _ := localDay(first, loc)
	to := r.issued.Truncate(time.Hour)
	rows, err := r.job.conn.Query(ctx, `SELECT group_id, start, wh, intervals = expected_intervals FROM group_consumption FINAL
WHERE resolution = '1h' AND group_kind = ? AND start >= ? AND start < ? ORDER BY group_id, start`, string(k), from, to)
	if err != nil {
		return nil, fmt.Errorf("read group consumption: %w", err)
	}
	defer rows.Close()
	hourly := map[string]map[int64]float64{}
	for rows.Next() {
		var id string
		var start time.Time
		var wh int64
		var complete uint8
		if err := rows.Scan(&id, &start, &wh, &complete); err != nil {
			return nil, fmt.Errorf("read group consumption: %w", err)
		}
		if complete == 0 {
			continue
		}
		if hourly[id] == nil {
			hourly[id] = map[int64]float64{}
		}
		hourly[id][start.Unix()] = float64(wh)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read group consumption: %w", err)
	}
	out := map[string]*forecast.DaySeries{}
	for id, hs := range hourly {
		out[id] = &forecast.DaySeries{Load: clockDays(hs, loc, first, n)}
	}
	return out, nil
}

// clockDays folds hourly values keyed by the Unix time of each UTC hour onto the clock hours
// of the local days first … first+n−1 of loc (ClockHours: NaN where no value).
func clockDays(byHour map[int64]float64, loc *time.Location, first time.Time, n int) []float64 {
	out := make([]float64, n*forecast.HoursPerDay)
	var c [forecast.HoursPerDay]float64
	var vals []float64
	var known []bool
	for d := range n {
		start, hours := localDay(first.AddDate(0, 0, d), loc)
		vals, known = vals[:0], known[:0]
		for i := range hours {
			v, ok := byHour[start.Add(time.Duration(i)*time.Hour).Unix()]
			vals = append(vals, v)
			known = append(known, ok)
		}
		forecast.ClockHours(&c, start, loc, vals, known)
		copy(out[d*forecast.HoursPerDay:], c[:])
	}
	return out
}

// nanLoad returns n days of unknown load.
func nanLoad(n int) []float64 {
	l := make([]float64, n*forecast.HoursPerDay)
	for i := range l {
		l[i] = math.NaN()
	}
	return l
}
