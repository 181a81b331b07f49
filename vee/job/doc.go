// Package job is the VEE job: it runs the VEE engine (validation, estimation and editing,
// the pure package vee) over the readings stored in ClickHouse and keeps the validated
// consumption tables that billing, forecasts and analysts read. It is configured by the
// vee section of the configuration and run by meterhouse serve (every vee.interval) and
// meterhouse vee run; importers name it veejob.
//
// The Job finds the (meter, local day) windows touched by readings ingested since its last
// run (late data included) and by manual edits, loads each meter's readings for the window
// together with the register anchors around it, its validated history and its edits, runs
// vee.Process with the rules of the meter's customer class in the meter's time zone, and
// writes:
//
//   - consumption at 15m for every interval of the window, then 1h, 1d and 1mo rows for
//     the meter's touched periods, aggregated from the stored 15m (and 1d) rows;
//   - consumption_profiles, one row per touched local day of the meter (the compact
//     feature store the day-ahead forecaster and billing read): per hour from the local
//     midnight (23, 24 or 25 elements) its energy, the 15m rows stored, the largest 15m
//     energy and the larger of its two 30-minute blocks of the local clock (demand
//     charges), the estimated and edited 15m rows, and the count and energy of the
//     substituted ones (estimated or edited), and the day's 15m rows themselves (slot,
//     energy and quality, which the job reads back as history: one row per meter and
//     day instead of 96), from the same 15m rows as the 1h and 1d rows
//     and with the same computed_at, so that recomputing a range (RunRange, meterhouse
//     vee run --from --to) backfills them;
//   - group_consumption for the touched (group, period) pairs: feeder, region, customer
//     class, tariff and the fleet, at 15m, 1h and UTC days;
//   - a vee_runs row advancing the watermark, last, once every write succeeded.
//
// A window the job cannot process (vee refuses its input, such as a stored edit off the
// grid; a time of the window, or of the local days and months it rolls up into, outside
// what ClickHouse reads back, decided before any query; a panic in the rule code) is
// isolated: the job writes nothing for it, records it in vee_failures with the reason,
// counts it in meterhouse_vee_failed_windows_total (failed attempts) and
// meterhouse_vee_open_failed_windows (windows still failed), lists it in
// Result.Failures, and computes every other window; the watermark advances, and each
// incremental run retries the failed windows as they were until they compute (status
// resolved).
//
// Every table is a ReplacingMergeTree versioned by computed_at, and each run writes with a
// computed_at above every earlier run's, so rerunning after a crash at any point rewrites
// the same rows: the job is replay-safe. Loads are batched over many meters per query,
// and a batch of Config.BatchMeters windows holds in memory its readings, its 15m rows
// (with the validated history) and the 1h, 1d and profile rows of its local days until
// they are inserted, then the 1d rows of its local months for the 1mo rows.
//
// The package also serves the editing API: POST and GET /v1/meters/{meter_id}/edits.
package job
