SELECT meter_id, start, wh, quality
FROM consumption FINAL
WHERE resolution = '15m' AND meter_id IN (SELECT arrayJoin(?)) AND start >= ? AND start < ?
ORDER BY meter_id, start
