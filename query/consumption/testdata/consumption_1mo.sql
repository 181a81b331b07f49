SELECT if(hour < ?, toDate('1970-01-01'), toStartOfMonth(toDate(hour, ?))) AS b, argMaxMerge(wh_last) AS reg
FROM readings_hourly
WHERE meter_id = ? AND hour < ?
GROUP BY b
ORDER BY b
