-- control_keys: the public keys that sign remote commands, by key id (control/wire). The
-- private keys exist only in their key files (control.key_file); this table holds public
-- halves only, so that what a DAS must trust can be read and checked. serve writes its
-- key's row at start; rotation adds a row with a new key id.
--
-- ENGINE ReplacingMergeTree(created_at) ORDER BY key_id: writing the same key again is the
-- same key. Private database.
CREATE TABLE IF NOT EXISTS {{private}}.control_keys (
    key_id String,
    public_key String,
    created_at DateTime
) ENGINE = ReplacingMergeTree(created_at)
ORDER BY key_id;
