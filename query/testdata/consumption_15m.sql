-- buckets
SELECT toStartOfFifteenMinutes(ts - 1) AS b, argMax(register_wh, ts) AS reg
FROM readings
WHERE meter_id = ? AND ts > ? AND ts <= ?
GROUP BY b
ORDER BY b
-- before
SELECT argMax(register_wh, ts), count()
FROM readings
WHERE meter_id = ? AND ts <= ?
