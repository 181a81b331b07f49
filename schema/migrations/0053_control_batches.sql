-- control_batches: bulk remote-command requests, one row per batch; its members are the
-- control_commands rows with its batch_id. batch_id is derived from (principal,
-- idempotency key), so a retried bulk request writes the same key. selector says how the
-- meters were chosen (list, or group kind/id).
--
-- control_approvals: a supervisor's approval of a command or a batch (kind command or
-- batch, target_id its id). Approvals are also transitions of the commands they approve;
-- this table keeps who approved what as a fact of its own.
--
-- Both ENGINE ReplacingMergeTree with the key as ORDER BY: a retried write is the same
-- key; readers use FINAL. Private database, like control_commands.
CREATE TABLE IF NOT EXISTS {{private}}.control_batches (
    batch_id String,
    principal String,
    action {{lc "String"}},
    reason String,
    selector String,
    meters UInt32,
    needs_approval String,
    requested_at DateTime
) ENGINE = ReplacingMergeTree(requested_at)
ORDER BY batch_id;

CREATE TABLE IF NOT EXISTS {{private}}.control_approvals (
    target_id String,
    kind {{lc "String"}},
    approver String,
    at DateTime
) ENGINE = ReplacingMergeTree(at)
ORDER BY (target_id, approver);
