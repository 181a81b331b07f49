package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/labstack/echo/v4"

	"github.com/meterhouse/meterhouse/api"
)

// SQLConfig limits what one analyst SQL query may use. Every limit is sent to ClickHouse
// with the query, together with readonly=1.
type SQLConfig struct {
	// MaxExecutionTime bounds one query's run time (ClickHouse max_execution_time, whole
	// seconds).
	MaxExecutionTime time.Duration `yaml:"max_execution_time"`
	// MaxMemoryUsage bounds the memory one query may use on the server, in bytes
	// (max_memory_usage).
	MaxMemoryUsage int `yaml:"max_memory_usage"`
	// MaxRowsToRead bounds the rows one query may read from tables (max_rows_to_read).
	MaxRowsToRead int `yaml:"max_rows_to_read"`
	// MaxResultRows bounds the rows of a result (max_result_rows); a larger result is
	// refused, never truncated.
	MaxResultRows int `yaml:"max_result_rows"`
	// MaxResultBytes bounds the uncompressed size of a result in bytes (max_result_bytes).
	MaxResultBytes int `yaml:"max_result_bytes"`
	// MaxQueryBytes bounds the length of the SQL text.
	MaxQueryBytes int `yaml:"max_query_bytes"`
}

// DefaultSQLConfig allows 30 s, 2 GB of memory, a billion rows read and a result of a
// million rows or 256 MiB.
func DefaultSQLConfig() SQLConfig {
	return SQLConfig{
		MaxExecutionTime: 30 * time.Second,
		MaxMemoryUsage:   2_000_000_000,
		MaxRowsToRead:    1_000_000_000,
		MaxResultRows:    1_000_000,
		MaxResultBytes:   256 << 20,
		MaxQueryBytes:    64 << 10,
	}
}

// Validate reports the first field that cannot work, naming it.
func (c SQLConfig) Validate() error {
	if c.MaxExecutionTime < time.Second || c.MaxExecutionTime%time.Second != 0 {
		return fmt.Errorf("sql.max_execution_time: %s must be whole seconds, at least 1s", c.MaxExecutionTime)
	}
	for _, f := range []struct {
		key string
		v   int
	}{
		{"sql.max_memory_usage", c.MaxMemoryUsage}, {"sql.max_rows_to_read", c.MaxRowsToRead},
		{"sql.max_result_rows", c.MaxResultRows}, {"sql.max_result_bytes", c.MaxResultBytes},
		{"sql.max_query_bytes", c.MaxQueryBytes},
	} {
		if f.v < 1 {
			return fmt.Errorf("%s: must be at least 1", f.key)
		}
	}
	return nil
}

// settings returns the per-query ClickHouse settings that enforce c. Values are ints: the
// native protocol of servers before 20.x carries settings as integers only, and the
// overflow modes this relies on (throw) are the defaults.
func (c SQLConfig) settings() clickhouse.Settings {
	return clickhouse.Settings{
		"readonly":           1,
		"max_execution_time": int(c.MaxExecutionTime / time.Second),
		"max_memory_usage":   c.MaxMemoryUsage,
		"max_rows_to_read":   c.MaxRowsToRead,
		"max_result_rows":    c.MaxResultRows,
		"max_result_bytes":   c.MaxResultBytes,
	}
}

// ErrLimit marks a query that ClickHouse stopped because it exceeded one of the SQLConfig
// limits; it is api.ErrLimitExceeded, so the HTTP endpoint answers it with 422.
var ErrLimit = api.ErrLimitExceeded

// SQL runs analysts' read-only SQL against the platform's database, guarded by Guard and
// limited by SQLConfig. It is safe for concurrent use.
type SQL struct {
	cfg   SQLConfig
	conn  driver.Conn
	guard Guard
}

