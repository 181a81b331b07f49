-- tariffs: the versions of each tariff document (package billing/tariff), one row per
-- load. document is the whole document as JSON (decimals as exact number literals), what
-- the bill calculation parses; tariff_id, effective_from, effective_to and name repeat
-- its fields for reads that do not parse it. effective_to is exclusive, 1970-01-01 when
-- the version is open-ended. version is the load's time in nanoseconds, unique per load;
-- loaded_at the same to the second.
--
-- ENGINE MergeTree: append-only. A load never replaces a row: loading a version of the
-- same tariff_id and effective_from again adds a row, and readers take the one with the
-- highest version, so every document ever loaded stays queryable (what a bill used).
-- ORDER BY (tariff_id, effective_from, version): every read is one tariff's versions, or
-- all tariffs' latest versions, in this order. No PARTITION BY: a few rows per tariff
-- and year.
CREATE TABLE IF NOT EXISTS tariffs (
    tariff_id {{lc "String"}},
    effective_from Date,
    effective_to Date,
    name String,
    document String,
    version UInt64,
    loaded_at DateTime
) ENGINE = MergeTree
ORDER BY (tariff_id, effective_from, version);
