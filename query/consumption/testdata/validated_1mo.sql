SELECT toStartOfMonth(toDate(start, ?)) AS b, sum(wh), if(min(quality) = max(quality), min(quality), 13),
    toUInt32(sum(intervals)), toUInt32(sum(expected_intervals)), toUInt32(sum(estimated)), toUInt32(sum(edited)), toUInt32(sum(questionable))
FROM consumption FINAL
WHERE resolution = '15m' AND meter_id = ? AND start >= ? AND start < ?
GROUP BY b
ORDER BY b
