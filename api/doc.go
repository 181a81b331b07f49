// Package api owns Meterhouse's HTTP server: the Echo instance, its configuration, the one
// error handler that turns domain errors into status codes and JSON error bodies, and the
// health routes. Components register their own routes on it.
package api
