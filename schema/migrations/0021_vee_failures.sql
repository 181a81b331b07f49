-- vee_failures: the meter windows the VEE job could not process (package validate), one
-- row per (meter_id, window_start, window_end) in its latest state. A window fails when
-- vee refuses its input (a stored edit off the 15-minute grid, as a wrapped DateTime
-- left one), when a computed time falls outside what a DateTime holds, or when the rule
-- code panics; the job writes nothing for that window, reports it in the run's result,
-- the log and meterhouse_vee_failed_windows_total, and carries on with every other meter.
-- The watermark advances for everyone; each incremental run retries the windows still
-- failed, and writes status 'resolved' once a retry computes them (or nothing is left to
-- compute).
--
-- status is 'failed' or 'resolved'. reason is a code from a short fixed list (edit, input,
-- time_range, panic: the metric's label values); message is the full error, naming the
-- field at fault. first_failed_at is when the window first failed, attempts the runs that
-- failed it since, run_id the run that wrote the row.
--
-- ENGINE ReplacingMergeTree(computed_at): each run writes a window's state again with its
-- own computed_at (above every earlier run's), so the latest state wins; read with FINAL
-- or argMax(…, computed_at). ORDER BY (meter_id, window_start, window_end): the key of a
-- window. Small: one row per failed window, ever.
CREATE TABLE IF NOT EXISTS vee_failures (
    meter_id String,
    window_start DateTime,
    window_end DateTime,
    status {{lc "String"}},
    reason {{lc "String"}},
    message String,
    first_failed_at DateTime,
    attempts UInt32,
    run_id String,
    computed_at DateTime
) ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (meter_id, window_start, window_end);
