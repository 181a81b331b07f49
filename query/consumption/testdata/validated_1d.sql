SELECT toDate(start, ?) AS b, sum(wh), if(min(quality) = max(quality), min(quality), 13),
    sum(intervals), sum(expected_intervals), sum(estimated), sum(edited), sum(questionable)
FROM consumption FINAL
WHERE resolution = '15m' AND meter_id = ? AND start >= ? AND start < ?
GROUP BY b
ORDER BY b
