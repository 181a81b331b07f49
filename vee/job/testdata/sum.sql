SELECT sum(wh), count()
FROM consumption FINAL
WHERE resolution = '15m' AND meter_id = ? AND start >= ? AND start < ?
