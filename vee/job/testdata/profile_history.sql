SELECT transform(meter_id, ?, arrayEnumerate(?), toUInt32(0)), toUInt32(start), toUInt32(computed_at),
    arrayStringConcat(arrayMap(x -> toString(x), slot), ','), arrayStringConcat(arrayMap(x -> toString(x), slot_wh), ','),
    arrayStringConcat(arrayMap(x -> toString(x), slot_quality), ','), toUInt8(length(slot_wh) = arraySum(intervals))
FROM consumption_profiles
WHERE meter_id IN (SELECT arrayJoin(?)) AND day >= toDate(?) AND day <= toDate(?)
