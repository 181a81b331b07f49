SELECT transform(meter_id, ?, arrayEnumerate(?), toUInt32(0)), toUInt32(start), toUInt32(computed_at),
    if(slot = arrayMap(x -> toUInt8(x), range(length(slot))), '', toString(slot)),
    toString(slot_wh),
    if(arrayAll(x -> x = 0, slot_quality), '', toString(slot_quality)),
    toUInt8(length(slot_wh) = arraySum(intervals))
FROM consumption_profiles
WHERE meter_id IN (SELECT arrayJoin(?)) AND day >= toDate(?) AND day <= toDate(?)
