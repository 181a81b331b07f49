-- consumption_profiles gains the per-hour determinants billing needs, so that a month's
-- bill for a million meters reads 30 million profile rows instead of 2.9 billion 15m rows.
-- Like wh and intervals, each array has one element per UTC hour start + i hours of the
-- local day (23, 24 or 25), computed by the VEE job from the same stored 15m rows and in
-- the same insert (same computed_at):
--
-- max15_wh[i] is the largest energy of one 15-minute interval stored in the hour (the
-- demand of a 15-minute demand interval is max15_wh * 4 W); 0 when the hour has no data.
-- max30_wh[i] is the largest energy of a 30-minute window of two consecutive quarter
-- hours whose second quarter lies in the hour (the window may start in the previous hour,
-- never before the local day's start, so the day's first quarter ends no window); a
-- quarter without a stored row counts 0 Wh, a window without any stored row counts not at
-- all, and an hour without such a window holds 0. The day's largest 30-minute demand is
-- arrayReduce('max', max30_wh) * 2 W.
-- estimated[i] and edited[i] count the 15-minute intervals of the hour whose value was
-- estimated (before any edit) and those a manual edit set (0 to 4 each, as the
-- estimated and edited columns of the 15m consumption rows).
--
-- Rows written before this migration hold empty arrays in all four columns (the DEFAULT;
-- length(max15_wh) = 0 tells them apart): recompute their range with
-- meterhouse vee run --from T --to T to fill them (see the README's backfilling profiles).
ALTER TABLE consumption_profiles
    ADD COLUMN max15_wh Array(Int64) DEFAULT emptyArrayInt64() AFTER intervals,
    ADD COLUMN max30_wh Array(Int64) DEFAULT emptyArrayInt64() AFTER max15_wh,
    ADD COLUMN estimated Array(UInt8) DEFAULT emptyArrayUInt8() AFTER max30_wh,
    ADD COLUMN edited Array(UInt8) DEFAULT emptyArrayUInt8() AFTER estimated;
