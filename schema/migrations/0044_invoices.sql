-- invoices: the bills and adjustments billing runs issue (package billing/invoice), one row
-- per invoice with its lines as parallel arrays.
--
-- id is derived from the agreement, the billing period [period_from, period_to) (local
-- dates) and sequence (0 for the bill, 1, 2, … for the period's adjustments), so a run
-- killed halfway and started again writes the same ids; original is the bill's id on an
-- adjustment, empty on a bill. Every amount is an exact decimal written as text (total,
-- line_quantity, line_rate, line_amount: ClickHouse 18.16 has no dependable Decimal type,
-- and money never goes through a float); currency is its ISO 4217 code. estimated_wh and
-- estimated_intervals say how much of the period's energy was estimated.
--
-- ENGINE ReplacingMergeTree(issued): an invoice is written once; should a run write the
-- same id again (it decides from what is stored, so only after a crash between writing
-- and finishing), the rows are identical but for issued, and merges keep one; readers use
-- FINAL.
-- ORDER BY (agreement_id, period_from, id): a run reads one agreement's invoices of a
-- period before deciding; lookups by id go through the agreement in the API.
-- PARTITION BY toYYYYMM(period_from): a month of periods is the unit of retention.
CREATE TABLE IF NOT EXISTS invoices (
    id String,
    kind {{lc "String"}},
    sequence UInt16,
    original String,
    agreement_id String,
    account_id String,
    period_from Date,
    period_to Date,
    tariff_id String,
    tariff_version String,
    currency {{lc "String"}},
    total String,
    estimated_wh Int64,
    estimated_intervals UInt32,
    line_name Array(String),
    line_quantity Array(String),
    line_unit Array(String),
    line_rate Array(String),
    line_amount Array(String),
    issued DateTime
) ENGINE = ReplacingMergeTree(issued)
PARTITION BY toYYYYMM(period_from)
ORDER BY (agreement_id, period_from, id);
