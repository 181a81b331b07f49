// Package schema owns Meterhouse's data model in ClickHouse: the connection settings, the
// embedded SQL migrations and the migrator that applies them, the server-version
// capabilities the DDL adapts to, and the Go types of the rows the other packages read and
// write.
//
// Every table is created by a migration under migrations/; each file explains its ORDER BY,
// PARTITION BY and, for materialized views, why the states it keeps are replay-safe. The
// tables live in two databases: the platform database (Config.Database), which analysts
// may read, and its private companion (Config.PrivateDatabase, <database>_private) for
// credentials and audit trails, which no analyst user is granted; a migration names a
// private table {{private}}.table.
package schema
