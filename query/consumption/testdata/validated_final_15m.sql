SELECT start, computed_at, wh, quality, intervals, expected_intervals, estimated, edited, questionable
FROM consumption FINAL
WHERE resolution = ? AND meter_id = ? AND start >= ? AND start < ?
