-- vee_runs: one row per finished run of the VEE job, append-only: the job's state and log.
--
-- watermark is the ingested_at (and edit created_at) high-water mark the run consumed: the
-- next incremental run takes readings with ingested_at > max(watermark). A row is written
-- only after every write of its run succeeded, so a crash leaves the watermark where it
-- was and the rerun recomputes the same windows (replay-safe). computed_at is the version
-- the run wrote its rows with; every run uses a computed_at above max(computed_at), so a
-- later run always replaces an earlier one's rows.
-- kind is 'incremental', 'range' (an explicit --from/--to recomputation) or 'edit'.
--
-- ENGINE MergeTree ORDER BY finished_at: small, read with max().
CREATE TABLE IF NOT EXISTS vee_runs (
    run_id String,
    kind {{lc "String"}},
    started_at DateTime,
    finished_at DateTime,
    watermark DateTime,
    computed_at DateTime,
    meters UInt32,
    windows UInt32,
    intervals UInt64
) ENGINE = MergeTree
ORDER BY finished_at;
