-- readings: the raw history, exactly as the DAS reported it.
--
-- ENGINE ReplacingMergeTree(ingested_at) with ORDER BY (meter_id, ts): Kafka delivers at
-- least once, so the same reading can be inserted twice after a crash or a replay. Rows
-- with equal (meter_id, ts) collapse to one at merge time (the most recently ingested wins).
-- Until a merge has run, readers count distinct (meter_id, ts) or use FINAL; aggregates use
-- only states that a duplicate cannot change (see 0003).
-- ORDER BY (meter_id, ts) also serves the main read path: one meter over a time range is a
-- single contiguous range of the primary key.
-- PARTITION BY toYYYYMM(ts): a month is the unit of backfill, re-validation and retention;
-- late data lands in its own month's partition, and a year of history is twelve parts-sets.
-- ts is the END of the interval the register closes, UTC, to the second.
CREATE TABLE IF NOT EXISTS readings (
    meter_id String,
    ts DateTime{{codec "DoubleDelta, LZ4"}},
    register_wh Int64{{codec "Delta, ZSTD(1)"}},
    quality UInt8,
    ingested_at DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (meter_id, ts);
