SELECT meter_id, min(start), max(end)
FROM consumption_edits
WHERE created_at > ? AND created_at <= ?
GROUP BY meter_id
ORDER BY meter_id
