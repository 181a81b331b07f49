-- consumption_edits: manual edits of validated consumption, append-only. Each row is also
-- the audit record of the edit: who (author), when (created_at), why (reason), what (the
-- range [start, end), wh and mode) and the value it replaced (previous_wh: the validated
-- total of the range just before the edit). The readings themselves are never changed, so
-- the original stays queryable as raw consumption.
--
-- mode is 'each' (every 15-minute interval of the range gets wh) or 'spread' (wh is the
-- range's total, split evenly). The VEE job applies a meter's edits in created_at order,
-- edit_id breaking ties; a later edit wins where ranges overlap.
--
-- ENGINE MergeTree: rows are never replaced or deleted.
-- ORDER BY (meter_id, start, edit_id): edits are read per meter and range.
-- PARTITION BY toYYYYMM(start): follows the consumption months.
CREATE TABLE IF NOT EXISTS consumption_edits (
    edit_id String,
    meter_id String,
    start DateTime,
    end DateTime,
    wh Int64,
    mode {{lc "String"}},
    reason String,
    author String,
    previous_wh Int64,
    created_at DateTime
) ENGINE = MergeTree
PARTITION BY toYYYYMM(start)
ORDER BY (meter_id, start, edit_id);
