-- control_relay: each meter's relay state over time, as the head-end (DAS) reported it: an
-- executed or failed command's result, or a relay changed on site (an event). Written by
-- the control component from topic command-acks; read by the VEE job, which flags
-- consumption recorded while a meter's relay was open (disconnected or armed) and never
-- estimates consumption for such an interval, and by the control API (a meter's
-- connection state is its latest row). A result that arrives late (after its command timed
-- out) is still a row here: a house without power must never show as connected.
--
-- It lives in the private database: who was disconnected is personal (it tells of unpaid
-- bills), out of analyst SQL's reach.
--
-- state is connected, disconnected or armed (armed: ready for the customer to reconnect
-- locally; no power flows). source is command or event; command_id is empty for an event.
-- ENGINE ReplacingMergeTree(recorded_at) ORDER BY (meter_id, at, source, command_id): a
-- Kafka redelivery of the same ack writes the same key, so replays leave one row; readers
-- of a meter's history read one key range in time order.
-- No PARTITION BY: a few rows per meter and year.
CREATE TABLE IF NOT EXISTS {{private}}.control_relay (
    meter_id String,
    at DateTime,
    state {{lc "String"}},
    source {{lc "String"}},
    command_id String,
    recorded_at DateTime
) ENGINE = ReplacingMergeTree(recorded_at)
ORDER BY (meter_id, at, source, command_id);
