-- control_transitions: each state a remote command entered, with when, who (a principal,
-- or "control" / "das") and a detail (a refusal's rule and reason, an ack's relay state).
-- A command's current state is its transition of the highest rank (control.State.Rank);
-- serve reloads the commands without a final state at start and resumes their timers.
--
-- ENGINE ReplacingMergeTree(recorded_at) ORDER BY (command_id, state): a command enters
-- each state at most once, so a replayed ack or a retried write rewrites the same key and
-- merges keep one row; readers use FINAL. Private database, like control_commands.
CREATE TABLE IF NOT EXISTS {{private}}.control_transitions (
    command_id String,
    state {{lc "String"}},
    at DateTime,
    actor String,
    detail String,
    recorded_at DateTime
) ENGINE = ReplacingMergeTree(recorded_at)
ORDER BY (command_id, state);
