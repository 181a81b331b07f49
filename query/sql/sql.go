package sql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/credentials"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/query/sql/guard"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/table"
)

// Config configures the analyst SQL endpoint: the ClickHouse user and connection pool
// it runs on, how many of its queries may run at once, and what one query may use.
type Config struct {
	// Username is the ClickHouse user analyst SQL runs as, on a connection pool of its own
	// opened to the clickhouse section's address and database, so that analysts cannot
	// take the connections of token checks, ingest or the VEE job. It should be a user
	// with readonly=1, the platform's analyst database only, and the limits below in its
	// settings profile.
	Username string `yaml:"username"`
	// Password is that user's password; it is redacted when configuration is printed.
	// Set at most one of Password and PasswordFile.
	Password string `yaml:"password" secret:"true"`
	// PasswordFile names a file holding that user's password (one trailing newline is
	// ignored), read when the pool is opened; the way to keep the secret out of
	// configuration files and the environment.
	PasswordFile string `yaml:"password_file"`
	// MaxOpenConns bounds the connections of the analyst pool; at least MaxConcurrent.
	MaxOpenConns int `yaml:"max_open_conns"`
	// MaxConcurrent bounds the analyst queries running at once in this process; one more
	// is refused at once with 429 and Retry-After (there is no queue).
	MaxConcurrent int `yaml:"max_concurrent"`
	// MaxConcurrentPerPrincipal bounds the analyst queries one principal (the name of the
	// token's holder) runs at once; one more is refused with 429. At most MaxConcurrent.
	MaxConcurrentPerPrincipal int `yaml:"max_concurrent_per_principal"`
	// MaxExecutionTime bounds one query's run time (ClickHouse max_execution_time, whole
	// seconds).
	MaxExecutionTime time.Duration `yaml:"max_execution_time"`
	// MaxMemoryUsage bounds the memory one query may use on the server, in bytes
	// (max_memory_usage).
	MaxMemoryUsage int `yaml:"max_memory_usage"`
	// MaxRowsToRead bounds the rows one query may read from tables (max_rows_to_read).
	MaxRowsToRead int `yaml:"max_rows_to_read"`
	// MaxResultRows bounds the rows of a result (max_result_rows); a larger result is
	// refused, never truncated. The server checks it and so does this process while it
	// reads the result.
	MaxResultRows int `yaml:"max_result_rows"`
	// MaxResultBytes bounds the size of a result in bytes: the server checks its
	// uncompressed size (max_result_bytes), and this process the memory the result takes
	// in its typed columns as it reads them, refusing the query (422) once that is over.
	MaxResultBytes int `yaml:"max_result_bytes"`
	// MaxQueryBytes bounds the length of the SQL text.
	MaxQueryBytes int `yaml:"max_query_bytes"`
}

// DefaultConfig runs as ClickHouse user analyst on a pool of 4 connections, at most 4
// queries at once and 2 per principal, and allows 30 s, 2 GB of memory, a billion rows
// read and a result of a million rows or 256 MiB.
func DefaultConfig() Config {
	return Config{
		Username:                  "analyst",
		MaxOpenConns:              4,
		MaxConcurrent:             4,
		MaxConcurrentPerPrincipal: 2,
		MaxExecutionTime:          30 * time.Second,
		MaxMemoryUsage:            2_000_000_000,
		MaxRowsToRead:             1_000_000_000,
		MaxResultRows:             1_000_000,
		MaxResultBytes:            256 << 20,
		MaxQueryBytes:             64 << 10,
	}
}

