INSERT INTO bench_x_query.readings (meter_id, ts, register_wh, quality)
SELECT
    concat('MTR-', toString(1000000 + intDiv(number, 2880))),
    toDateTime(1792887300 + (number % 2880) * 900),
    toInt64(intHash32(intDiv(number, 2880)) % 1000000 + (number % 2880) * (100 + intDiv(number, 2880) % 200) + intHash32(number) % 100),
    toUInt8(0)
FROM numbers(2880, 5760)
