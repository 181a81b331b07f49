-- consumption: validated consumption per meter and interval, at every resolution, written
-- by the VEE job (package validate). Billing, forecasts and analysts read it, never raw reads.
--
-- resolution is '15m', '1h', '1d' or '1mo'. start is the UTC instant the interval starts;
-- 1h rows are UTC hours, 1d and 1mo rows start at local midnight (first of the month) in
-- the meter's time zone, so a day holds 92, 96 or 100 quarter hours across DST changes.
-- wh is exact (15m values conserve the register difference, estimates included); quality
-- is the NAESB ESPI QualityOfReading code (vee.Quality), combined for coarser rows by vee's
-- rule (all equal: that code, else 13 mixed). intervals counts the measured 15-minute
-- intervals, expected_intervals the 15-minute slots of the interval (completeness is
-- intervals / expected_intervals); estimated, edited and questionable count 15-minute
-- intervals. flags lists the names of the rules raised; reasons holds one "rule: reason"
-- line per flag of a 15m row (empty on coarser rows).
--
-- ENGINE ReplacingMergeTree(computed_at): the job recomputes whole windows and writes them
-- again; a newer computed_at replaces the older row at merge time, and readers use FINAL.
-- Nothing feeds this table from raw rows (a plain-sum view would double count replays).
-- ORDER BY (resolution, meter_id, start): one meter's series at one resolution is one key
-- range, and the key is the replacement key.
-- PARTITION BY (resolution, toYYYYMM(start)): a month of one resolution is the unit of
-- recomputation and retention.
CREATE TABLE IF NOT EXISTS consumption (
    resolution {{lc "String"}},
    meter_id String,
    start DateTime,
    wh Int64,
    quality UInt8,
    intervals UInt32,
    expected_intervals UInt32,
    estimated UInt32,
    edited UInt32,
    questionable UInt32,
    flags Array(String),
    reasons Array(String),
    computed_at DateTime
) ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY (resolution, toYYYYMM(start))
ORDER BY (resolution, meter_id, start);
