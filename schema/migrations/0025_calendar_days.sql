-- calendar_days: the holidays and special days of each region (package calendar/holidays),
-- one row per loaded entry. A date without an entry is a working day Monday to Friday and
-- a weekend day on Saturday and Sunday; kind is 'holiday', 'special' or 'working' (on a
-- Saturday or Sunday: a substituted working day; on a weekday: an earlier entry cancelled).
-- source says where the entry came from ('file', 'api', 'rules:DE' for a country's rules).
--
-- ENGINE ReplacingMergeTree(version): loading a date of a region again inserts a new row
-- and merges keep the one with the highest version (the load's time in nanoseconds, unique
-- per load), so a reload replaces a day; readers use FINAL so they never see two.
-- ORDER BY (region, date): every read is one region's range of dates, and the key is the
-- deduplication key. No PARTITION BY: a few hundred rows per region and decade.
CREATE TABLE IF NOT EXISTS calendar_days (
    region {{lc "String"}},
    date Date,
    kind {{lc "String"}},
    name String,
    source {{lc "String"}},
    version UInt64,
    loaded_at DateTime
) ENGINE = ReplacingMergeTree(version)
ORDER BY (region, date);
