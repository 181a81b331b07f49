INSERT INTO group_consumption (resolution, group_kind, group_id, start, wh, meters, intervals, expected_intervals, estimated, questionable, computed_at)
SELECT tupleElement(rb, 1), tupleElement(kg, 1), tupleElement(kg, 2), tupleElement(rb, 2),
    sum(wh), toUInt32(uniqExact(meter_id)), toUInt32(sum(intervals)), toUInt32(sum(expected_intervals)),
    toUInt32(sum(estimated)), toUInt32(sum(questionable)), ?
FROM (
    SELECT meter_id, wh, intervals, expected_intervals, estimated, questionable,
        arrayJoin([('15m', start), ('1h', toStartOfHour(start)), ('1d', toStartOfDay(start))]) AS rb,
        arrayJoin(arrayFilter(x -> tupleElement(x, 3) = 1, [('feeder', feeder, toUInt8(known = 1 AND has(?, feeder))), ('region', region, toUInt8(known = 1 AND has(?, region))), ('customer_class', customer_class, toUInt8(known = 1 AND has(?, customer_class))), ('tariff', tariff, toUInt8(known = 1 AND has(?, tariff))), ('fleet', 'all', toUInt8(1))])) AS kg
    FROM (
        SELECT meter_id, start, wh, intervals, expected_intervals, estimated, questionable
        FROM consumption FINAL
        WHERE resolution = '15m' AND start >= ? AND start < ?
    ) AS member_rows
    ANY LEFT JOIN (
        SELECT meter_id, feeder, region, customer_class, tariff, toUInt8(1) AS known
        FROM meters FINAL
    ) AS members USING meter_id
)
GROUP BY rb, kg
