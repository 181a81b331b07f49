-- forecasts: day-ahead load forecasts per meter, per group and for the fleet, written by
-- the forecast job (package forecast/job), one row per series and issue.
--
-- scope is 'meter' (id is the meter id) or a group kind: 'feeder', 'region',
-- 'customer_class', 'tariff' or 'fleet' (id 'all'). issued is the issue time (UTC) the run
-- was made for: the forecast uses only data and weather forecasts available by then.
-- start is the UTC start of the first forecast hour (the target local day's midnight) and
-- wh[i] the forecast energy of hour start + i hours (23 to 25 hours for a local day).
-- method names what produced it: 'model' (the shared class model), 'sum' (a group as the
-- sum of its meters' forecasts), 'group-model' (the group's own model), or a baseline
-- with the reason ('seasonal-naive-week: 5 days of history', …). model_version is the
-- forecast_models row of the model used (empty for a baseline). scale is the per-series
-- level the shared model was scaled by (mean hourly Wh over the week before the issue; 0 for
-- a baseline and for groups).
-- naive_mae is the in-sample MAE (Wh per hour) of seasonal naive, same hour last week, over
-- the history the run read for the series: the denominator of its MASE once actuals arrive
-- (NaN when the history was too short).
--
-- ENGINE ReplacingMergeTree(computed_at): re-running the job for the same issue time
-- writes the same keys again and replaces them, never duplicates; readers use FINAL.
-- ORDER BY (scope, id, issued): one series' issues are one key range, newest last.
-- PARTITION BY toYYYYMM(issued): a month of issues is the unit of retention.
CREATE TABLE IF NOT EXISTS forecasts (
    scope {{lc "String"}},
    id String,
    issued DateTime,
    start DateTime,
    wh Array(Float64),
    method {{lc "String"}},
    model_version String,
    scale Float64,
    naive_mae Float64,
    computed_at DateTime
) ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(issued)
ORDER BY (scope, id, issued);