// Validate reports the first field that cannot work, naming it.
func (c Config) Validate() error {
	if c.Username == "" {
		return errors.New("sql.username: must not be empty")
	}
	if c.Password != "" && c.PasswordFile != "" {
		return errors.New("sql.password_file: set either sql.password or sql.password_file, not both")
	}
	if c.MaxExecutionTime < time.Second || c.MaxExecutionTime%time.Second != 0 {
		return fmt.Errorf("sql.max_execution_time: %s must be whole seconds, at least 1s", c.MaxExecutionTime)
	}
	for _, f := range []struct {
		key string
		v   int
	}{
		{"sql.max_open_conns", c.MaxOpenConns}, {"sql.max_concurrent", c.MaxConcurrent},
		{"sql.max_concurrent_per_principal", c.MaxConcurrentPerPrincipal},
		{"sql.max_memory_usage", c.MaxMemoryUsage}, {"sql.max_rows_to_read", c.MaxRowsToRead},
		{"sql.max_result_rows", c.MaxResultRows}, {"sql.max_result_bytes", c.MaxResultBytes},
		{"sql.max_query_bytes", c.MaxQueryBytes},
	} {
		if f.v < 1 {
			return fmt.Errorf("%s: must be at least 1", f.key)
		}
	}
	if c.MaxConcurrent > c.MaxOpenConns {
		return fmt.Errorf("sql.max_concurrent: %d is more than sql.max_open_conns (%d); queries would wait for connections", c.MaxConcurrent, c.MaxOpenConns)
	}
	if c.MaxConcurrentPerPrincipal > c.MaxConcurrent {
		return fmt.Errorf("sql.max_concurrent_per_principal: %d is more than sql.max_concurrent (%d)", c.MaxConcurrentPerPrincipal, c.MaxConcurrent)
	}
	return nil
}

// password returns the analyst user's password: Password, or the first line of
// PasswordFile; empty when neither is set.
func (c Config) password() (string, error) {
	return credentials.OptionalSecret("sql.password", c.Password, c.PasswordFile)
}

// Connect opens the analyst SQL endpoint's own connection pool: to the server and
// database of ch (the clickhouse section), as cfg.Username with cfg's password and at
// most cfg.MaxOpenConns connections, through schema.ConnectAs. The caller closes it after
// the server has stopped and passes it to New.
func Connect(ctx context.Context, ch schema.Config, cfg Config) (driver.Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pw, err := cfg.password()
	if err != nil {
		return nil, err
	}
	conn, err := schema.ConnectAs(ctx, ch, cfg.Username, pw, cfg.MaxOpenConns)
	if err != nil {
		return nil, fmt.Errorf("analyst sql pool (sql.username %s): %w", cfg.Username, err)
	}
	return conn, nil
}

// settings returns the per-query ClickHouse settings that enforce c. Values are ints: the
// native protocol of servers before 20.x carries settings as integers only, and the
// overflow modes this relies on (throw) are the defaults. Under a user whose profile has
// readonly=1, ClickHouse 18.16 ignores per-query settings: there the analyst user's
// settings profile (ProfileSettings) is what enforces these limits, and they are sent for
// servers and users that honour them.
func (c Config) settings() clickhouse.Settings {
	return clickhouse.Settings{
		"readonly":           1,
		"max_execution_time": int(c.MaxExecutionTime / time.Second),
		"max_memory_usage":   c.MaxMemoryUsage,
		"max_rows_to_read":   c.MaxRowsToRead,
		"max_result_rows":    c.MaxResultRows,
		"max_result_bytes":   c.MaxResultBytes,
	}
}

