// Package query is the read path's folder; it holds no code. Its packages are split by
// who uses them:
//
//   - query/consumption: per-meter consumption, raw (register differences of the stored
//     readings) and validated (the VEE job's tables), and the steps it is read in. Its
//     logic (Service.Consumption) is plain Go that billing and forecasts call; its HTTP
//     handler, GET /v1/meters/{meter_id}/consumption, is in its http.go.
//   - query/analytics: group and fleet load curves, top consumers, average daily profiles
//     and data-quality summaries, for analysts.
//   - query/sql: the analyst SQL endpoint, POST /v1/sql: its own connection pool and
//     ClickHouse user, its limits and the concurrency limiter, and the typed reading of
//     arbitrary result columns.
//   - query/sql/guard: the lexer and guard that decide whether an analyst's SQL may run,
//     with the function allow-list.
//
// Every consumption figure is a difference of cumulative registers, so it is exact and
// unaffected by replayed readings. The time bounds every read checks (schema.ParseTime,
// schema.CheckTime) and the group kinds (schema.GroupKind) are the data model's, shared
// with the write side, which imports nothing from here.
package query
