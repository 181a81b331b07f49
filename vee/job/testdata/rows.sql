SELECT meter_id, start, wh, quality, intervals, expected_intervals, estimated, edited, questionable, flags
FROM consumption FINAL
WHERE resolution = ? AND meter_id IN (SELECT arrayJoin(?)) AND start >= ? AND start < ?
ORDER BY meter_id, start
