SELECT if(hour < ?, toDate('1970-01-01'), toDate(hour, ?)) AS b, argMax(last_wh, last_ts) AS reg
FROM hourly_registers
WHERE meter_id = ? AND hour >= ? AND hour < ?
GROUP BY b
ORDER BY b
