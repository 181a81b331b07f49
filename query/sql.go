package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
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

// Guard decides whether an analyst's SQL text may run: one read-only statement over the
// platform's database, with no clause that changes settings, output or destination and
// no table function that reaches files, networks or other servers.
type Guard struct {
	// Database is the platform's database, the only one a name may be qualified with
	// (besides the allowed system tables).
	Database string
	// SystemTables lists the tables of the system database that may be read.
	SystemTables []string
	// TableFunctions lists the table functions that may be used, in lower case; every
	// other table function is refused. ClickHouse refuses them all under readonly=1, which
	// the SQL endpoint runs with, so NewGuard allows none.
	TableFunctions []string
}

// NewGuard returns the guard for the platform database with the default allow-lists:
// the system tables one, numbers, numbers_mt, zeros, zeros_mt, functions,
// table_functions, data_type_families, formats and time_zones, and no table function
// (queries run with readonly=1, under which ClickHouse refuses every table function;
// system.numbers gives a number sequence).
func NewGuard(database string) Guard {
	return Guard{
		Database: database,
		SystemTables: []string{"one", "numbers", "numbers_mt", "zeros", "zeros_mt", "functions",
			"table_functions", "data_type_families", "formats", "time_zones"},
	}
}

// writeKeywords are statement keywords refused wherever they appear as a bare word not
// followed by "(" (truncate(x) and replace(s, a, b) are functions).
var writeKeywords = map[string]bool{
	"INSERT": true, "ALTER": true, "CREATE": true, "DROP": true, "TRUNCATE": true, "RENAME": true,
	"ATTACH": true, "DETACH": true, "OPTIMIZE": true, "KILL": true, "SYSTEM": true, "GRANT": true,
	"REVOKE": true, "USE": true, "EXCHANGE": true, "DELETE": true, "UPDATE": true, "REPLACE": true,
	"CHECK": true, "MOVE": true, "UNDROP": true, "BACKUP": true, "RESTORE": true, "WATCH": true,
	"SET": true,
}

// deniedFunctions are table functions (and functions) that reach files, networks, other
// servers or other databases. They are refused anywhere, even outside a FROM.
var deniedFunctions = map[string]string{
	"file": "reads server files", "filecluster": "reads server files", "input": "reads client input",
	"url": "reaches the network", "urlcluster": "reaches the network",
	"remote": "reaches other servers", "remotesecure": "reaches other servers",
	"cluster": "reaches other servers", "clusterallreplicas": "reaches other servers",
	"s3": "reaches the network", "s3cluster": "reaches the network", "gcs": "reaches the network",
	"cosn": "reaches the network", "oss": "reaches the network",
	"azureblobstorage": "reaches the network", "azureblobstoragecluster": "reaches the network",
	"hdfs": "reaches the network", "hdfscluster": "reaches the network",
	"mysql": "reaches other servers", "postgresql": "reaches other servers", "mongodb": "reaches other servers",
	"redis": "reaches other servers", "sqlite": "reads server files", "jdbc": "reaches other servers",
	"odbc": "reaches other servers", "executable": "runs programs", "executablepool": "runs programs",
	"iceberg": "reaches the network", "deltalake": "reaches the network", "hudi": "reaches the network",
	"merge": "reads other databases", "dictionary": "reads dictionary sources", "joinget": "reads other tables",
	"loop": "runs without end", "view": "is not allowed", "viewifpermitted": "is not allowed",
	"filesystem": "reads server files", "mergetreeindex": "reads other tables",
}

// clauseWords end a FROM list at the depth they appear at.
var clauseWords = map[string]bool{
	"SELECT": true, "WHERE": true, "PREWHERE": true, "GROUP": true, "ORDER": true, "HAVING": true,
	"LIMIT": true, "UNION": true, "ON": true, "USING": true, "SAMPLE": true, "ARRAY": true,
	"WITH": true, "FINAL": true, "EXCEPT": true, "INTERSECT": true, "WINDOW": true, "QUALIFY": true,
}

