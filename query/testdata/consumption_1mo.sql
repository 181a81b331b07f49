-- buckets
SELECT toStartOfMonth(toDate(hour, ?)) AS b, argMaxMerge(wh_last) AS reg
FROM readings_hourly
WHERE meter_id = ? AND hour >= ? AND hour < ?
GROUP BY b
ORDER BY b
-- before
SELECT argMaxMerge(wh_last), count()
FROM readings_hourly
WHERE meter_id = ? AND hour < ?
