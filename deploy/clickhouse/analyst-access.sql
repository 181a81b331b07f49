-- Analyst access on a current ClickHouse server (SQL-driven access control; 24.8 or newer),
-- run by an administrator whose user has access_management enabled. It closes what the
-- users.xml setup of ClickHouse 18.16 cannot: the analyst gets SELECT on the platform
-- database only (no grant at all on meterhouse_private, which holds the API token hashes
-- and the admin audit trail), no table functions or other sources (no grant on SOURCES,
-- REMOTE, URL, FILE, ...), no dictGet of dictionaries it is not granted, and a settings
-- profile whose limits the analyst cannot raise: readonly, the resource limits of the
-- sql configuration section, and max_parser_depth / max_ast_depth, which stop a deeply
-- nested query while it is parsed instead of letting it overflow the server's stack.
--
-- Also set, in the server's config.xml, <access_control_improvements> with
-- <select_from_system_db_requires_grant>true</select_from_system_db_requires_grant> and
-- <select_from_information_schema_requires_grant>true</...>, so that the system database
-- (system.processes and system.query_log show other users' query texts) is not readable
-- without a grant; check the default of your server version.
--
-- Replace the password placeholder; `IDENTIFIED WITH sha256_hash BY '<hex>'` keeps the
-- clear password out of the statement (and the server's query log).
-- schema/access_ddl_test.go checks in chDB that every statement parses and every setting
-- exists; chDB cannot run access-control statements, so it cannot check their effect.

CREATE SETTINGS PROFILE IF NOT EXISTS analyst_readonly SETTINGS
    readonly = 1 CONST,
    allow_ddl = 0 CONST,
    allow_introspection_functions = 0 CONST,
    max_execution_time = 30 MAX 30,
    timeout_overflow_mode = 'throw' CONST,
    max_memory_usage = 2000000000 MAX 2000000000,
    max_rows_to_read = 1000000000 MAX 1000000000,
    read_overflow_mode = 'throw' CONST,
    max_result_rows = 1000000 MAX 1000000,
    max_result_bytes = 268435456 MAX 268435456,
    result_overflow_mode = 'throw' CONST,
    max_concurrent_queries_for_user = 8 MAX 8,
    max_query_size = 262144 MAX 262144,
    max_parser_depth = 200 MAX 200,
    max_ast_depth = 500 MAX 500;

CREATE ROLE IF NOT EXISTS meterhouse_analyst;

GRANT SELECT ON meterhouse.* TO meterhouse_analyst;

CREATE USER IF NOT EXISTS analyst
    IDENTIFIED WITH sha256_password BY 'replace-me'
    HOST LOCAL
    DEFAULT ROLE meterhouse_analyst
    SETTINGS PROFILE analyst_readonly
    DEFAULT DATABASE meterhouse;

GRANT meterhouse_analyst TO analyst;

-- The application user: everything on its two databases, nothing it does not need.
CREATE USER IF NOT EXISTS meterhouse
    IDENTIFIED WITH sha256_password BY 'replace-me-too'
    HOST LOCAL
    DEFAULT DATABASE meterhouse;

GRANT ALL ON meterhouse.* TO meterhouse;

GRANT ALL ON meterhouse_private.* TO meterhouse;
