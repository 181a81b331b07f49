-- control_relay gains at_ns: when the DAS observed the relay state, in nanoseconds since
-- 1970-01-01 UTC (the ack's at, which the DAS stamps to the nanosecond). at is a DateTime,
-- whole seconds, so two states of one meter within a second (a disconnect executed and a
-- relay closed on site moments later) read back in an arbitrary order, and a house without
-- power could show as connected. at stays at_ns truncated to its second, so that time
-- ranges still select on at; readers order a meter's rows by (at, at_ns): at_ns decides
-- within a second. Rows written before this migration read at_ns 0: they order by at
-- alone (and before the rows of the same second that have at_ns), as they did. No
-- DEFAULT expression (Int64 reads 0 without one): ClickHouse refuses a new column with one
-- in the sorting key.
--
-- at_ns joins the end of the sorting key (MODIFY ORDER BY may append a column added in the
-- same ALTER): two events of a meter in one second are two rows, not one replacing the
-- other, while a redelivered ack (same at_ns) still writes the same key.
ALTER TABLE {{private}}.control_relay
    ADD COLUMN at_ns Int64 AFTER at,
    MODIFY ORDER BY (meter_id, at, source, command_id, at_ns);
