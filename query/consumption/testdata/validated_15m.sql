SELECT start AS b, wh, quality, toUInt64(intervals), toUInt64(expected_intervals),
    toUInt64(estimated), toUInt64(edited), toUInt64(questionable)
FROM consumption FINAL
WHERE resolution = ? AND meter_id = ? AND start >= ? AND start < ?
ORDER BY b
