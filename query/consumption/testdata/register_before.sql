SELECT argMax(last_wh, last_ts), count()
FROM hourly_registers
WHERE meter_id = ? AND hour < ?
