-- control_commands: remote commands (package control/service), one row per command with
-- the fields fixed when it was requested. Its state is in control_transitions.
--
-- command_id is derived from (principal, idempotency key), or for a bulk request's member
-- from (batch id, meter id), so a retried request writes the same key; batch_id is empty
-- for a single request. seq orders a meter's commands (1, 2, …). nonce is the random
-- value the DAS refuses to see twice; not_before and not_after bound when it may act
-- (both signed). feeder is the meter's feeder when requested (the per-feeder rate cap).
-- needs_approval says why it needs a supervisor's approval (empty: it does not).
--
-- ENGINE ReplacingMergeTree(requested_at) ORDER BY command_id: no unique constraint in
-- ClickHouse, so a replayed write of the same command is the same key; readers use FINAL.
-- No PARTITION BY: a few commands per meter and year. Private database: who was
-- disconnected is personal, out of analyst SQL's reach.
CREATE TABLE IF NOT EXISTS {{private}}.control_commands (
    command_id String,
    batch_id String,
    meter_id String,
    seq UInt64,
    action {{lc "String"}},
    reason String,
    principal String,
    emergency UInt8,
    override UInt8,
    needs_approval String,
    nonce String,
    not_before DateTime,
    not_after DateTime,
    feeder String,
    requested_at DateTime
) ENGINE = ReplacingMergeTree(requested_at)
ORDER BY command_id;
