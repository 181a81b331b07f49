-- consumption_profiles is rebuilt in granules of 1 024 rows instead of the default 8 192,
-- with the same columns, engine, key and partitions (0030, 0043, 0045, 0060 give their
-- reasons).
--
-- Why: the VEE job reads the history of a batch of meters (a few thousand consecutive ids)
-- as one statement over 28 days. ORDER BY (day, meter_id) makes each day of the batch one
-- key range of a few thousand rows, and the 8 192-row granules that hold it hold mostly
-- other meters' rows, every one read with its arrays (about 1 KB a row). For
-- 2 000 meters and 29 days, 58 000 rows wanted: 547 000 rows read and 1.15 s of server CPU
-- in 8 192-row granules, 122 000 rows and 0.50 s in 1 024-row granules, 75 000 rows and
-- 0.57 s in 256-row granules (measured on 18.16, issue 13, README Performance). The
-- forecaster and billing read whole days, which the granule size does not change. The
-- primary index holds one (day, meter_id) per 1 024 rows: about 30 000 entries a month for
-- a million meters.
--
-- ClickHouse cannot change a table's granule size in place, so the rows are copied into a
-- new table, which then takes the name. Run it with the VEE job stopped (`meterhouse
-- migrate` before the new binary starts): a profile written during the copy stays in the
-- old table, which is dropped; `meterhouse vee run --from … --to …` over those days writes
-- it again from the 15-minute rows. The copy reads the table once, one block at a time.
--
-- Re-running after an interruption is safe:
--   - interrupted during the copy: the copy runs again into the partly filled table, and a
--     row copied twice is the same (day, meter_id, computed_at) twice, which the
--     replacement collapses; until merges run, readers keep one version per day (FINAL,
--     or the VEE job's and billing's own latest-version reads).
--   - interrupted after the rename: the new layout, now named consumption_profiles, is
--     copied into a fresh consumption_profiles_1024, the old table left behind (whose rows
--     the first pass copied) is dropped, and the two are swapped again.
--   - a server that stopped between the two renames of the one RENAME statement leaves
--     no consumption_profiles: the copy then fails naming it, and
--     `RENAME TABLE consumption_profiles_0030 TO consumption_profiles` restores it before
--     the migration is applied again.
CREATE TABLE IF NOT EXISTS consumption_profiles_1024 (
    day Date,
    meter_id String,
    time_zone {{lc "String"}},
    start DateTime,
    wh Array(Int64),
    intervals Array(UInt8),
    max15_wh Array(Int64) DEFAULT emptyArrayInt64(),
    max30_wh Array(Int64) DEFAULT emptyArrayInt64(),
    estimated Array(UInt8) DEFAULT emptyArrayUInt8(),
    edited Array(UInt8) DEFAULT emptyArrayUInt8(),
    substituted Array(UInt8) DEFAULT emptyArrayUInt8(),
    substituted_wh Array(Int64) DEFAULT emptyArrayInt64(),
    slot Array(UInt8) DEFAULT emptyArrayUInt8(),
    slot_wh Array(Int64) DEFAULT emptyArrayInt64(),
    slot_quality Array(UInt8) DEFAULT emptyArrayUInt8(),
    computed_at DateTime
) ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(day)
ORDER BY (day, meter_id)
SETTINGS index_granularity = 1024;

INSERT INTO consumption_profiles_1024 (day, meter_id, time_zone, start, wh, intervals, max15_wh, max30_wh, estimated, edited, substituted, substituted_wh, slot, slot_wh, slot_quality, computed_at)
SELECT day, meter_id, time_zone, start, wh, intervals, max15_wh, max30_wh, estimated, edited, substituted, substituted_wh, slot, slot_wh, slot_quality, computed_at
FROM consumption_profiles;

DROP TABLE IF EXISTS consumption_profiles_0030;

RENAME TABLE consumption_profiles TO consumption_profiles_0030, consumption_profiles_1024 TO consumption_profiles;

DROP TABLE IF EXISTS consumption_profiles_0030;
