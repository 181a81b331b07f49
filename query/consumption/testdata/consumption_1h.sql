SELECT if(hour < ?, toDateTime(0), hour) AS b, argMaxMerge(wh_last) AS reg
FROM readings_hourly
WHERE meter_id = ? AND hour < ?
GROUP BY b
ORDER BY b
