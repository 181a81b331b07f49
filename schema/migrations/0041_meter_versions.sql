-- meter_versions: the registry's history of each meter (package registry), one row per
-- change, never replaced. valid_from is the date from which the version holds; a version
-- holds until the next valid_from of the same meter. Two versions with the same valid_from
-- are a correction: the newer version (the write's time in nanoseconds) wins. The meter
-- owns its physical attributes: feeder, region, time_zone and status ('active' or
-- 'retired'; a meter is retired once, and no version follows its retirement). recorded_at
-- and author say when and by whom the version was written ('api:…', 'cli', 'import').
-- The flattened current view that VEE, forecast and the group roll-ups read stays the
-- meters table (0001), rewritten from this table and service_agreements on every change.
--
-- ENGINE MergeTree, not ReplacingMergeTree: the history is the point, so no merge may fold
-- two versions into one; readers pick a version themselves (registry.MeterAt).
-- ORDER BY (meter_id, valid_from, version): every read is one meter's (or a few meters')
-- versions in date order.
-- No PARTITION BY: a few rows per meter (millions of rows at most), kept for ever.
CREATE TABLE IF NOT EXISTS meter_versions (
    meter_id String,
    valid_from Date,
    feeder {{lc "String"}},
    region {{lc "String"}},
    time_zone {{lc "String"}},
    status {{lc "String"}},
    version UInt64,
    recorded_at DateTime,
    author String
) ENGINE = MergeTree
ORDER BY (meter_id, valid_from, version);
