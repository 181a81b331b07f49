-- service_agreements: the history of each service agreement (package registry), one row per
-- change, never replaced. An agreement is a customer account (account_id) supplied at a
-- service point (service_point_id) through a meter from start_date (move-in) to end_date
-- (move-out, the last day supplied; 1970-01-01 while open). The agreement owns the tariff,
-- the customer class and the billing cycle: cycle_day (1-28, the day each period starts)
-- or cycle_calendar (the name of a cycle calendar; then cycle_day is 0). valid_from is the
-- date from which the version's meter, tariff, class and cycle hold, until the next
-- valid_from: a meter exchange mid-period is a second version with the new meter_id from
-- the exchange date. start_date and end_date are the agreement's as a whole: the newest
-- version's dates apply. Two versions with the same valid_from are a correction: the newer
-- version (the write's time in nanoseconds) wins. The customer's name, address and
-- life-support flag are personal and live in the private database
-- ({{private}}.agreement_customers, beside this migration), out of analyst SQL's reach.
--
-- ENGINE MergeTree, not ReplacingMergeTree: every version is kept, so that a bill for last
-- March reads last March's tariff; readers pick versions themselves (registry.Timeline).
-- ORDER BY (agreement_id, valid_from, version): reads are one agreement's versions in date
-- order; the overlap check reads the agreements of one meter (meter_id is not in the key:
-- the table is small enough to scan).
-- No PARTITION BY: a few rows per agreement, kept for ever.
CREATE TABLE IF NOT EXISTS service_agreements (
    agreement_id String,
    account_id String,
    service_point_id String,
    meter_id String,
    tariff {{lc "String"}},
    customer_class {{lc "String"}},
    cycle_day UInt8,
    cycle_calendar {{lc "String"}},
    start_date Date,
    end_date Date,
    valid_from Date,
    version UInt64,
    recorded_at DateTime,
    author String
) ENGINE = MergeTree
ORDER BY (agreement_id, valid_from, version);

-- agreement_customers: the personal data of each version of service_agreements (same
-- agreement_id, valid_from and version): the customer's name and service address and the
-- life-support flag (premises with life-support equipment, never to be disconnected
-- remotely). In the private database, which no analyst user is granted. The meters table's
-- life_support column is no longer written from the registry (always 0): the flag's owner
-- is this table.
--
-- ENGINE MergeTree, ORDER BY (agreement_id, valid_from, version), no PARTITION BY: as
-- service_agreements, whose rows these complete one to one.
CREATE TABLE IF NOT EXISTS {{private}}.agreement_customers (
    agreement_id String,
    valid_from Date,
    version UInt64,
    customer_name String,
    address String,
    life_support UInt8
) ENGINE = MergeTree
ORDER BY (agreement_id, valid_from, version);
