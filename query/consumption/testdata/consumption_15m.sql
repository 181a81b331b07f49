SELECT if(ts <= ?, toDateTime(0), toStartOfFifteenMinutes(ts - 1)) AS b, argMax(register_wh, ts) AS reg
FROM readings
WHERE meter_id = ? AND ts <= ?
GROUP BY b
ORDER BY b
