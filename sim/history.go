package sim

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// History describes a simulated fleet's validated hourly history, generated inside
// ClickHouse (INSERT … SELECT FROM numbers), so that a million meters' eight weeks take
// minutes rather than the hours ingesting their readings would.
type History struct {
	// Meters is the number of meters; their ids are "H" followed by 10000000 + i.
	Meters int
	// First is the first day (a UTC date) and Days the number of days.
	First time.Time
	Days  int
	// Regions is the number of regions ("R0" …); meters are spread over them round robin.
	Regions int
	// Seed varies the noise.
	Seed uint64
}

// Check validates h.
func (h History) Check() error {
	if h.Meters < 1 || h.Meters > 10_000_000 {
		return fmt.Errorf("sim: %d meters: want 1 … 10 000 000", h.Meters)
	}
	if h.Days < 1 || h.Days > 400 {
		return fmt.Errorf("sim: %d days: want 1 … 400", h.Days)
	}
	if h.Regions < 1 || h.Regions > 100 {
		return fmt.Errorf("sim: %d regions: want 1 … 100", h.Regions)
	}
	return nil
}

// MeterID returns the id of meter i.
func (h History) MeterID(i int) string { return fmt.Sprintf("H%d", 10000000+i) }

// Temperature is the simulated temperature (°C) of every region at day d (from First),
// UTC hour hr: a 30-day swing of ±8 °C and a daily one of ±5 °C peaking at 15:00.
func (h History) Temperature(d, hr int) float64 {
	return 18 + 8*math.Sin(2*math.Pi*float64(d)/30) + 5*math.Sin(2*math.Pi*float64(hr-9)/24)
}

// The load model in SQL, over column m (meter number), lambda variable h (hour) and the
// day's constants {di} (day number from First) and {wd} (ISO weekday):
//   - class by m mod 10: 0–6 residential, 7–8 commercial, 9 industrial;
//   - level 200 … 1200 Wh per hour from a hash of the meter;
//   - a daily shape per class (residential morning and evening peaks, commercial and
//     industrial working hours), weekends lower for businesses and a little higher at home;
//   - a response to temperature: 1 + 0.002·(T − 18)²;
//   - a day factor (±10 %, per meter and day) and hourly noise (±15 %).
const (
	classSQL = `multiIf(m % 10 < 7, 'residential', m % 10 < 9, 'commercial', 'industrial')`
	shapeSQL = `multiIf(m % 10 < 7,
    (0.5 + 0.7 * exp(-pow(h - 19, 2) / 6) + 0.35 * exp(-pow(h - 7, 2) / 3)) * if({wd} >= 6, 1.1, 1),
  m % 10 < 9,
    (0.3 + 0.9 / (1 + exp(-(h - 8) * 2)) * (1 - 1 / (1 + exp(-(h - 18) * 2)))) * if({wd} >= 6, 0.45, 1),
    (0.8 + 0.25 * (h >= 7 AND h < 17)) * if({wd} >= 6, 0.75, 1))`
	tempSQL  = `(18 + 8 * sin(2 * pi() * {di} / 30) + 5 * sin(2 * pi() * (h - 9) / 24))`
	levelSQL = `(200 + (cityHash64(m, {seed}) % 1000))`
	dayNoise = `(1 + 0.1 * ((cityHash64(m, {di}, {seed}, 1) % 2001) / 1000 - 1))`
	hourNois = `(1 + 0.15 * ((cityHash64(m, {di}, h, {seed}) % 2001) / 1000 - 1))`
	// weightSQL is the weight of quarter hour k of hour h, 8 … 12, which splits the
	// hour's energy over its four quarters.
	weightSQL = `toInt64(8 + cityHash64(m, {di}, h, {seed}, {k}) % 5)`
)

func (h History) sql(s string) string { return strings.ReplaceAll(s, "{seed}", fmt.Sprint(h.Seed)) }

