-- consumption_profiles: one row per meter and local day holding that day's validated hourly
-- consumption as arrays, written by the VEE job beside the 1h and 1d rows of consumption
-- (from the same stored 15m rows, so the two never disagree). It is the compact feature
-- store the day-ahead forecaster reads: a forecast for a million meters needs the last
-- eight days of each, which here is 8 million rows instead of 192 million 1h rows read
-- FINAL in one stream.
--
-- day is the local calendar date in the meter's time zone (time_zone, as in the registry
-- when the row was computed); start is the UTC instant of that local midnight. wh[i] is the
-- energy of the UTC hour start + i hours, so the arrays hold 23, 24 or 25 elements across
-- daylight-saving changes; intervals[i] counts the measured or estimated 15-minute
-- intervals stored for that hour (0 to 4: 0 means no data yet, and wh[i] is then 0).
--
-- ENGINE ReplacingMergeTree(computed_at): every VEE run that touches a local day writes
-- its row again from all the day's stored 15m rows; readers use FINAL.
-- ORDER BY (day, meter_id): the forecaster reads whole days of every meter, which is one
-- key range per day; (day, meter_id) is also the replacement key.
-- PARTITION BY toYYYYMM(day): a month is the unit of retention.
CREATE TABLE IF NOT EXISTS consumption_profiles (
    day Date,
    meter_id String,
    time_zone {{lc "String"}},
    start DateTime,
    wh Array(Int64),
    intervals Array(UInt8),
    computed_at DateTime
) ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(day)
ORDER BY (day, meter_id);
