-- api_tokens: the API tokens, one row per token and state.
--
-- A token's text is shown once, when it is created, and stored only as the hex SHA-256 of
-- that text (hash). token_id is the token's public id, used to list and revoke it and named
-- in logs and audit records. ClickHouse has no UPDATE: revoking a token appends a copy of
-- its row with revoked = 1 and revoked_at, revoked_by set.
--
-- ENGINE ReplacingMergeTree(revoked): merges keep, per sorting key, the row with the
-- highest `revoked`, so a revocation always wins over the creation whatever the clocks say,
-- and no merge can bring a revoked token back. Readers use FINAL so that they never see a
-- revoked token as live before a merge has run.
-- ORDER BY (hash, token_id): authentication looks a token up by its hash on every request,
-- so the hash leads the primary key; both columns never change for a token, so the key is
-- also the deduplication key that pairs a revocation with its creation.
-- No PARTITION BY: the table holds one row (two when revoked) per token ever issued, a few
-- thousand at most, and keeps them all for the audit trail.
-- expires_at = 0 (1970-01-01 00:00:00) means the token never expires.
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