// ProfileSettings returns the settings that the analyst ClickHouse user's profile must
// hold for the server to enforce c (name → value, as a users.xml profile writes them):
// readonly=1 and the limits, each overflow mode throw. deploy/local/services.sh writes the
// defaults' profile; a test that narrows a limit gives its user a profile of these.
func (c Config) ProfileSettings() map[string]string {
	out := map[string]string{"result_overflow_mode": "throw", "read_overflow_mode": "throw"}
	for k, v := range c.settings() {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// ErrLimit marks a query that ClickHouse stopped because it exceeded one of the Config
// limits; it is fault.ErrLimitExceeded, so the HTTP endpoint answers it with 422.
var ErrLimit = fault.ErrLimitExceeded

// Endpoint runs analysts' read-only SQL against the platform's database, guarded by guard.Guard and
// limited by Config, on a connection pool of its own. It is safe for concurrent use.
type Endpoint struct {
	cfg   Config
	conn  driver.Conn
	guard guard.Guard
	limit *limiter
}

// New returns the analyst SQL runner over conn, the endpoint's own pool (Connect),
// which must be connected to database, the platform's database and the only one queries
// may name.
func New(cfg Config, database string, conn driver.Conn) (*Endpoint, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, errors.New("analyst sql: New needs a connection")
	}
	if database == "" {
		return nil, errors.New("analyst sql: New needs the platform database name")
	}
	return &Endpoint{cfg: cfg, conn: conn, guard: guard.New(database),
		limit: newLimiter(cfg.MaxConcurrent, cfg.MaxConcurrentPerPrincipal)}, nil
}

// acquire takes one of the concurrency limits' slots for principal (the name of the
// authenticated request's principal; callers without one share the name ""), or returns
// an *fault.TooManyRequestsError naming the limit that is reached.
func (q *Endpoint) acquire(principal string) (func(), error) {
	return q.limit.acquire(principal)
}

// Run checks sqlText with the guard and runs it with the configured limits, counting
// against the concurrency limits while it runs. A refused statement or a query error of
// the analyst's own (syntax, unknown column, …) is an fault.FieldError for field "query";
// a query stopped by a limit wraps ErrLimit; one over a concurrency limit is an
// *fault.TooManyRequestsError. The query counts against principal's limit (a name; ""
// for callers without one) and is cancelled on the server when ctx ends.
func (q *Endpoint) Run(ctx context.Context, principal, sqlText string) (*table.Table, error) {
	stmt, err := q.guard.Check(sqlText)
	if err != nil {
		return nil, err
	}
	release, err := q.acquire(principal)
	if err != nil {
		return nil, err
	}
	defer release()
	return q.query(ctx, stmt)
}

// query runs a checked statement and reads its result into typed columns, refusing it as
// soon as the result has more rows or takes more bytes than the limits allow.
func (q *Endpoint) query(ctx context.Context, stmt string) (*table.Table, error) {
	// noDeadline hides the request's deadline from the driver but keeps its cancellation:
	// when the client goes away (or the request times out) the driver sends Cancel and
	// drops the connection, and the server stops the query.
	// A result refused here is cancelled on the server at once: closing the rows would
	// otherwise read the rest of the stream first, holding the slot and the connection.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ctx = clickhouse.Context(noDeadline{ctx}, clickhouse.WithSettings(q.cfg.settings()))
	rows, err := q.conn.Query(ctx, stmt)
	if err != nil {
		return nil, q.queryError(err)
	}
	complete := false
	defer func() {
		if !complete {
			cancel() // before Close, which would read the rest; a whole result keeps its connection
		}
		rows.Close()
	}()
	cts := rows.ColumnTypes()
	readers := make([]reader, len(cts))
	dests := make([]any, len(cts))
	for i, ct := range cts {
		readers[i] = readerFor(ct.Name(), ct.DatabaseTypeName(), ct.ScanType())
		dests[i] = readers[i].dest()
	}
	n, size := 0, 0
	for rows.Next() {
		if n++; n > q.cfg.MaxResultRows {
			return nil, fmt.Errorf("the result has more than %d rows (sql.max_result_rows); aggregate or add a LIMIT: %w", q.cfg.MaxResultRows, ErrLimit)
		}
		if err := rows.Scan(dests...); err != nil {
			return nil, fmt.Errorf("scan sql result: %w", err)
		}
		for _, r := range readers {
			size += r.next()
		}
		if size > q.cfg.MaxResultBytes {
			return nil, fmt.Errorf("the result takes more than %d bytes (sql.max_result_bytes); aggregate, select fewer columns or add a LIMIT: %w", q.cfg.MaxResultBytes, ErrLimit)
		}
	}
	complete = true // the stream is read to its end (or ended by the server's error)
	if err := rows.Err(); err != nil {
		return nil, q.queryError(err)
	}
	cols := make([]table.Column, len(readers))
	for i, r := range readers {
		cols[i] = r.column()
	}
	return table.New(cols...), nil
}

// noDeadline keeps a context's values and cancellation but hides its deadline: the
// driver replaces max_execution_time by the context's deadline plus five seconds when there
// is one (and sets it on the socket), and the SQL endpoint's own limit must hold. Done and
// Err are the context's own, so the query is still cancelled when the request's context
// ends: the driver then sends Cancel and closes the connection.
type noDeadline struct{ context.Context }

// Deadline reports no deadline.
func (noDeadline) Deadline() (time.Time, bool) { return time.Time{}, false }

// ClickHouse error codes the endpoint translates.
const (
	chTooManyRows        = 158 // max_rows_to_read
	chTimeoutExceeded    = 159 // max_execution_time
	chTooSlow            = 160
	chMemoryLimit        = 241 // max_memory_usage
	chTooManyBytes       = 307 // max_bytes_to_read
	chTooManyRowsOrBytes = 396 // max_result_rows, max_result_bytes
	chReadonly           = 164
	chAccessDenied       = 291 // a database the analyst user may not read
)

// analystErrors are the ClickHouse error codes caused by the query text itself; their
// message (first line, without the stack trace) is returned to the analyst.
var analystErrors = map[int32]bool{
	6: true, 10: true, 16: true, 27: true, 32: true, 34: true, 35: true, 36: true, 38: true,
	41: true, 42: true, 43: true, 44: true, 46: true, 47: true, 48: true, 49: true, 51: true,
	53: true, 60: true, 62: true, 69: true, 70: true, 72: true, 81: true, 117: true,
	128: true, 131: true, 153: true, 167: true, 168: true, 179: true, 184: true, 190: true,
	215: true, 306: true, 352: true, 386: true,
}

// queryError turns a ClickHouse error into a limit error, an analyst error or, for
// anything else, a wrapped error that stays in the log.
func (q *Endpoint) queryError(err error) error {
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) {
		return fmt.Errorf("run analyst sql: %w", err)
	}
	switch ex.Code {
	case chTooManyRows, chTooManyBytes:
		return fmt.Errorf("the query reads more than %d rows (sql.max_rows_to_read); narrow it with WHERE on the key columns: %w", q.cfg.MaxRowsToRead, ErrLimit)
	case chTimeoutExceeded, chTooSlow:
		return fmt.Errorf("the query ran longer than %s (sql.max_execution_time): %w", q.cfg.MaxExecutionTime, ErrLimit)
	case chMemoryLimit:
		return fmt.Errorf("the query needs more than %d bytes of memory (sql.max_memory_usage): %w", q.cfg.MaxMemoryUsage, ErrLimit)
	case chTooManyRowsOrBytes:
		return fmt.Errorf("the result has more than %d rows or %d bytes (sql.max_result_rows, sql.max_result_bytes); aggregate or add a LIMIT: %w",
			q.cfg.MaxResultRows, q.cfg.MaxResultBytes, ErrLimit)
	case chReadonly:
		return fault.Invalid("query", "the SQL endpoint is read-only")
	case chAccessDenied:
		return fault.Invalid("query", "the query reads a database the analyst user may not read; queries read only the platform database %s", q.guard.Database)
	}
	if analystErrors[ex.Code] {
		msg, _, _ := strings.Cut(ex.Message, "\n")
		msg = strings.TrimPrefix(strings.TrimSpace(msg), "DB::Exception: ")
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		return fault.Invalid("query", "ClickHouse error %d: %s", ex.Code, msg)
	}
	return fmt.Errorf("run analyst sql: %w", err)
}
