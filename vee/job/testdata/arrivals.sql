SELECT meter_id, day, min(first_ts), max(last_ts)
FROM readings_arrivals
WHERE arrived > ? AND arrived <= ? AND last_ts >= ?
GROUP BY meter_id, day
ORDER BY meter_id, day
