SELECT meter_id, ts, register_wh, ingested_at
FROM readings
PREWHERE ts >= ? AND ts <= ?
WHERE meter_id IN (SELECT arrayJoin(?))
