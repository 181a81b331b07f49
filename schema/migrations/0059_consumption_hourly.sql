-- consumption_hourly: the VEE job's validated 1h rows of consumption (0010), copied as
-- they are written, in a table of their own: what per-meter validated consumption at 1h
-- reads (package query/consumption).
--
-- Why a copy: a meter's validated month hourly read 720 rows of consumption, whose
-- 8192-row granules of thirteen columns mix all resolutions' partitions and the wide flags
-- and reasons arrays, with FINAL: 10 to 13 ms of server CPU a request, and still 5.6 ms
-- without FINAL; from this narrow table with 1024-row granules, which holds only the
-- columns the answer reads, 2.5 ms (issue 13, README Performance).
--
-- Replay safety: the view copies each inserted row of resolution 1h unchanged, computed_at
-- included, and the table replaces on computed_at with the same key as consumption, so it
-- holds after its merges exactly the rows consumption FINAL gives for resolution 1h, and
-- before them the same rows as consumption before its merges: a window the job writes
-- again (or a write repeated after a crash) is replaced here as it is there, in the same
-- insert order, so even equal computed_at resolve alike. Readers use FINAL, or read
-- without it and fall back to FINAL when a start appears twice, as for consumption. Nothing
-- here is summed or counted from raw rows.
--
-- ENGINE ReplacingMergeTree(computed_at): see above.
-- ORDER BY (meter_id, start): one meter's hours are one key range; the key is the
-- replacement key (consumption's without the constant resolution).
-- PARTITION BY toYYYYMM(start): a month, as consumption's partitions of one resolution.
-- index_granularity 1024: a point query reads whole granules; a meter's month is 720 rows.
CREATE TABLE IF NOT EXISTS consumption_hourly (
    meter_id String,
    start DateTime,
    wh Int64,
    quality UInt8,
    intervals UInt32,
    expected_intervals UInt32,
    estimated UInt32,
    edited UInt32,
    questionable UInt32,
    computed_at DateTime
) ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(start)
ORDER BY (meter_id, start)
SETTINGS index_granularity = 1024;

-- consumption_hourly_mv: copies every 1h row inserted into consumption.
CREATE MATERIALIZED VIEW IF NOT EXISTS consumption_hourly_mv TO consumption_hourly AS
SELECT meter_id, start, wh, quality, intervals, expected_intervals, estimated, edited, questionable, computed_at
FROM consumption
WHERE resolution = '1h';

-- The rows stored before this migration, unchanged (the replacement collapses them as
-- consumption's merges do). It runs after the view exists: an insert finished before the
-- view was created is in consumption when this SELECT starts, a later one goes through the
-- view, and a row seen by both is stored twice with the same computed_at and values, which
-- the replacement collapses. Migrate with the VEE job stopped, as `meterhouse migrate`
-- runs before `serve`.
INSERT INTO consumption_hourly (meter_id, start, wh, quality, intervals, expected_intervals, estimated, edited, questionable, computed_at)
SELECT meter_id, start, wh, quality, intervals, expected_intervals, estimated, edited, questionable, computed_at
FROM consumption
WHERE resolution = '1h';
