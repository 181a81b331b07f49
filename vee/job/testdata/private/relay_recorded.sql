SELECT meter_id, min(at)
FROM {{private}}.control_relay
WHERE recorded_at > ? AND recorded_at <= ?
GROUP BY meter_id
ORDER BY meter_id
