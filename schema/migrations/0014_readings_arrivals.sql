-- readings_arrivals: which (meter, UTC day) each insert into readings touched, and when.
-- The VEE job reads it to find the windows to recompute since its watermark without
-- scanning the raw history: it is the job's "dirty (meter, day)" log.
--
-- One row per inserted block, meter and day: arrived is the block's ingested_at, first_ts
-- and last_ts bound the block's readings of that meter and day. A replayed reading adds a
-- row, which only makes the job recompute the same window to the same result; no energy
-- is derived from this table.
--
-- ENGINE MergeTree ORDER BY (arrived, meter_id, day): the job reads a range of arrived.
-- PARTITION BY toYYYYMM(arrived): old months can be dropped once the job is past them
-- (and expire by TTL where the server has it).
CREATE TABLE IF NOT EXISTS readings_arrivals (
    arrived DateTime,
    meter_id String,
    day Date,
    first_ts DateTime,
    last_ts DateTime,
    reading_count UInt64
) ENGINE = MergeTree
PARTITION BY toYYYYMM(arrived)
ORDER BY (arrived, meter_id, day){{if .TTL}}
TTL arrived + INTERVAL 100 DAY{{end}};

-- readings_arrivals_mv: feeds readings_arrivals from every block inserted into readings.
-- Aliases differ from the source column names (ClickHouse 18.16 rejects an alias equal to
-- a source column inside an aggregate).
CREATE MATERIALIZED VIEW IF NOT EXISTS readings_arrivals_mv TO readings_arrivals AS
SELECT
    max(ingested_at) AS arrived,
    meter_id,
    toDate(ts) AS day,
    min(ts) AS first_ts,
    max(ts) AS last_ts,
    count() AS reading_count
FROM readings
GROUP BY meter_id, day;
