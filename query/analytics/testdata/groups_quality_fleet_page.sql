SELECT meter_id, intervals_n, estimated_n, edited_n, questionable_n, flagged_n, flag_names
FROM
(
    SELECT meter_id FROM (SELECT meter_id FROM meters FINAL) WHERE meter_id > ? ORDER BY meter_id LIMIT ?
) AS members
ANY LEFT JOIN
(
    SELECT meter_id, sum(intervals) AS intervals_n, sum(estimated) AS estimated_n, sum(edited) AS edited_n,
        sum(questionable) AS questionable_n, countIf(notEmpty(flags)) AS flagged_n, groupUniqArrayArray(flags) AS flag_names
    FROM consumption FINAL
    WHERE resolution = '1h' AND start >= ? AND start < ?
      AND meter_id IN (SELECT meter_id FROM (SELECT meter_id FROM meters FINAL) WHERE meter_id > ? ORDER BY meter_id LIMIT ?)
    GROUP BY meter_id
) AS stats USING meter_id
ORDER BY meter_id
