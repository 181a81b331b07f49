-- billing_cycles: cycle calendars, the billing periods of agreements that follow a
-- calendar instead of a cycle day (an agreement's cycle_calendar names one; utilities
-- whose meters were read on route days bill on such calendars). Each row is one period
-- [period_from, period_to) of calendar `calendar`; loaded whole per calendar through PUT
-- /v1/billing/cycles/{calendar} or `meterhouse bill cycles load` (package billing/run),
-- which checks that the periods follow each other without gap or overlap.
--
-- ENGINE ReplacingMergeTree(recorded_at) ORDER BY (calendar, period_from): loading a
-- calendar again replaces its periods that start on the same dates; a period withdrawn is
-- written with period_to = period_from and skipped by readers (FINAL).
-- No PARTITION BY: a dozen rows per calendar and year.
CREATE TABLE IF NOT EXISTS billing_cycles (
    calendar {{lc "String"}},
    period_from Date,
    period_to Date,
    recorded_at DateTime
) ENGINE = ReplacingMergeTree(recorded_at)
ORDER BY (calendar, period_from);
