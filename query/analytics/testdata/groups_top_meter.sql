SELECT meter_id, sum(wh) AS total_wh, sum(intervals) AS total_intervals, sum(expected_intervals) AS total_expected
FROM consumption FINAL
WHERE resolution = '1h' AND start >= ? AND start < ?
GROUP BY meter_id
ORDER BY total_wh DESC, meter_id
LIMIT ?
