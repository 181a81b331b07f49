-- The private database {{private}}: credentials and audit trails live apart from the
-- platform database, so that no analyst user, which is granted the platform database only,
-- can read them. api_tokens and admin_audit move here from the platform database
-- (migrations 0004 and 0005 created them there); their definitions and the reasons for
-- their engines, keys and partitions are those of 0004 and 0005.
--
-- Token hashes: since this migration the auth store keeps HMAC-SHA256(auth secret, token)
-- instead of the bare SHA-256 of 0004. A hash cannot be turned into an HMAC (the token
-- text is needed), so the tokens issued before stop working: their rows are copied for the
-- record and revoked below, with revoked_by naming this migration; an admin re-issues them.
--
-- Re-running after an interruption is safe: the old tables are re-created empty when they
-- were already dropped, rows already copied are not copied again, and a revocation row
-- repeated collapses with the first (ReplacingMergeTree, same sorting key).
CREATE DATABASE IF NOT EXISTS {{private}};

CREATE TABLE IF NOT EXISTS {{private}}.api_tokens (
    token_id String,
    hash String,
    name String,
    roles Array(String),
    created_at DateTime,
    created_by String,
    expires_at DateTime,
    revoked UInt8,
    revoked_at DateTime,
    revoked_by String
) ENGINE = ReplacingMergeTree(revoked)
ORDER BY (hash, token_id);

CREATE TABLE IF NOT EXISTS {{private}}.admin_audit (
    at DateTime,
    event_id String,
    actor String,
    action {{lc "String"}},
    target String,
    detail String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, event_id);

CREATE TABLE IF NOT EXISTS api_tokens (
    token_id String,
    hash String,
    name String,
    roles Array(String),
    created_at DateTime,
    created_by String,
    expires_at DateTime,
    revoked UInt8,
    revoked_at DateTime,
    revoked_by String
) ENGINE = ReplacingMergeTree(revoked)
ORDER BY (hash, token_id);

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

INSERT INTO {{private}}.api_tokens (token_id, hash, name, roles, created_at, created_by, expires_at, revoked, revoked_at, revoked_by)
SELECT token_id, hash, name, roles, created_at, created_by, expires_at, revoked, revoked_at, revoked_by
FROM api_tokens
WHERE (hash, token_id, revoked) NOT IN (SELECT hash, token_id, revoked FROM {{private}}.api_tokens);

INSERT INTO {{private}}.api_tokens (token_id, hash, name, roles, created_at, created_by, expires_at, revoked, revoked_at, revoked_by)
SELECT token_id, hash, name, roles, created_at, created_by, expires_at, 1, now(), 'migration 0020 (tokens are stored as HMACs now: re-issue this one)'
FROM api_tokens FINAL
WHERE revoked = 0;

INSERT INTO {{private}}.admin_audit (at, event_id, actor, action, target, detail)
SELECT at, event_id, actor, action, target, detail
FROM admin_audit
WHERE event_id NOT IN (SELECT event_id FROM {{private}}.admin_audit);

DROP TABLE IF EXISTS api_tokens;

DROP TABLE IF EXISTS admin_audit;