// NewSQL returns the analyst SQL runner over conn, which must be connected to database,
// the platform's database and the only one queries may name.
func NewSQL(cfg SQLConfig, database string, conn driver.Conn) (*SQL, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, errors.New("query: NewSQL needs a connection")
	}
	if database == "" {
		return nil, errors.New("query: NewSQL needs the platform database name")
	}
	return &SQL{cfg: cfg, conn: conn, guard: NewGuard(database)}, nil
}

// Register adds POST /v1/sql to srv.
func (q *SQL) Register(srv *api.Server) error {
	return srv.Handle(api.Route{
		Method: http.MethodPost, Path: "/v1/sql",
		Summary: "Runs one read-only SQL statement against the platform database, with limits on time, memory, rows read and result size.",
		Roles:   []api.Role{api.RoleAnalyst},
		Description: "Allowed: SELECT, WITH … SELECT, DESCRIBE and SHOW TABLES over the platform database; refused, with a message naming what: writes, SET, SETTINGS and FORMAT clauses, INTO OUTFILE, several statements, other databases, system tables other than a few harmless ones, and table functions that reach files, networks or other servers. " +
			"Limits (config section sql) stop a query with 422. Output by Accept: application/json (default), text/csv or application/vnd.apache.arrow.stream.",
		Body: &api.Body{
			ContentTypes: []string{"text/plain", "application/json"},
			Description:  "The SQL text as the body, or {\"query\": \"…\"} with Content-Type application/json.",
			Required:     true,
			Example:      "SELECT meter_id, sum(wh) AS wh FROM consumption FINAL WHERE resolution = '1d' GROUP BY meter_id ORDER BY wh DESC LIMIT 10",
		},
		Response: "The result rows, in the format the Accept header chooses.",
		Handler:  q.handle,
	})
}

func (q *SQL) handle(c echo.Context) error {
	// Refuse an unusable Accept before running anything.
	if _, err := Negotiate(c.Request().Header.Get(echo.HeaderAccept)); err != nil {
		return Respond(c, Result{Table: NewTable()})
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, int64(q.cfg.MaxQueryBytes)+1))
	if err != nil {
		return fmt.Errorf("read sql body: %w", err)
	}
	if len(body) > q.cfg.MaxQueryBytes {
		return api.Invalid("query", "is longer than %d bytes", q.cfg.MaxQueryBytes)
	}
	text := string(body)
	if ct := c.Request().Header.Get(echo.HeaderContentType); strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
		var req struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return api.Invalid("query", "the JSON body is not {\"query\": \"…\"}: %v", err)
		}
		text = req.Query
	}
	tbl, err := q.Run(c.Request().Context(), text)
	if err != nil {
		return err
	}
	return Respond(c, Result{Table: tbl})
}

