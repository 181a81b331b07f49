SELECT hour, last_ts, last_wh
FROM hourly_registers
WHERE meter_id = ? AND hour >= ? AND hour < ?
