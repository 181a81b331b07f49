// Package job runs the day-ahead load forecast of the fleet: every meter, every group of
// group_consumption and the fleet as a whole, once a day at a configured local time and on
// demand (meterhouse forecast run), and scores past forecasts against the actuals as they
// arrive.
//
// A run for issue time t uses only what was known at t: validated consumption of the hours
// before t (from consumption_profiles, the per-day arrays the VEE job keeps), the calendars
// of package calendar/holidays and the latest temperature forecast issued at or before t
// (package weather). Each meter gets the next local day of its time zone (23, 24 or 25
// hours). Models are shared per customer class and time zone (see package forecast): fitted
// on a deterministic sample of the class's meters over Config.HistoryDays, chosen on the
// last Config.ValidationDays days, and applied to every meter scaled by its own level. A
// meter whose recent history is incomplete gets a baseline forecast whose method says so.
//
// It writes forecasts (one row per series and issue: a re-run for the same issue time
// replaces, never duplicates), forecast_models (training window, features, fitted and
// validation error of every model) and forecast_accuracy; store.go, accuracy.go and
// http.go hold the storage, the scoring and the analyst routes.
package job
