-- control_audit: the append-only, hash-chained audit log of remote control (package
-- control/audit): every request, approval, refusal, send and result, with its actor and
-- time. Entries are numbered 1, 2, 3, … without gaps (seq); hash is the SHA-256, in hex, of
-- seq, prev_hash and the entry's canonical encoding (at to the nanosecond, actor, event,
-- command_id, meter_id, detail), and prev_hash is entry seq-1's hash (64 zeros for entry
-- 1). Editing, reordering or removing an entry breaks the chain where it happened, and
-- `meterhouse audit verify` (or GET /v1/admin/audit/verify) says which seq; the chain's
-- head is also published to the Kafka topic audit-anchors, so cutting entries off the end
-- is detected too.
--
-- It lives in the private database: who asked to disconnect whose power, and why, is
-- personal (it tells of unpaid bills and medical needs), and analyst SQL must not reach
-- it. Only the application's user writes it.
--
-- ENGINE MergeTree, not a ReplacingMergeTree or CollapsingMergeTree: rows are only ever
-- appended, and no merge may ever replace or drop one, so a row inserted later to overwrite
-- an entry stays visible beside the original and verify reports both. Nothing in
-- Meterhouse updates or deletes rows here.
-- ORDER BY seq: verify reads the whole chain in seq order as one range scan, and the head
-- (resumed from when the log is opened) is the largest seq.
-- No PARTITION BY: the chain is verified whole and its rows are small (a few events per
-- command); an archive would cut it at an anchored seq, not at a month.
-- at holds the entry's time to the second and at_ns its nanoseconds (18.16 has no
-- DateTime64), so that the hash covers the exact time the entry was appended with.
CREATE TABLE IF NOT EXISTS {{private}}.control_audit (
    seq UInt64,
    at DateTime,
    at_ns UInt32,
    actor String,
    event {{lc "String"}},
    command_id String,
    meter_id String,
    detail String,
    prev_hash String,
    hash String
) ENGINE = MergeTree
ORDER BY seq;
