-- admin_audit: the append-only trail of administration (token creation and revocation):
-- who did what to what, and when.
--
-- ENGINE MergeTree: rows are only ever appended, never replaced or deduplicated; nothing in
-- Meterhouse deletes from this table.
-- ORDER BY (at, event_id): the trail is read as a time range, newest first; event_id makes
-- each row identifiable.
-- PARTITION BY toYYYYMM(at): a month is the unit an auditor exports or archives.
-- detail holds the action's parameters as a JSON object (token name, roles, expiry).
CREATE TABLE IF NOT EXISTS admin_audit (
    at DateTime,
    event_id String,
    actor String,
    action {{lc "String"}},
    target String,
    detail String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, event_id);