// nonCallWords are keywords that may precede "(" without making it a function call.
var nonCallWords = map[string]bool{
	"FROM": true, "IN": true, "JOIN": true, "AS": true, "AND": true, "OR": true, "NOT": true,
	"WHERE": true, "PREWHERE": true, "SELECT": true, "ON": true, "USING": true, "HAVING": true,
	"BY": true, "WITH": true, "ALL": true, "DISTINCT": true, "THEN": true, "ELSE": true,
	"WHEN": true, "CASE": true, "IS": true, "LIKE": true, "ILIKE": true, "BETWEEN": true,
	"GLOBAL": true, "UNION": true, "EXISTS": true, "LIMIT": true, "OFFSET": true, "TABLE": true,
	"DESCRIBE": true, "DESC": true, "ANY": true, "ASOF": true, "INNER": true, "LEFT": true,
	"RIGHT": true, "FULL": true, "CROSS": true, "OUTER": true, "SEMI": true, "ANTI": true,
}

// refuse returns the guard's refusal of a statement, naming what is refused.
func refuse(format string, args ...any) error {
	return api.Invalid("query", format, args...)
}

// Check returns the statement to run (sqlText without a trailing semicolon) when it is
// allowed, or an api.FieldError for field "query" naming what it refuses.
func (g Guard) Check(sqlText string) (string, error) {
	toks, err := lexSQL(sqlText)
	if err != nil {
		return "", refuse("%v", err)
	}
	if len(toks) == 0 {
		return "", refuse("is empty: send one SELECT statement")
	}
	end := len(toks)
	for i, t := range toks {
		if t.kind == tokPunct && t.text == ";" {
			if i != len(toks)-1 {
				return "", refuse("multiple statements are not allowed: send one statement (a trailing ';' is fine)")
			}
			end = i
		}
	}
	toks = toks[:end]
	if len(toks) == 0 {
		return "", refuse("is empty: send one SELECT statement")
	}
	if toks[0].kind != tokWord {
		return "", refuse("must start with SELECT, WITH, DESCRIBE or SHOW TABLES, not %s", toks[0].text)
	}
	switch lead := strings.ToUpper(toks[0].text); lead {
	case "SELECT", "WITH":
	case "DESCRIBE", "DESC":
	case "SHOW":
		if err := checkShow(toks); err != nil {
			return "", err
		}
	default:
		if writeKeywords[lead] && lead != "SET" {
			return "", refuse("%s is not allowed: the SQL endpoint is read-only", lead)
		}
		if lead == "SET" {
			return "", refuse("SET is not allowed: the endpoint sets the query's limits")
		}
		return "", refuse("%s statements are not allowed: send SELECT, WITH … SELECT, DESCRIBE or SHOW TABLES", lead)
	}
	if err := g.walk(toks); err != nil {
		return "", err
	}
	return strings.TrimSpace(sqlText[:endOffset(sqlText, toks)]), nil
}

// endOffset returns the byte offset just after the last token kept.
func endOffset(sqlText string, toks []token) int {
	last := toks[len(toks)-1]
	return last.pos + len(last.text)
}

// checkShow allows SHOW TABLES [LIKE 'pattern'] [LIMIT n] only: other SHOW statements
// list other databases, users, grants or running queries.
func checkShow(toks []token) error {
	if len(toks) < 2 || toks[1].kind != tokWord || !strings.EqualFold(toks[1].text, "TABLES") {
		what := "SHOW"
		if len(toks) > 1 {
			what += " " + strings.ToUpper(toks[1].text)
		}
		return refuse("%s is not allowed: of the SHOW statements only SHOW TABLES is", what)
	}
	rest := toks[2:]
	if len(rest) >= 2 && rest[0].kind == tokWord && strings.EqualFold(rest[0].text, "LIKE") && rest[1].kind == tokString {
		rest = rest[2:]
	}
	if len(rest) == 2 && rest[0].kind == tokWord && strings.EqualFold(rest[0].text, "LIMIT") && rest[1].kind == tokNumber {
		rest = rest[2:]
	}
	if len(rest) > 0 {
		return refuse("SHOW TABLES %s is not allowed: only SHOW TABLES [LIKE '…'] [LIMIT n] of the platform database", rest[0].text)
	}
	return nil
}

// frame is one level of parentheses.
type frame struct {
	call     bool // opened by a function call: FROM inside is EXTRACT(x FROM y), not a table
	fromList bool // inside the FROM list at this level: a comma starts another table
}

