// Package api owns Meterhouse's HTTP server: the Echo instance, its configuration, the one
// error handler that turns domain errors (package fault) into status codes and JSON error
// bodies, authentication and role checks on every route, Prometheus metrics, the health
// and readiness routes and the OpenAPI document of every registered route. Components
// register their own routes on it through Server.Handle.
//
// Every route but /healthz, /readyz and /metrics needs a principal: a request carries
// "Authorization: Bearer <token>", the server's Authenticator (package auth) turns the token
// into a Principal, and the route's roles decide whether that principal may use it. Admin may
// use every route. A server built without an Authenticator refuses every non-public request.
package api
