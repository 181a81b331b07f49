SELECT start, computed_at, wh, quality, intervals, expected_intervals, estimated, edited, questionable
FROM consumption_hourly FINAL
WHERE meter_id = ? AND start >= ? AND start < ?
