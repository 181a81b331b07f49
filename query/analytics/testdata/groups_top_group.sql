SELECT group_id, sum(wh) AS total_wh, sum(intervals) AS total_intervals, sum(expected_intervals) AS total_expected
FROM group_consumption FINAL
WHERE resolution = '1h' AND group_kind = ? AND start >= ? AND start < ?
GROUP BY group_id
ORDER BY total_wh DESC, group_id
LIMIT ?
