package job

import (
	"strings"

	"github.com/meterhouse/meterhouse/schema"
)

// The SQL the job runs. Lists of meters and spans are bound as arrays: IN (SELECT
// arrayJoin(?)) keeps the primary key usable, and ARRAY JOIN over parallel arrays turns
// spans into a table to join the readings with. testdata/*.sql pins every statement.

// lastRunSQL reads the job's state: the watermark and computed_at of the latest run.
const lastRunSQL = `SELECT max(watermark), max(computed_at), count()
FROM vee_runs`

// arrivalsSQL finds the (meter, UTC day) pairs that inserts with ingested_at in (?, ?]
// touched, keeping readings stamped at or after the lateness bound (third parameter).
const arrivalsSQL = `SELECT meter_id, day, min(first_ts), max(last_ts)
FROM readings_arrivals
WHERE arrived > ? AND arrived <= ? AND last_ts >= ?
GROUP BY meter_id, day
ORDER BY meter_id, day`

// readingDaysSQL finds the (meter, UTC day) pairs with readings stamped in [?, ?] and
// ingested at or before the third parameter: the first run and range runs use it.
const readingDaysSQL = `SELECT meter_id, toDate(ts) AS d, min(ts), max(ts)
FROM readings
WHERE ts >= ? AND ts <= ? AND ingested_at <= ?
GROUP BY meter_id, d
ORDER BY meter_id, d`

// editsSinceSQL finds, per meter, the range covered by edits created in (?, ?].
const editsSinceSQL = `SELECT meter_id, min(start), max(end)
FROM consumption_edits
WHERE created_at > ? AND created_at <= ?
GROUP BY meter_id
ORDER BY meter_id`

// registrySQL reads the registry entries of a list of meters.
const registrySQL = `SELECT meter_id, customer_class, feeder, region, tariff, time_zone
FROM meters FINAL
WHERE meter_id IN (SELECT arrayJoin(?))`

// anchorsSQL finds, for each span (parallel arrays of meter ids, start and end in Unix
// seconds), the last reading before its start and the first after its end, no farther
// than the maximum gap. Parameters: earliest time, latest time (bounding the scan), meters,
// the span arrays, then the maximum gap in seconds twice. The time bounds are a PREWHERE,
// as in readingsSQL. The gap is applied in Int64 seconds: DateTime arithmetic would wrap
// around for a span within the gap of 1970. Both sides of the join are named: servers
// since 20.x refuse a joined subquery without an alias.
const anchorsSQL = `SELECT meter_id, lo, hi,
    maxIf(ts, ts < lo), countIf(ts < lo),
    minIf(ts, ts > hi), countIf(ts > hi)
FROM (
    SELECT meter_id, ts
    FROM readings
    PREWHERE ts >= ? AND ts <= ?
    WHERE meter_id IN (SELECT arrayJoin(?))
) AS near
ALL INNER JOIN (
    SELECT m AS meter_id, toDateTime(l) AS lo, toDateTime(h) AS hi, toInt64(l) AS lo_s, toInt64(h) AS hi_s
    FROM system.one
    ARRAY JOIN ? AS m, ? AS l, ? AS h
) AS spans USING meter_id
WHERE toInt64(ts) >= lo_s - ? AND toInt64(ts) <= hi_s + ?
GROUP BY meter_id, lo, hi`

// readingsSQL loads every stored version of the readings stamped in [?, ?] of a list of
// meters (the third parameter), so that vee sees conflicting duplicates not yet merged
// away. It leaves the order to loadReadings: sorting on the server cost about a third of
// the statement's CPU (0.30 against 0.21 s for 202 000 rows of 2 000 meters, measured on
// 18.16), and unsorted it reads the parts in parallel. The time bounds are a PREWHERE: the
// server then reads the meter ids only of the rows in the range, not of all the granules
// the batch's meters share (0.10 against 0.16 s of CPU for those rows).
const readingsSQL = `SELECT meter_id, ts, register_wh, ingested_at
FROM readings
PREWHERE ts >= ? AND ts <= ?
WHERE meter_id IN (SELECT arrayJoin(?))`

