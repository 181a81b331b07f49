-- group_consumption: roll-ups of validated consumption per group of meters, written by the
-- VEE job from the per-meter 15m rows of consumption (FINAL) joined with the registry.
--
-- group_kind is 'feeder', 'region', 'customer_class', 'tariff' or 'fleet' (the fleet's
-- group_id is 'all' and includes meters missing from the registry). resolution is '15m',
-- '1h' or '1d'; start is UTC and 1d roll-ups use UTC days. meters counts the meters with
-- rows in the interval; intervals, expected_intervals, estimated and questionable sum the
-- members' 15-minute counts.
--
-- ENGINE ReplacingMergeTree(computed_at): a touched (group, period) is recomputed from all
-- its members and written again; readers use FINAL.
-- ORDER BY (resolution, group_kind, group_id, start): one group's series is one key range.
-- PARTITION BY (resolution, toYYYYMM(start)): as consumption.
CREATE TABLE IF NOT EXISTS group_consumption (
    resolution {{lc "String"}},
    group_kind {{lc "String"}},
    group_id String,
    start DateTime,
    wh Int64,
    meters UInt32,
    intervals UInt32,
    expected_intervals UInt32,
    estimated UInt32,
    questionable UInt32,
    computed_at DateTime
) ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY (resolution, toYYYYMM(start))
ORDER BY (resolution, group_kind, group_id, start);
