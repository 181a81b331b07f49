SELECT transform(meter_id, ?, arrayEnumerate(?), toUInt32(0)), toUInt32(start), toUInt32(computed_at),
    if(slot = arrayMap(x -> toUInt8(x), range(length(slot))), '', arrayStringConcat(arrayMap(x -> toString(x), slot), ',')),
    arrayStringConcat(arrayMap(x -> toString(x), slot_wh), ','),
    if(arrayAll(x -> x = 0, slot_quality), '', arrayStringConcat(arrayMap(x -> toString(x), slot_quality), ',')),
    toUInt8(length(slot_wh) = arraySum(intervals))
FROM consumption_profiles
WHERE meter_id IN (SELECT arrayJoin(?)) AND day >= toDate(?) AND day <= toDate(?)
