-- meters: the registry, one row per version of a meter's entry.
--
-- ENGINE ReplacingMergeTree(updated_at): writing a meter again (new tariff, new feeder,
-- status change) inserts a new row; merges keep only the row with the newest updated_at per
-- meter_id, and readers use FINAL or argMax(…, updated_at) so they never see two versions.
-- ORDER BY meter_id: every lookup is by meter id, and the key is also the deduplication key.
-- No PARTITION BY: the registry is small (one row per meter, millions at most) and rows are
-- replaced, never aged out.
CREATE TABLE IF NOT EXISTS meters (
    meter_id String,
    customer_class {{lc "String"}},
    feeder {{lc "String"}},
    region {{lc "String"}},
    tariff {{lc "String"}},
    time_zone {{lc "String"}},
    life_support UInt8,
    status {{lc "String"}},
    updated_at DateTime
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY meter_id;
