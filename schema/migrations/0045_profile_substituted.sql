-- consumption_profiles gains the estimated energy per hour that a bill reports, so that
-- billing's fast path can flag estimated consumption and say how much of it there is
-- without reading 15m rows. Like wh and intervals, each array has one element per UTC
-- hour start + i hours of the local day (23, 24 or 25), computed by the VEE job from the
-- same stored 15m rows and in the same insert (same computed_at):
--
-- substituted[i] counts the 15-minute intervals of the hour whose value is not the
-- measured one, those with estimated + edited > 0 on their 15m row (estimated, edited,
-- or both; 0 to 4), which is what billing marks estimated.
-- substituted_wh[i] is the energy of those intervals (the part of wh[i] that is
-- estimated or edited; 0 when substituted[i] is 0).
--
-- From this migration on, max30_wh[i] holds the larger energy of the hour's two
-- 30-minute blocks aligned to the local clock, the hour's first two and its last two
-- quarters (the demand windows billing uses, [:00, :30) and [:30, :00) of each local
-- hour: the hours begin at the local midnight, also in zones with :30 or :45 offsets); a
-- quarter without a stored row counts 0 Wh, a block without any stored row counts not
-- at all, and an hour without a block holds 0.
--
-- Rows written before this migration hold empty substituted and substituted_wh arrays
-- (the DEFAULT) and max30_wh in migration 0043's older definition (sliding 30-minute
-- windows that may begin in the previous hour). Readers that need the new columns, or
-- the block definition of max30_wh, must treat a row with length(substituted) = 0 as not
-- computed yet: recompute its range with meterhouse vee run --from T --to T (see the
-- README's backfilling profiles).
ALTER TABLE consumption_profiles
    ADD COLUMN substituted Array(UInt8) DEFAULT emptyArrayUInt8() AFTER edited,
    ADD COLUMN substituted_wh Array(Int64) DEFAULT emptyArrayInt64() AFTER substituted;