// Run checks sqlText with the guard and runs it with the configured limits. A refused
// statement or a query error of the analyst's own (syntax, unknown column, …) is an
// api.FieldError for field "query"; a query stopped by a limit wraps ErrLimit.
func (q *SQL) Run(ctx context.Context, sqlText string) (*Table, error) {
	stmt, err := q.guard.Check(sqlText)
	if err != nil {
		return nil, err
	}
	ctx = clickhouse.Context(noDeadline{ctx}, clickhouse.WithSettings(q.cfg.settings()))
	rows, err := q.conn.Query(ctx, stmt)
	if err != nil {
		return nil, q.queryError(err)
	}
	defer rows.Close()
	cts := rows.ColumnTypes()
	builders := make([]*columnBuilder, len(cts))
	convs := make([]func(any) (any, bool), len(cts))
	dests := make([]any, len(cts))
	for i, ct := range cts {
		typ, conv := columnTypeOf(ct.DatabaseTypeName())
		builders[i] = newColumnBuilder(ct.Name(), typ)
		convs[i] = conv
		dests[i] = reflect.New(ct.ScanType()).Interface()
	}
	n := 0
	for rows.Next() {
		if n++; n > q.cfg.MaxResultRows {
			return nil, fmt.Errorf("the result has more than %d rows (sql.max_result_rows); aggregate or add a LIMIT: %w", q.cfg.MaxResultRows, ErrLimit)
		}
		if err := rows.Scan(dests...); err != nil {
			return nil, fmt.Errorf("scan sql result: %w", err)
		}
		for i, d := range dests {
			v, ok := convs[i](reflect.ValueOf(d).Elem().Interface())
			if !ok {
				builders[i].appendNull()
				continue
			}
			if err := builders[i].appendValue(v); err != nil {
				return nil, fmt.Errorf("sql result: %w", err)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, q.queryError(err)
	}
	cols := make([]Column, len(builders))
	for i, b := range builders {
		cols[i] = b.column()
	}
	return NewTable(cols...), nil
}

// noDeadline keeps a context's values and cancellation but hides its deadline: the
// driver replaces max_execution_time by the context's deadline plus five seconds when there
// is one, and the SQL endpoint's own limit must hold. The query is still cancelled when
// the request's context ends.
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
func (q *SQL) queryError(err error) error {
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
		return api.Invalid("query", "the SQL endpoint is read-only")
	}
	if analystErrors[ex.Code] {
		msg, _, _ := strings.Cut(ex.Message, "\n")
		msg = strings.TrimPrefix(strings.TrimSpace(msg), "DB::Exception: ")
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		return api.Invalid("query", "ClickHouse error %d: %s", ex.Code, msg)
	}
	return fmt.Errorf("run analyst sql: %w", err)
}

// columnTypeOf maps a ClickHouse column type to a Table column type and a converter from
// the scanned value (what the driver's ScanType holds) to a value of that type; the
// converter reports false for a null.
func columnTypeOf(dbType string) (ColumnType, func(any) (any, bool)) {
	t := dbType
	nullable := false
	for {
		switch {
		case strings.HasPrefix(t, "Nullable(") && strings.HasSuffix(t, ")"):
			t, nullable = t[len("Nullable("):len(t)-1], true
			continue
		case strings.HasPrefix(t, "LowCardinality(") && strings.HasSuffix(t, ")"):
			t = t[len("LowCardinality(") : len(t)-1]
			continue
		}
		break
	}
	deref := func(v any) (any, bool) {
		if !nullable {
			return v, true
		}
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Pointer {
			if rv.IsNil() {
				return nil, false
			}
			return rv.Elem().Interface(), true
		}
		return v, v != nil
	}
	base, _, _ := strings.Cut(t, "(")
	switch base {
	case "Int8", "Int16", "Int32", "Int64":
		return TypeInt64, deref
	case "UInt8", "UInt16", "UInt32", "UInt64":
		return TypeUInt64, deref
	case "Float32", "Float64":
		return TypeFloat64, deref
	case "Bool":
		return TypeBool, deref
	case "Date", "Date32":
		return TypeDate, deref
	case "DateTime":
		return TypeTime, deref
	case "String", "FixedString":
		return TypeString, func(v any) (any, bool) {
			v, ok := deref(v)
			if b, isBytes := v.([]byte); isBytes {
				v = string(b)
			}
			return v, ok
		}
	}
	if t == "Array(String)" || t == "Array(LowCardinality(String))" {
		return TypeStringList, deref
	}
	return TypeString, func(v any) (any, bool) {
		v, ok := deref(v)
		if !ok {
			return nil, false
		}
		return stringify(v), true
	}
}

// stringify renders a value of a type without a Table column type (arrays, tuples,
// decimals, UUIDs, enums, …) as text: JSON for containers, its String method or fmt
// otherwise.
func stringify(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case fmt.Stringer:
		return x.String()
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map, reflect.Struct:
		if b, ok := v.([]uint8); ok {
			// Array(UInt8): numbers, not the base64 JSON gives []byte
			nums := make([]uint16, len(b))
			for i, x := range b {
				nums[i] = uint16(x)
			}
			v = nums
		}
		if b, err := json.Marshal(v); err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(v)
}
