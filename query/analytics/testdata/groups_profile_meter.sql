SELECT toUInt64(toHour(start, ?) * 60 + toMinute(start, ?)) AS minute_of_day, sum(wh) AS total_wh, uniqExact(toDate(start, ?)) AS days
FROM consumption FINAL
WHERE resolution = ? AND meter_id = ? AND start >= ? AND start < ?
GROUP BY minute_of_day
ORDER BY minute_of_day
