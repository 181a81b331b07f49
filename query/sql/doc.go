// Package sql is the analyst SQL endpoint, POST /v1/sql: it checks a statement with
// package guard, runs it on a connection pool of its own as a read-only ClickHouse user
// (Connect) under the limits of Config, bounds concurrent queries globally and per
// principal, and answers with a typed, bounded table. Importers name it analystsql.
package sql
