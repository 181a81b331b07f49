// Package query answers read requests over the stored readings and their aggregates:
// per-meter interval consumption today, and the load curves, roll-ups and analyst SQL that
// build on the same pieces. Every consumption figure is a difference of cumulative
// registers, so it is exact and unaffected by replayed readings.
package query
