-- forecast_accuracy: forecast against actual per series and issue, written by the forecast
-- job once the target day's validated consumption has arrived, so analysts can see
-- whether a model drifts.
--
-- scope, id and issued are those of the forecasts row. hours counts the target hours that
-- had actuals (complete hours only); actual_wh and forecast_wh sum over those hours; mae
-- and rmse are in Wh per hour; mape is the mean of |error| / actual over hours with a
-- positive actual (NaN when none); bias is the mean of forecast − actual; mase divides mae
-- by the forecast's naive_mae (NaN when that is missing or zero). method and model_version
-- are copied from the forecast.
--
-- ENGINE ReplacingMergeTree(computed_at): the job rescores an issue when late actuals or
-- edits change the target day; readers use FINAL.
-- ORDER BY (scope, id, issued), PARTITION BY toYYYYMM(issued): as forecasts.
CREATE TABLE IF NOT EXISTS forecast_accuracy (
    scope {{lc "String"}},
    id String,
    issued DateTime,
    start DateTime,
    hours UInt16,
    actual_wh Float64,
    forecast_wh Float64,
    mae Float64,
    rmse Float64,
    mape Float64,
    bias Float64,
    mase Float64,
    method {{lc "String"}},
    model_version String,
    computed_at DateTime
) ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(issued)
ORDER BY (scope, id, issued);
