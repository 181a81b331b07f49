SELECT meter_id, ts, register_wh, ingested_at
FROM readings
WHERE (meter_id, ts) IN (
    SELECT m, toDateTime(t)
    FROM system.one
    ARRAY JOIN ? AS m, ? AS t
)
