SELECT meter_id, customer_class, feeder, region, tariff, time_zone
FROM meters FINAL
WHERE meter_id IN (SELECT arrayJoin(?))