// pointReadingsSQL loads the readings at exact (meter, Unix second) points: the anchors,
// in no order, like readingsSQL.
const pointReadingsSQL = `SELECT meter_id, ts, register_wh, ingested_at
FROM readings
WHERE (meter_id, ts) IN (
    SELECT m, toDateTime(t)
    FROM system.one
    ARRAY JOIN ? AS m, ? AS t
)`

// rowsSQL reads the current consumption rows of one resolution for a list of meters over
// [?, ?).
const rowsSQL = `SELECT meter_id, start, wh, quality, intervals, expected_intervals, estimated, edited, questionable, flags
FROM consumption FINAL
WHERE resolution = ? AND meter_id IN (SELECT arrayJoin(?)) AND start >= ? AND start < ?
ORDER BY meter_id, start`

// historySQL reads the stored 15m rows of a list of meters over [?, ?), every version
// with its computed_at and in no order: the columns vee's history holds. Reading them
// without FINAL and unsorted lets the server read the parts in parallel (an order of
// magnitude faster than FINAL on 18.16); loadHistory keeps the latest version of each
// interval, as FINAL would. The meter comes back as its 1-based position in the list
// (the list is the first three parameters) and times as Unix seconds, which spares the
// client a string and a time per row. The position is found by transform, which hashes
// the constant list once per block: indexOf scans the list for every row, and with 500
// meters that made the statement twenty times slower (2.1 s against 0.1 s for 1.4
// million rows, measured on 18.16).
const historySQL = `SELECT transform(meter_id, ?, arrayEnumerate(?), toUInt32(0)), toUInt32(start), wh, quality, toUInt32(computed_at)
FROM consumption
WHERE resolution = '15m' AND meter_id IN (SELECT arrayJoin(?)) AND start >= ? AND start < ?`

// profileHistorySQL reads the stored consumption_profiles of a list of meters for the
// local dates in [?, ?] (as YYYY-MM-DD), every version with its computed_at: the day's
// start, its 15m rows as arrays (migration 0060), and whether the arrays hold every
// stored row of the day (0 for a profile written before the migration). Like historySQL
// it names the meter by its 1-based position in the list (the first three parameters)
// and reads without FINAL; loadHistory keeps the latest version of each day. One row per
// meter and day instead of one per interval: 28 rows for 28 days of history, not 2 688.
// The arrays come back as text, [1,2,…]: clickhouse-go scans an array through
// reflection, element by element, which took 12 of the 18 s of process CPU in a run over 5 000 meters,
// where parsing the text takes a few nanoseconds a number (parseInts). toString of the
// whole array costs the server about a tenth less than joining the elements' texts (0.48
// against 0.54 s for 2 000 meters' 29 days, measured on 18.16). The slots of a day
// whose rows are all stored (0, 1, …) come back as an empty string, and so do the qualities of a day
// whose rows are all valid (0): most days, whose text is then only their energies.
const profileHistorySQL = `SELECT transform(meter_id, ?, arrayEnumerate(?), toUInt32(0)), toUInt32(start), toUInt32(computed_at),
    if(slot = arrayMap(x -> toUInt8(x), range(length(slot))), '', toString(slot)),
    toString(slot_wh),
    if(arrayAll(x -> x = 0, slot_quality), '', toString(slot_quality)),
    toUInt8(length(slot_wh) = arraySum(intervals))
FROM consumption_profiles
WHERE meter_id IN (SELECT arrayJoin(?)) AND day >= toDate(?) AND day <= toDate(?)`

// editsSQL reads the edits of a list of meters overlapping [?, ?), in the order they apply.
const editsSQL = `SELECT edit_id, meter_id, start, end, wh, mode, reason, author, previous_wh, created_at
FROM consumption_edits
WHERE meter_id IN (SELECT arrayJoin(?)) AND start < ? AND end > ?
ORDER BY meter_id, created_at, edit_id`

