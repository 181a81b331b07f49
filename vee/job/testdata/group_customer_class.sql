INSERT INTO group_consumption (resolution, group_kind, group_id, start, wh, meters, intervals, expected_intervals, estimated, questionable, computed_at)
SELECT tupleElement(rb, 1), 'customer_class', g, tupleElement(rb, 2),
    sum(wh), toUInt32(uniqExact(meter_id)), toUInt32(sum(intervals)), toUInt32(sum(expected_intervals)),
    toUInt32(sum(estimated)), toUInt32(sum(questionable)), ?
FROM (
    SELECT meter_id, wh, intervals, expected_intervals, estimated, questionable,
        arrayJoin([('15m', start), ('1h', toStartOfHour(start)), ('1d', toStartOfDay(start))]) AS rb, g
    FROM (
        SELECT meter_id, start, wh, intervals, expected_intervals, estimated, questionable
        FROM consumption FINAL
        WHERE resolution = '15m' AND start >= ? AND start < ?
            AND meter_id IN (SELECT meter_id FROM meters FINAL WHERE customer_class IN (SELECT arrayJoin(?)))
    ) AS member_rows
    ALL INNER JOIN (
        SELECT meter_id, customer_class AS g
        FROM meters FINAL
        WHERE customer_class IN (SELECT arrayJoin(?))
    ) AS members USING meter_id
)
GROUP BY rb, g