// walk checks every token of one statement.
func (g Guard) walk(toks []token) error {
	stack := []frame{{}}
	word := func(i int) string {
		if i < 0 || i >= len(toks) || toks[i].kind != tokWord {
			return ""
		}
		return strings.ToUpper(toks[i].text)
	}
	punct := func(i int, p string) bool {
		return i >= 0 && i < len(toks) && toks[i].kind == tokPunct && toks[i].text == p
	}
	for i, t := range toks {
		top := &stack[len(stack)-1]
		switch t.kind {
		case tokPunct:
			switch t.text {
			case "(":
				prev := i - 1
				call := prev >= 0 && (toks[prev].kind == tokQuotedIdent || (toks[prev].kind == tokWord && !nonCallWords[word(prev)]))
				stack = append(stack, frame{call: call})
			case ")":
				if len(stack) == 1 {
					return refuse("has an unbalanced ')' at offset %d", t.pos)
				}
				stack = stack[:len(stack)-1]
			}
			continue
		case tokWord:
			w := strings.ToUpper(t.text)
			next := i + 1
			switch {
			case w == "SETTINGS":
				return refuse("SETTINGS clauses are not allowed: the endpoint sets the query's limits")
			case w == "INTO":
				return refuse("INTO OUTFILE is not allowed: results are returned in the response")
			case w == "FORMAT" && !punct(next, "("):
				return refuse("FORMAT clauses are not allowed: choose the format with the Accept header (JSON, CSV or Arrow)")
			case w == "SYSTEM" && punct(next, "."):
				// the system database: checked as a qualified name below
			case writeKeywords[w] && !punct(next, "("):
				if w == "SET" {
					return refuse("SET is not allowed: the endpoint sets the query's limits")
				}
				return refuse("%s is not allowed: the SQL endpoint is read-only", w)
			case w == "FROM" && !top.call, w == "JOIN" && word(i-1) != "ARRAY":
				top.fromList = true
			case w == "SELECT":
				// A SELECT inside a function's parentheses (view(SELECT …), exists(SELECT …))
				// is a subquery: its FROM names tables.
				top.call, top.fromList = false, false
			case clauseWords[w]:
				top.fromList = false
			}
		}
		if t.kind != tokWord && t.kind != tokQuotedIdent {
			continue
		}
		name := t.ident()
		if punct(i+1, "(") {
			if why, ok := deniedFunctions[strings.ToLower(name)]; ok {
				return refuse("table function %s() is not allowed: it %s", name, why)
			}
		}
		if punct(i-1, ".") {
			continue // the second part of a qualified name
		}
		if !g.tablePosition(toks, i, stack[len(stack)-1]) {
			if qualified(toks, i) && t.ident() == "system" {
				return g.checkSystem(toks[i+2].ident())
			}
			continue
		}
		switch {
		case punct(i+1, "("):
			if !slices.Contains(g.TableFunctions, strings.ToLower(name)) {
				if len(g.TableFunctions) == 0 {
					return refuse("table function %s() is not allowed: queries read the platform database's tables only (system.numbers gives a number sequence)", name)
				}
				return refuse("table function %s() is not allowed: only %s are", name, strings.Join(g.TableFunctions, ", "))
			}
		case qualified(toks, i):
			switch db := t.ident(); db {
			case "system":
				if err := g.checkSystem(toks[i+2].ident()); err != nil {
					return err
				}
			case g.Database:
			default:
				return refuse("database %s is not allowed: queries read only the platform database %s", db, g.Database)
			}
		}
	}
	if len(stack) != 1 {
		return refuse("has an unbalanced '('")
	}
	return nil
}

// qualified reports whether toks[i] starts a name db.table.
func qualified(toks []token, i int) bool {
	return i+2 < len(toks) && toks[i+1].kind == tokPunct && toks[i+1].text == "." &&
		(toks[i+2].kind == tokWord || toks[i+2].kind == tokQuotedIdent)
}

// tablePosition reports whether toks[i] names a table or table function: it follows FROM
// (outside a function call), JOIN, IN, DESCRIBE [TABLE], or a comma of a FROM list.
func (g Guard) tablePosition(toks []token, i int, top frame) bool {
	if i == 0 {
		return false
	}
	p := toks[i-1]
	if p.kind == tokPunct {
		return p.text == "," && top.fromList
	}
	if p.kind != tokWord {
		return false
	}
	switch strings.ToUpper(p.text) {
	case "FROM":
		return !top.call
	case "JOIN":
		return i < 2 || toks[i-2].kind != tokWord || !strings.EqualFold(toks[i-2].text, "ARRAY")
	case "IN", "DESCRIBE", "DESC":
		return true
	case "TABLE":
		return i >= 2 && toks[i-2].kind == tokWord && slices.Contains([]string{"DESCRIBE", "DESC"}, strings.ToUpper(toks[i-2].text))
	}
	return false
}

