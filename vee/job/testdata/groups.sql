INSERT INTO group_consumption (resolution, group_kind, group_id, start, wh, meters, intervals, expected_intervals, estimated, questionable, computed_at)
SELECT tupleElement(rb, 1), tupleElement(kg, 1), tupleElement(kg, 2), tupleElement(rb, 2),
    sum(c_wh), toUInt32(sum(c_meters)), toUInt32(sum(c_intervals)), toUInt32(sum(c_expected)),
    toUInt32(sum(c_estimated)), toUInt32(sum(c_questionable)), ?
FROM (
    SELECT rb, c_wh, c_meters, c_intervals, c_expected, c_estimated, c_questionable,
        arrayJoin(arrayFilter(x -> tupleElement(x, 3) = 1, [('feeder', feeder, toUInt8(known = 1 AND has(?, feeder))), ('region', region, toUInt8(known = 1 AND has(?, region))), ('customer_class', customer_class, toUInt8(known = 1 AND has(?, customer_class))), ('tariff', tariff, toUInt8(known = 1 AND has(?, tariff))), ('fleet', 'all', toUInt8(1))])) AS kg
    FROM (
        SELECT feeder, region, customer_class, tariff, known, rb,
            sum(wh) AS c_wh, uniqExact(meter_id) AS c_meters, sum(intervals) AS c_intervals,
            sum(expected_intervals) AS c_expected, sum(estimated) AS c_estimated, sum(questionable) AS c_questionable
        FROM (
            SELECT meter_id, wh, intervals, expected_intervals, estimated, questionable, feeder, region, customer_class, tariff, known,
                arrayJoin([('15m', start), ('1h', toStartOfHour(start)), ('1d', toStartOfDay(start))]) AS rb
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
        GROUP BY feeder, region, customer_class, tariff, known, rb
    )
)
GROUP BY rb, kg