// sumSQL returns a meter's validated energy and its 15-minute rows over [?, ?).
const sumSQL = `SELECT sum(wh), count()
FROM consumption FINAL
WHERE resolution = '15m' AND meter_id = ? AND start >= ? AND start < ?`

const insertConsumption = `INSERT INTO consumption (resolution, meter_id, start, wh, quality, intervals, expected_intervals, estimated, edited, questionable, flags, reasons, computed_at)`

const insertProfiles = `INSERT INTO consumption_profiles (day, meter_id, time_zone, start, wh, intervals, max15_wh, max30_wh, estimated, edited, substituted, substituted_wh, slot, slot_wh, slot_quality, computed_at)`

const insertEdit = `INSERT INTO consumption_edits (edit_id, meter_id, start, end, wh, mode, reason, author, previous_wh, created_at)`

const insertRun = `INSERT INTO vee_runs (run_id, kind, started_at, finished_at, watermark, computed_at, meters, windows, intervals)`

// groupsSQL returns the statement that recomputes the roll-ups of the group kinds at 15m,
// 1h and UTC days over [?, ?) from the members' 15m rows, all kinds from one scan of the
// 15m rows: the fleet's takes every meter's rows in the range, and the scan is the cost
// of a roll-up. kinds are the kinds to roll up, in schema.GroupKinds order, the fleet
// last. Its parameters are computed_at, then one array of group ids per kind but the
// fleet (a meter counts in a group of a kind when its registry entry names the group and
// the group is listed), then from and to. The registry side has one row per meter
// (FINAL), joined ANY LEFT: every 15m row is kept (the fleet counts meters missing from
// the registry, whose known is 0), with its meter's groups, and both sides are named, as
// servers since 20.x require.
//
// The rows are added up in two steps. First per combination of the meter's groups (its
// registry columns of the kinds) and bucket (each resolution's period), counting the
// meters; then each combination's sums go to every group it belongs to,
// one kind each. A meter has one registry entry, so it is in one combination, and the
// meters of a group add up exactly over its combinations. A fleet has far fewer
// combinations than meters: the first step's GROUP BY takes each row three times (one
// per resolution) where a single step took it once per resolution and kind, fifteen
// times, each with its meter id hashed; over 20 000 meters' day the single step took
// 13.2 s.
//
// The meters of a 15m bucket are its rows (FINAL keeps one row per meter and start), so
// only the 1h and UTC-day buckets count distinct meters: 25 set entries per meter and day
// instead of 121. Counting every bucket's meters with uniqExact held about 121 million
// entries for a million meters' day and went past the 8 GB limit per query of the local
// server (7.45 GiB, measured; 3.26 GiB with the counts); the server's memory for the
// statement grows with the meters times the buckets of 1h and 1d in the range.
//
// The first step groups by a 64-bit hash of the combination (computed once per meter on
// the registry side) and a bucket of fixed size (resolution number, start) rather than
// by the combination's strings and the resolution's name: over a million meters' day
// 80 s against 113 s (the statement alone, on 18.16). Two combinations whose hashes
// collide would be added up together; with k combinations that happens with a chance of
// about k²/2⁶⁵, one in 37 million for a million combinations, and like everything else
// here it comes out the same on every run.
//
// The 15m rows are read in `parts` ranges of meter ids, one FINAL per range, united by
// UNION ALL: ClickHouse 18.16 reads a FINAL in one stream, and the branches of a UNION ALL
// run at once, so the server's cores share the read (over 50 000 meters' day, 0.57 s with
// two ranges against 0.91 s with one, measured). Each part's parameters are from and to, then
// its bounds: the first takes meter_id < ?, a middle one meter_id >= ? AND meter_id < ?,
// the last meter_id >= ?; the ranges cover every meter id once, so a meter's rows are
// summed exactly once, and one part reads them all. parts must be at least 1.
func groupsSQL(kinds []schema.GroupKind, parts int) string {
	var cols, combo []string
	for _, kind := range kinds {
		if kind != schema.KindFleet {
			cols = append(cols, kind.RegistryColumn())
			combo = append(combo, "any("+kind.RegistryColumn()+") AS m_"+kind.RegistryColumn())
		}
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO group_consumption (resolution, group_kind, group_id, start, wh, meters, intervals, expected_intervals, estimated, questionable, computed_at)
SELECT arrayElement(['15m', '1h', '1d'], r + 1), tupleElement(kg, 1), tupleElement(kg, 2), bucket,
    sum(c_wh), toUInt32(sum(c_meters)), toUInt32(sum(c_intervals)), toUInt32(sum(c_expected)),
    toUInt32(sum(c_estimated)), toUInt32(sum(c_questionable)), ?
FROM (
    SELECT r, bucket, c_wh, c_meters, c_intervals, c_expected, c_estimated, c_questionable,
        arrayJoin(arrayFilter(x -> tupleElement(x, 3) = 1, [`)
	for i, kind := range kinds {
		if i > 0 {
			b.WriteString(", ")
		}
		if kind == schema.KindFleet {
			b.WriteString(`('` + string(kind) + `', '` + schema.FleetID + `', toUInt8(1))`)
			continue
		}
		col := "m_" + kind.RegistryColumn()
		b.WriteString(`('` + string(kind) + `', ` + col + `, toUInt8(m_known = 1 AND has(?, ` + col + `)))`)
	}
	b.WriteString(`])) AS kg
    FROM (
        SELECT combo_id, r, bucket, ` + strings.Join(combo, ", ") + `, any(known) AS m_known,
            sum(wh) AS c_wh, if(r = 0, count(), uniqExactIf(meter_id, r != 0)) AS c_meters, sum(intervals) AS c_intervals,
            sum(expected_intervals) AS c_expected, sum(estimated) AS c_estimated, sum(questionable) AS c_questionable
        FROM (
            SELECT meter_id, wh, intervals, expected_intervals, estimated, questionable, ` + strings.Join(cols, ", ") + `, known, combo_id,
                arrayJoin([(toUInt8(0), start), (toUInt8(1), toStartOfHour(start)), (toUInt8(2), toStartOfDay(start))]) AS rb,
                tupleElement(rb, 1) AS r, tupleElement(rb, 2) AS bucket
            FROM (`)
	for i := range parts {
		if i > 0 {
			b.WriteString(`
                UNION ALL`)
		}
		b.WriteString(`
                SELECT meter_id, start, wh, intervals, expected_intervals, estimated, questionable
                FROM consumption FINAL
                WHERE resolution = '15m' AND start >= ? AND start < ?`)
		switch {
		case parts == 1:
		case i == 0:
			b.WriteString(` AND meter_id < ?`)
		case i == parts-1:
			b.WriteString(` AND meter_id >= ?`)
		default:
			b.WriteString(` AND meter_id >= ? AND meter_id < ?`)
		}
	}
	b.WriteString(`
            ) AS member_rows
            ANY LEFT JOIN (
                SELECT meter_id, `)
	for _, c := range cols {
		b.WriteString(c + `, `)
	}
	b.WriteString(`toUInt8(1) AS known, cityHash64(` + strings.Join(cols, ", ") + `, known) AS combo_id
                FROM meters FINAL
            ) AS members USING meter_id
        )
        GROUP BY combo_id, r, bucket
    )
)
GROUP BY r, bucket, kg`)
	return b.String()
}

// openFailuresSQL reads the windows of vee_failures whose latest state is failed: meter,
// window start and end, first failure and attempts.
const openFailuresSQL = `SELECT meter_id, window_start, window_end, argMax(first_failed_at, computed_at), argMax(attempts, computed_at)
FROM vee_failures
GROUP BY meter_id, window_start, window_end
HAVING argMax(status, computed_at) = 'failed'
ORDER BY meter_id, window_start, window_end`

const insertFailure = `INSERT INTO vee_failures (meter_id, window_start, window_end, status, reason, message, first_failed_at, attempts, run_id, computed_at)`