// checkSystem allows the system tables of the allow-list only.
func (g Guard) checkSystem(table string) error {
	if slices.Contains(g.SystemTables, table) {
		return nil
	}
	return refuse("system.%s is not allowed: of the system database only %s may be read", table, "system."+strings.Join(g.SystemTables, ", system."))
}

type tokenKind uint8

const (
	tokWord        tokenKind = iota + 1 // keyword or bare identifier
	tokQuotedIdent                      // "identifier" or `identifier`
	tokString                           // 'string'
	tokNumber                           // 1, 1.5e3, 0x1F
	tokPunct                            // operators and punctuation
)

// token is one lexical token of SQL text; comments and white space are dropped.
type token struct {
	kind tokenKind
	text string // as written, quotes included
	pos  int    // byte offset in the text
}

// ident returns the identifier a word or quoted identifier names, without quotes and
// with escapes resolved.
func (t token) ident() string {
	if t.kind != tokQuotedIdent {
		return t.text
	}
	return unquote(t.text)
}

// unquote removes the quotes of a quoted identifier or string and resolves backslash
// escapes and doubled quotes.
func unquote(s string) string {
	q, body := s[0], s[1:len(s)-1]
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == '\\' && i+1 < len(body) {
			i++
			c = body[i]
		} else if c == q && i+1 < len(body) && body[i+1] == q {
			i++
		}
		b.WriteByte(c)
	}
	return b.String()
}

// lexSQL splits SQL text into tokens the way ClickHouse's lexer does for what matters
// here: strings and quoted identifiers (with backslash escapes and doubled quotes),
// "--" line comments and non-nested "/* */" block comments. Where ClickHouse versions
// differ (nested comments, heredocs), lexSQL sees more code rather than less, so a
// statement it accepts is never more than it checked.
func lexSQL(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && strings.HasPrefix(s[i:], "--"):
			if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(s)
			}
		case c == '/' && strings.HasPrefix(s[i:], "/*"):
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				return nil, fmt.Errorf("has an unterminated /* comment at offset %d", i)
			}
			i += 2 + j + 2
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for ; j < len(s); j++ {
				if s[j] == '\\' {
					j++
					continue
				}
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c {
						j++
						continue
					}
					break
				}
			}
			if j >= len(s) {
				what := "string"
				if c != '\'' {
					what = "quoted identifier"
				}
				return nil, fmt.Errorf("has an unterminated %s at offset %d", what, i)
			}
			kind := tokString
			if c != '\'' {
				kind = tokQuotedIdent
			}
			toks = append(toks, token{kind: kind, text: s[i : j+1], pos: i})
			i = j + 1
		case isWordStart(c):
			j := i + 1
			for j < len(s) && (isWordStart(s[j]) || isDigit(s[j])) {
				j++
			}
			toks = append(toks, token{kind: tokWord, text: s[i:j], pos: i})
			i = j
		case isDigit(c) || (c == '.' && i+1 < len(s) && isDigit(s[i+1]) && !afterName(toks)):
			j := i + 1
			for j < len(s) && (isDigit(s[j]) || isWordStart(s[j]) || s[j] == '.' ||
				((s[j] == '+' || s[j] == '-') && (s[j-1] == 'e' || s[j-1] == 'E'))) {
				j++
			}
			toks = append(toks, token{kind: tokNumber, text: s[i:j], pos: i})
			i = j
		default:
			n := 1
			for _, op := range []string{"->", "<=", ">=", "!=", "<>", "==", "||", "::"} {
				if strings.HasPrefix(s[i:], op) {
					n = 2
					break
				}
			}
			toks = append(toks, token{kind: tokPunct, text: s[i : i+n], pos: i})
			i += n
		}
	}
	return toks, nil
}

// afterName reports whether the last token is a name or a closing bracket, after which
// ".1" is tuple element access, not a number.
func afterName(toks []token) bool {
	if len(toks) == 0 {
		return false
	}
	t := toks[len(toks)-1]
	return t.kind == tokWord || t.kind == tokQuotedIdent || (t.kind == tokPunct && (t.text == ")" || t.text == "]"))
}

func isWordStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
