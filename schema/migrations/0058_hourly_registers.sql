-- hourly_registers: per meter and hour, the last register reading that closed an interval
-- inside that hour, as plain columns: exactly what raw per-meter consumption at 1h, 1d and
-- 1mo reads (package query/consumption), and nothing else.
--
-- Why a table beside readings_hourly: a meter's month hourly read readings_hourly's
-- argMax states (wh_last), which ClickHouse deserializes state by state for every row of
-- every granule it reads (8192-row granules, so about 25 000 states for the 720 hours of
-- one meter), and it cost 4.4 to 5.2 ms of server CPU a request; the same answer from
-- these plain columns in 1024-row granules, through the uncompressed cache, costs 2.0 to
-- 2.8 ms, measured on a busy machine (issue 13, README Performance). readings_hourly stays
-- for analysts and its other states.
--
-- Replay safety: the view below keeps, per inserted block, the latest reading of each
-- (meter_id, hour) with its time; ReplacingMergeTree(last_ts) keeps at merge time the row
-- with the latest last_ts of each (meter_id, hour). A replayed reading brings a row equal to
-- one already stored (same last_ts, same register), a late reading of an earlier minute a
-- row that loses to the stored one, a late reading of a later minute the row that wins:
-- the hour's register is the reading with the greatest ts whatever the order and the
-- number of deliveries, as argMax(register_wh, ts) over the raw rows. Until merges have
-- run, readers take argMax(last_wh, last_ts) per hour over the rows they read (the query
-- does so), never a sum or a count.
--
-- A reading stamped ts closes the interval ending at ts, so it belongs to the hour
-- toStartOfHour(ts - 1), as in readings_hourly.
--
-- ENGINE ReplacingMergeTree(last_ts): see above.
-- ORDER BY (meter_id, hour): one meter over a range is one key range, read in hour order;
-- the key is the replacement key.
-- PARTITION BY toYYYYMM(hour): follows the raw table's months.
-- index_granularity 1024: a point query reads whole granules; a meter's month is about 720
-- rows, which 8192-row granules would surround with ten times as many rows of other meters.
-- The primary index holds one (meter_id, hour) per 1024 rows: about 8.6 million entries,
-- some 150 MB of memory, for a year of a million meters.
CREATE TABLE IF NOT EXISTS hourly_registers (
    meter_id String,
    hour DateTime,
    last_ts DateTime,
    last_wh Int64
) ENGINE = ReplacingMergeTree(last_ts)
PARTITION BY toYYYYMM(hour)
ORDER BY (meter_id, hour)
SETTINGS index_granularity = 1024;

-- hourly_registers_mv: feeds hourly_registers from every block inserted into readings.
-- The names differ from the source columns on purpose (ClickHouse 18.16 rejects an alias
-- equal to a source column inside an aggregate).
CREATE MATERIALIZED VIEW IF NOT EXISTS hourly_registers_mv TO hourly_registers AS
SELECT
    meter_id,
    toStartOfHour(ts - 1) AS hour,
    max(ts) AS last_ts,
    argMax(register_wh, ts) AS last_wh
FROM readings
GROUP BY meter_id, hour;

-- The history stored before this migration, from readings_hourly: each of its rows (a
-- state not merged yet, or a merged one) gives a candidate (its latest ts, the register of
-- that ts), and the replacement keeps the latest per hour, as above, so the copy needs no
-- GROUP BY and holds no more memory than a block. It runs after the view exists: a block
-- inserted into readings before the view was created is in readings_hourly when this
-- SELECT starts, one inserted after goes through the view, and a block seen by both gives
-- the same row twice, which the replacement collapses. Only an insert still running while
-- the view is created could be missed by both: migrate with ingest stopped, as
-- `meterhouse migrate` runs before `serve`.
INSERT INTO hourly_registers (meter_id, hour, last_ts, last_wh)
SELECT meter_id, hour, finalizeAggregation(ts_last), finalizeAggregation(wh_last)
FROM readings_hourly;
