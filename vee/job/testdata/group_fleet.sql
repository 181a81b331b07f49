INSERT INTO group_consumption (resolution, group_kind, group_id, start, wh, meters, intervals, expected_intervals, estimated, questionable, computed_at)
SELECT tupleElement(rb, 1), 'fleet', g, tupleElement(rb, 2),
    sum(wh), toUInt32(uniqExact(meter_id)), toUInt32(sum(intervals)), toUInt32(sum(expected_intervals)),
    toUInt32(sum(estimated)), toUInt32(sum(questionable)), ?
FROM (
    SELECT meter_id, wh, intervals, expected_intervals, estimated, questionable,
        arrayJoin([('15m', start), ('1h', toStartOfHour(start)), ('1d', toStartOfDay(start))]) AS rb, 'all' AS g
    FROM consumption FINAL
    WHERE resolution = '15m' AND start >= ? AND start < ?
)
GROUP BY rb, g
