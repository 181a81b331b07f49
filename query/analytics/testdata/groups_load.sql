SELECT start, wh, meters, intervals, expected_intervals, estimated, questionable
FROM group_consumption FINAL
WHERE resolution = ? AND group_kind = ? AND group_id = ? AND start >= ? AND start < ?
ORDER BY start
