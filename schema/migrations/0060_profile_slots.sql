-- consumption_profiles gains the day's 15-minute rows themselves, so that the VEE job
-- reads a meter's validated history as one row per local day instead of one row per
-- interval: 28 days of history were 2 688 rows of consumption per meter and run, the
-- largest read of the job, now 28 rows of three arrays (issue 13, README Performance).
-- Computed by the VEE job from the same stored 15m rows as the other arrays, in the same
-- insert (same computed_at), with one element per stored 15m row of the day, in start
-- order:
--
-- slot[i] is the row's position on the day's 15-minute grid, (start − day start) / 15 min
-- (0 to 99: a local day has 92, 96 or 100 quarters, and the rows of a day need not all
-- be stored).
-- slot_wh[i] is the row's energy and slot_quality[i] its quality code (package vee's
-- Quality), as in consumption.
--
-- Replay safety: nothing is summed from raw rows; the arrays are a copy of the day's 15m
-- rows at the profile's computed_at, replaced with the profile when the day is computed
-- again, so a profile after its merges holds exactly the rows consumption FINAL gives for
-- its day.
--
-- Rows written before this migration hold empty arrays (the DEFAULT). The job tells them
-- by length(slot_wh) <> arraySum(intervals) and reads the 15m rows of consumption for a
-- meter with such a day in its history, so results do not depend on whether the history
-- was written before or after the upgrade.
ALTER TABLE consumption_profiles
    ADD COLUMN slot Array(UInt8) DEFAULT emptyArrayUInt8() AFTER substituted_wh,
    ADD COLUMN slot_wh Array(Int64) DEFAULT emptyArrayInt64() AFTER slot,
    ADD COLUMN slot_quality Array(UInt8) DEFAULT emptyArrayUInt8() AFTER slot_wh;
