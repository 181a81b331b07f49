SELECT transform(meter_id, ?, arrayEnumerate(?), toUInt32(0)), toUInt32(start), wh, quality, toUInt32(computed_at)
FROM consumption
WHERE resolution = '15m' AND meter_id IN (SELECT arrayJoin(?)) AND start >= ? AND start < ?
