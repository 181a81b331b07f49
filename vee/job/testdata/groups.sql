INSERT INTO group_consumption (resolution, group_kind, group_id, start, wh, meters, intervals, expected_intervals, estimated, questionable, computed_at)
SELECT arrayElement(['15m', '1h', '1d'], r + 1), tupleElement(kg, 1), tupleElement(kg, 2), bucket,
    sum(c_wh), toUInt32(sum(c_meters)), toUInt32(sum(c_intervals)), toUInt32(sum(c_expected)),
    toUInt32(sum(c_estimated)), toUInt32(sum(c_questionable)), ?
FROM (
    SELECT r, bucket, c_wh, c_meters, c_intervals, c_expected, c_estimated, c_questionable,
        arrayJoin(arrayFilter(x -> tupleElement(x, 3) = 1, [('feeder', m_feeder, toUInt8(m_known = 1 AND has(?, m_feeder))), ('region', m_region, toUInt8(m_known = 1 AND has(?, m_region))), ('customer_class', m_customer_class, toUInt8(m_known = 1 AND has(?, m_customer_class))), ('tariff', m_tariff, toUInt8(m_known = 1 AND has(?, m_tariff))), ('fleet', 'all', toUInt8(1))])) AS kg
    FROM (
        SELECT combo_id, r, bucket, any(feeder) AS m_feeder, any(region) AS m_region, any(customer_class) AS m_customer_class, any(tariff) AS m_tariff, any(known) AS m_known,
            sum(wh) AS c_wh, if(r = 0, count(), uniqExactIf(meter_id, r != 0)) AS c_meters, sum(intervals) AS c_intervals,
            sum(expected_intervals) AS c_expected, sum(estimated) AS c_estimated, sum(questionable) AS c_questionable
        FROM (
            SELECT meter_id, wh, intervals, expected_intervals, estimated, questionable, feeder, region, customer_class, tariff, known, combo_id,
                arrayJoin([(toUInt8(0), start), (toUInt8(1), toStartOfHour(start)), (toUInt8(2), toStartOfDay(start))]) AS rb,
                tupleElement(rb, 1) AS r, tupleElement(rb, 2) AS bucket
            FROM (
                SELECT meter_id, start, wh, intervals, expected_intervals, estimated, questionable
                FROM consumption FINAL
                WHERE resolution = '15m' AND start >= ? AND start < ? AND meter_id < ?
                UNION ALL
                SELECT meter_id, start, wh, intervals, expected_intervals, estimated, questionable
                FROM consumption FINAL
                WHERE resolution = '15m' AND start >= ? AND start < ? AND meter_id >= ?
            ) AS member_rows
            ANY LEFT JOIN (
                SELECT meter_id, feeder, region, customer_class, tariff, toUInt8(1) AS known, cityHash64(feeder, region, customer_class, tariff, known) AS combo_id
                FROM meters FINAL
            ) AS members USING meter_id
        )
        GROUP BY combo_id, r, bucket
    )
)
GROUP BY r, bucket, kg
