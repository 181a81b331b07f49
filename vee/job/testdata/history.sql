SELECT meter_id, start, wh, quality, computed_at
FROM consumption
WHERE resolution = '15m' AND meter_id IN (SELECT arrayJoin(?)) AND start >= ? AND start < ?
