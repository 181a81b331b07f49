SELECT meter_id, lo, hi,
    maxIf(ts, ts < lo), countIf(ts < lo),
    minIf(ts, ts > hi), countIf(ts > hi)
FROM (
    SELECT meter_id, ts
    FROM readings
    PREWHERE ts >= ? AND ts <= ?
    WHERE meter_id IN (SELECT arrayJoin(?))
) AS near
ALL INNER JOIN (
    SELECT m AS meter_id, toDateTime(l) AS lo, toDateTime(h) AS hi, toInt64(l) AS lo_s, toInt64(h) AS hi_s
    FROM system.one
    ARRAY JOIN ? AS m, ? AS l, ? AS h
) AS spans USING meter_id
WHERE toInt64(ts) >= lo_s - ? AND toInt64(ts) <= hi_s + ?
GROUP BY meter_id, lo, hi
