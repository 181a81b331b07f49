SELECT edit_id, meter_id, start, end, wh, mode, reason, author, previous_wh, created_at
FROM consumption_edits
WHERE meter_id IN (SELECT arrayJoin(?)) AND start < ? AND end > ?
ORDER BY meter_id, created_at, edit_id
