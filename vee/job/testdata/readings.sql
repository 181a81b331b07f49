SELECT meter_id, ts, register_wh, ingested_at
FROM readings
WHERE meter_id IN (SELECT arrayJoin(?)) AND ts >= ? AND ts <= ?
