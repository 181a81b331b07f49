-- billing_holds: the agreements a billing run could not bill, with the reason (a quarter
-- hour of the period not validated yet, no tariff version in force, …), so that billing
-- clerks see them through the API (GET /v1/billing/holds) rather than in a log. Written by
-- package billing/run: a row with the reason when a run holds an agreement's period, and a
-- row with an empty reason when a later run bills it (the hold is released).
--
-- ENGINE ReplacingMergeTree(recorded_at) ORDER BY (period_from, agreement_id, period_to):
-- the latest row of an agreement's period is its state; readers use FINAL and skip
-- released rows. A period's holds are one key range.
-- PARTITION BY toYYYYMM(period_from): a month of holds is dropped with its partition.
CREATE TABLE IF NOT EXISTS billing_holds (
    period_from Date,
    period_to Date,
    agreement_id String,
    cycle_day UInt8,
    reason String,
    recorded_at DateTime
) ENGINE = ReplacingMergeTree(recorded_at)
PARTITION BY toYYYYMM(period_from)
ORDER BY (period_from, agreement_id, period_to);
