// Package consumption reads one meter's interval consumption: raw, as differences of the
// cumulative registers stored in readings and readings_hourly, or validated, from the
// consumption table the VEE job (package vee/job) writes, with quality, estimated, edited
// and questionable counts per point. Steps are 15 minutes, hours, and local days and
// months of an IANA time zone (package calendar walks them).
//
// Service.Consumption is plain Go for the components that read validated consumption
// (billing, forecasts); the HTTP handler of GET /v1/meters/{meter_id}/consumption is in
// http.go, the only file of the package that imports Echo.
package consumption
