-- forecast_models: one row per model the forecast job fitted, so that every forecast can
-- be traced to its training window, features and fitted error.
--
-- model_version identifies the model (issue time, class and a hash of its spec and
-- training window). class is the meter class it serves ('residential', …) or a group
-- series ('feeder/F001'). features describes the chosen spec ("lags=24 week day daytype
-- temp λ=0.001"), lambda the ridge strength, chosen on validation_days days held out of
-- the training window [trained_from, trained_to) (local dates). samples and series count
-- what it was fitted on; fit_mae and validation_mae are mean absolute errors on the scaled
-- series (Wh over each series' level), and baseline_validation_mae is seasonal naive
-- (same hour last week) on the same validation days, so relative MAE is one over the other.
--
-- ENGINE ReplacingMergeTree(computed_at) ORDER BY (issued, model_version): a re-run for
-- the same issue replaces its rows. PARTITION BY toYYYYMM(issued), as forecasts.
CREATE TABLE IF NOT EXISTS forecast_models (
    issued DateTime,
    model_version String,
    class String,
    features String,
    lambda Float64,
    trained_from Date,
    trained_to Date,
    validation_days UInt16,
    samples UInt64,
    series UInt64,
    fit_mae Float64,
    validation_mae Float64,
    baseline_validation_mae Float64,
    computed_at DateTime
) ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(issued)
ORDER BY (issued, model_version);