// Insert writes the fleet's registry (meters), its consumption_profiles for every day and,
// when groups is set, its hourly group_consumption per feeder, region, customer class,
// tariff and the fleet (the VEE job's outputs, which the forecast job reads). All meters
// are in time zone UTC.
//
// The profiles hold every column the VEE job writes, consistent as its would be: each
// hour's energy is split over four quarter hours by deterministic weights (8 … 12 each,
// the last quarter taking the rounding), max15_wh is the largest quarter and max30_wh the
// larger of the blocks of the first two and the last two quarters (the VEE job's
// clock-aligned blocks in UTC), intervals is 4 per hour, and no interval is estimated or
// edited (estimated, edited, substituted and substituted_wh are 0), so that a simulated
// month can be billed from the profiles alone.
func (h History) Insert(ctx context.Context, conn driver.Conn, groups bool) error {
	if err := h.Check(); err != nil {
		return err
	}
	first := time.Date(h.First.Year(), h.First.Month(), h.First.Day(), 0, 0, 0, 0, time.UTC)
	if err := h.InsertMeters(ctx, conn); err != nil {
		return err
	}
	load := fmt.Sprintf(`toInt64(greatest(0, round(%s * %s * (1 + 0.002 * pow(%s - 18, 2)) * %s * %s)))`,
		levelSQL, shapeSQL, tempSQL, dayNoise, hourNois)
	// One day per statement keeps each insert to one partition and bounded in memory.
	for d := range h.Days {
		day := first.AddDate(0, 0, d)
		dayVars := strings.NewReplacer("{di}", fmt.Sprint(d), "{wd}", fmt.Sprint(isoWeekday(day)))
		expr := dayVars.Replace(h.sql(load))
		var weights []string
		for k := range 4 {
			weights = append(weights, strings.ReplaceAll(dayVars.Replace(h.sql(weightSQL)), "{k}", fmt.Sprint(k)))
		}
		// w: the hours' energies; a: the hours' quarter weights; q: the hours' quarters,
		// the first three rounded down, the last the rest, so that they add up to the hour.
		q := fmt.Sprintf(`INSERT INTO consumption_profiles (day, meter_id, time_zone, start, wh, intervals, max15_wh, max30_wh,
  estimated, edited, substituted, substituted_wh, computed_at)
SELECT toDate('%[1]s'), concat('H', toString(10000000 + m)), 'UTC', toDateTime('%[1]s 00:00:00'),
  w, arrayMap(h -> toUInt8(4), range(24)),
  arrayMap(x -> greatest(greatest(x[1], x[2]), greatest(x[3], x[4])), q),
  arrayMap(x -> greatest(x[1] + x[2], x[3] + x[4]), q),
  arrayMap(h -> toUInt8(0), range(24)), arrayMap(h -> toUInt8(0), range(24)), arrayMap(h -> toUInt8(0), range(24)),
  arrayMap(h -> toInt64(0), range(24)), toDateTime('%[1]s 00:00:00')
FROM (
  SELECT m, w, arrayMap(h -> [%[4]s], range(24)) AS a,
    arrayMap((v, x) -> [intDiv(v * x[1], x[1] + x[2] + x[3] + x[4]), intDiv(v * x[2], x[1] + x[2] + x[3] + x[4]),
      intDiv(v * x[3], x[1] + x[2] + x[3] + x[4]),
      v - intDiv(v * x[1], x[1] + x[2] + x[3] + x[4]) - intDiv(v * x[2], x[1] + x[2] + x[3] + x[4]) - intDiv(v * x[3], x[1] + x[2] + x[3] + x[4])],
      w, a) AS q
  FROM (SELECT number AS m, arrayMap(h -> %[2]s, range(24)) AS w FROM numbers(%[3]d))
)`,
			day.Format(time.DateOnly), expr, h.Meters, strings.Join(weights, ", "))
		if err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("sim: insert the profiles of %s: %w", day.Format(time.DateOnly), err)
		}
	}
	if !groups {
		return nil
	}
	for _, g := range []struct{ kind, col string }{
		{"feeder", "feeder"}, {"region", "region"}, {"customer_class", "customer_class"}, {"tariff", "tariff"}, {"fleet", "'all'"},
	} {
		// Summing whole days' arrays (sumForEach) before splitting them into hours keeps the
		// work to one row per meter and day.
		q := fmt.Sprintf(`INSERT INTO group_consumption (resolution, group_kind, group_id, start, wh, meters, intervals, expected_intervals, estimated, questionable, computed_at)
SELECT '1h', '%s', gid, start + (i - 1) * 3600, v, toUInt32(n), toUInt32(4 * n), toUInt32(4 * n), 0, 0, ca
FROM (
  SELECT gid, start, sumForEach(wh) AS s, count() AS n, max(computed_at) AS ca
  FROM (SELECT meter_id, start, wh, computed_at FROM consumption_profiles WHERE meter_id LIKE 'H%%')
  ANY INNER JOIN (SELECT meter_id, %s AS gid FROM meters) USING meter_id
  GROUP BY gid, start
) ARRAY JOIN s AS v, arrayEnumerate(s) AS i`, g.kind, g.col)
		if err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("sim: insert the %s roll-ups: %w", g.kind, err)
		}
	}
	return nil
}

// InsertMeters writes the fleet's registry (meters) alone: Insert does it first, and a
// caller that writes its own readings or consumption (bench vee) uses it by itself.
func (h History) InsertMeters(ctx context.Context, conn driver.Conn) error {
	if err := h.Check(); err != nil {
		return err
	}
	first := time.Date(h.First.Year(), h.First.Month(), h.First.Day(), 0, 0, 0, 0, time.UTC)
	reg := fmt.Sprintf(`INSERT INTO meters (meter_id, customer_class, feeder, region, tariff, time_zone, life_support, status, updated_at)
SELECT concat('H', toString(10000000 + m)), %s, concat('F', toString(intDiv(m, %d))), concat('R', toString(m %% %d)),
  if(m %% 10 < 7, 'T-RES', 'T-BUS'), 'UTC', 0, 'active', toDateTime('%s')
FROM (SELECT number AS m FROM numbers(%d))`, classSQL, MetersPerFeeder, h.Regions, first.Format(time.DateTime), h.Meters)
	if err := conn.Exec(ctx, reg); err != nil {
		return fmt.Errorf("sim: insert the registry: %w", err)
	}
	return nil
}

// isoWeekday is 1 for Monday … 7 for Sunday.
func isoWeekday(t time.Time) int {
	if t.Weekday() == time.Sunday {
		return 7
	}
	return int(t.Weekday())
}
