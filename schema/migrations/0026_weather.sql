-- weather: observed and forecast temperature per region and hour (package weather).
--
-- valid_time is the hour the value is for (the start of the hour, UTC); issued_at is when
-- the forecast was issued, and for an observation (kind 'observed') the valid_time itself.
-- kind is 'observed' or 'forecast'; source names the provider or model ('bom', 'ecmwf-hres').
-- A forecast made on Monday for Wednesday stays apart from Wednesday's observation and from
-- Tuesday's forecast for Wednesday: readers choose by kind and issued_at, never mix them.
--
-- ENGINE ReplacingMergeTree(version): reloading the same region, kind, source, issue and
-- hour inserts a new row, and merges keep the highest version (the load's time in
-- nanoseconds), so a reload replaces rather than duplicates; readers use FINAL.
-- ORDER BY (region, kind, source, issued_at, valid_time): that tuple is the deduplication
-- key, and reads are one region's kind over a range of hours. No PARTITION BY: one row per
-- region, issue and hour is small (a 10-day hourly forecast four times a day is about a
-- million rows per region and year).
CREATE TABLE IF NOT EXISTS weather (
    region {{lc "String"}},
    valid_time DateTime,
    issued_at DateTime,
    kind {{lc "String"}},
    source {{lc "String"}},
    temperature_c Float64,
    version UInt64,
    loaded_at DateTime
) ENGINE = ReplacingMergeTree(version)
ORDER BY (region, kind, source, issued_at, valid_time);
