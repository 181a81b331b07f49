SELECT meter_id, toDate(ts) AS d, min(ts), max(ts)
FROM readings
WHERE ts >= ? AND ts <= ? AND ingested_at <= ?
GROUP BY meter_id, d
ORDER BY meter_id, d
