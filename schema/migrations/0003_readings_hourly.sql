-- readings_hourly: per meter and hour, the register readings that closed intervals inside
-- that hour, kept as aggregate states.
--
-- A reading stamped 01:00 closes the interval ending at 01:00, so it belongs to the hour
-- starting 00:00: the hour of a reading is toStartOfHour(ts - 1).
-- Only replay-safe states are kept: min, max, argMin, argMax and uniqExact give the same
-- result however many times a reading is inserted, so a replayed Kafka message changes
-- nothing. Consumption is derived from registers: energy in an hour is wh_last of that hour
-- minus wh_last of the hour before (see package query), never a sum of raw rows.
--
-- ENGINE AggregatingMergeTree: merges combine the states of equal (meter_id, hour) keys.
-- ORDER BY (meter_id, hour): one meter over a range is one key range; group roll-ups join
-- the registry on meter_id.
-- PARTITION BY toYYYYMM(hour): follows the raw table's months.
CREATE TABLE IF NOT EXISTS readings_hourly (
    meter_id String,
    hour DateTime,
    ts_first AggregateFunction(min, DateTime),
    ts_last AggregateFunction(max, DateTime),
    wh_first AggregateFunction(argMin, Int64, DateTime),
    wh_last AggregateFunction(argMax, Int64, DateTime),
    wh_min AggregateFunction(min, Int64),
    wh_max AggregateFunction(max, Int64),
    readings AggregateFunction(uniqExact, DateTime)
) ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (meter_id, hour);

-- readings_hourly_mv: feeds readings_hourly from every block inserted into readings. The
-- state names differ from the source columns on purpose (ClickHouse 18.16 rejects an alias
-- equal to a source column inside an aggregate).
CREATE MATERIALIZED VIEW IF NOT EXISTS readings_hourly_mv TO readings_hourly AS
SELECT
    meter_id,
    toStartOfHour(ts - 1) AS hour,
    minState(ts) AS ts_first,
    maxState(ts) AS ts_last,
    argMinState(register_wh, ts) AS wh_first,
    argMaxState(register_wh, ts) AS wh_last,
    minState(register_wh) AS wh_min,
    maxState(register_wh) AS wh_max,
    uniqExactState(ts) AS readings
FROM readings
GROUP BY meter_id, hour;
