SELECT meter_id, at, at_ns, state, source, command_id
FROM {{private}}.control_relay FINAL
WHERE meter_id IN (SELECT arrayJoin(?)) AND at < ?
    AND (at >= ? OR (meter_id, at) IN (
        SELECT meter_id, max(at)
        FROM {{private}}.control_relay FINAL
        WHERE meter_id IN (SELECT arrayJoin(?)) AND at < ?
        GROUP BY meter_id))
ORDER BY meter_id, at, at_ns, source, command_id
