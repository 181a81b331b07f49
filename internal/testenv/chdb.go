package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/schema"
)

// ChDB returns the version of chDB, the embedded current ClickHouse engine from PyPI (make
// test-deps installs it), and skips the test under -short or when python3 cannot import
// chdb.
func ChDB(t testing.TB) schema.Version {
	t.Helper()
	if testing.Short() {
		t.Skip("needs ClickHouse and python3 with chdb")
	}
	out, err := exec.Command("python3", "-c", `import chdb; print(chdb.query("SELECT version()", "CSV").bytes().decode().strip().strip('"'))`).Output()
	if err != nil {
		t.Skipf("python3 with the chdb package is needed to run queries on a current ClickHouse (make test-deps, or pip install chdb): %v", err)
	}
	v, err := schema.ParseVersion(string(out))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Query is one statement to compare between 18.16 and chDB, its parameters bound (Bind).
type Query struct {
	// Name identifies the query in failures, such as the golden file it comes from.
	Name string `json:"name"`
	// SQL is the statement's text.
	SQL string `json:"sql"`
}

// CompareWithChDB loads fixture into conn's database (a fresh 18.16 database from
// ClickHouse) and into a fresh chDB database migrated for chDB's version, runs every query
// on both and fails the test for each query that fails on either server or returns other
// rows. Rows are compared in order when the query's outermost statement ends in ORDER BY
// (a line starting with ORDER BY, optionally followed by a LIMIT line), as sets otherwise;
// array values are compared as sorted lists. It also fails when fewer than all but one of
// the queries return rows, since then the fixture does not exercise them.
func CompareWithChDB(t testing.TB, conn driver.Conn, version schema.Version, fixture []Insert, queries []Query) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, in := range fixture {
		if err := in.Load(ctx, conn); err != nil {
			t.Fatalf("fixture on 18.16, table %s: %v", in.Table, err)
		}
	}
	stmts, err := schema.Render(schema.CapabilitiesOf(version), "mh")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range fixture {
		stmts = append(stmts, in.SQL())
	}
	b, err := json.Marshal(struct {
		Statements []string `json:"statements"`
		Queries    []Query  `json:"queries"`
	}{stmts, queries})
	if err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(spec, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "python3", filepath.Join(RepoRoot(), "internal", "testenv", "testdata", "chdb_queries.py"), spec)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chDB: %v\n%s", err, stderr.String())
	}
	var res struct {
		Version string `json:"version"`
		Results []struct {
			Name    string     `json:"name"`
			Columns [][]string `json:"columns"`
			Rows    [][]any    `json:"rows"`
			Error   string     `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("chDB output: %v\n%.500s", err, out)
	}
	if len(res.Results) != len(queries) {
		t.Fatalf("chDB answered %d of %d queries", len(res.Results), len(queries))
	}
	nonEmpty := 0
	for i, q := range queries {
		r := res.Results[i]
		if r.Error != "" {
			t.Errorf("%s fails on ClickHouse %s (chDB): %s\n%s", q.Name, res.Version, r.Error, q.SQL)
			continue
		}
		old, oldTypes, err := rowsOf(ctx, conn, q.SQL)
		if err != nil {
			t.Errorf("%s fails on 18.16: %v\n%s", q.Name, err, q.SQL)
			continue
		}
		if len(r.Columns) != len(oldTypes) {
			t.Errorf("%s: %d columns on 18.16 %v, %d on ClickHouse %s %v", q.Name, len(oldTypes), oldTypes, len(r.Columns), res.Version, r.Columns)
			continue
		}
		cur := make([][]string, len(r.Rows))
		for j, row := range r.Rows {
			for _, v := range row {
				cur[j] = append(cur[j], jsonCell(v))
			}
		}
		if !orderedSQL.MatchString(q.SQL) {
			slices.SortFunc(old, slices.Compare)
			slices.SortFunc(cur, slices.Compare)
		}
		if !reflect.DeepEqual(old, cur) {
			i := 0
			for i < min(len(old), len(cur)) && slices.Equal(old[i], cur[i]) {
				i++
			}
			t.Errorf("%s: 18.16 and ClickHouse %s (chDB) disagree: %d and %d rows, first difference at row %d:\n18.16: %v\nchDB:  %v\n%s",
				q.Name, res.Version, len(old), len(cur), i, old[i:min(i+3, len(old))], cur[i:min(i+3, len(cur))], q.SQL)
			continue
		}
		if len(old) > 0 {
			nonEmpty++
		}
		t.Logf("%s: %d rows agree", q.Name, len(old))
	}
	if nonEmpty < len(queries)-1 {
		t.Errorf("only %d of %d queries returned rows on both servers: the fixture does not exercise them", nonEmpty, len(queries))
	}
}

// GoldenQueries binds each set of arguments in args to the golden file dir/NAME.sql, in
// the order of the file names; the queries are named NAME#1, NAME#2, …. A golden file of
// dir without an entry in args fails the test, so that a new statement is compared too.
func GoldenQueries(t testing.TB, dir string, args map[string][][]any) []Query {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("golden queries in %s: %v (%d files)", dir, err, len(files))
	}
	var qs []Query
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".sql")
		sets, ok := args[name]
		if !ok {
			t.Fatalf("%s has no parameters in the test: add them so that it is compared with chDB", f)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range sets {
			sql, err := Bind(string(b), a...)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			qs = append(qs, Query{Name: fmt.Sprintf("%s#%d", name, i+1), SQL: strings.TrimSpace(sql)})
		}
	}
	return qs
}

// orderedSQL matches a statement whose outermost clause ends in ORDER BY (the pinned
// statements start their top-level clauses at the beginning of a line).
var orderedSQL = regexp.MustCompile(`(?m)^ORDER BY [^\n]*(\nLIMIT [^\n]*)?\s*\z`)

// Bind replaces the ? placeholders of sql, in order, with args as SQL literals, the way the
// driver binds them on the client: strings quoted and escaped, times as toDateTime in UTC,
// integers in decimal, slices as arrays.
func Bind(sql string, args ...any) (string, error) {
	if n := strings.Count(sql, "?"); n != len(args) {
		return "", fmt.Errorf("%d placeholders, %d arguments", n, len(args))
	}
	var b strings.Builder
	i := 0
	for _, r := range sql {
		if r != '?' {
			b.WriteRune(r)
			continue
		}
		lit, err := literal(args[i])
		if err != nil {
			return "", fmt.Errorf("argument %d: %w", i+1, err)
		}
		b.WriteString(lit)
		i++
	}
	return b.String(), nil
}

// literal writes one argument of Bind.
func literal(v any) (string, error) {
	rv := reflect.ValueOf(v)
	switch v := v.(type) {
	case string:
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'", nil
	case time.Time:
		return v.UTC().Format("toDateTime('2006-01-02 15:04:05', 'UTC')"), nil
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10), nil
	case reflect.Slice:
		elems := make([]string, rv.Len())
		for i := range elems {
			e, err := literal(rv.Index(i).Interface())
			if err != nil {
				return "", err
			}
			elems[i] = e
		}
		return "[" + strings.Join(elems, ", ") + "]", nil
	}
	return "", fmt.Errorf("cannot bind a %T", v)
}

// Insert is one INSERT of a fixture: a table, its columns and typed rows (the Go types
// the driver appends to those columns).
type Insert struct {
	// Table is the table's name in the test database.
	Table string
	// Columns names the columns the rows fill, in order.
	Columns []string
	// Rows holds the values, one slice per row.
	Rows [][]any
}

// SQL writes the insert as INSERT … VALUES text.
func (in Insert) SQL() string {
	tuples := make([]string, len(in.Rows))
	for i, r := range in.Rows {
		vals := make([]string, len(r))
		for j, v := range r {
			switch v := v.(type) {
			case time.Time:
				vals[j] = v.UTC().Format("'2006-01-02 15:04:05'")
			default:
				vals[j], _ = literal(v)
			}
		}
		tuples[i] = "(" + strings.Join(vals, ", ") + ")"
	}
	return "INSERT INTO " + in.Table + " (" + strings.Join(in.Columns, ", ") + ") VALUES " + strings.Join(tuples, ", ")
}

// Load appends the insert's rows to conn in one batch.
func (in Insert) Load(ctx context.Context, conn driver.Conn) error {
	bctx, sent := schema.BatchContext(ctx)
	defer sent()
	b, err := conn.PrepareBatch(bctx, "INSERT INTO "+in.Table+" ("+strings.Join(in.Columns, ", ")+")")
	if err != nil {
		return err
	}
	defer b.Abort() //nolint:errcheck // a no-op once sent
	for _, r := range in.Rows {
		if err := b.Append(r...); err != nil {
			return err
		}
	}
	return b.Send()
}

// rowsOf runs sql on conn and returns its rows as text (as jsonCell writes chDB's), with
// the column types.
func rowsOf(ctx context.Context, conn driver.Conn, sql string) ([][]string, []string, error) {
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	cts := rows.ColumnTypes()
	types := make([]string, len(cts))
	for i, ct := range cts {
		types[i] = ct.DatabaseTypeName()
	}
	var out [][]string
	for rows.Next() {
		ptrs := make([]any, len(cts))
		for i, ct := range cts {
			ptrs[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		row := make([]string, len(cts))
		for i, p := range ptrs {
			row[i] = goCell(types[i], reflect.ValueOf(p).Elem().Interface())
		}
		out = append(out, row)
	}
	return out, types, rows.Err()
}

// goCell writes a value scanned from 18.16 as chDB's JSONCompact writes it: dates as
// YYYY-MM-DD, times as YYYY-MM-DD hh:mm:ss in UTC, arrays as their elements, sorted (the
// order of groupUniqArray is unspecified; readers sort what they need sorted).
func goCell(typ string, v any) string {
	switch v := v.(type) {
	case time.Time:
		if typ == "Date" {
			return v.Format(time.DateOnly)
		}
		return v.UTC().Format(time.DateTime)
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice {
		elem := strings.TrimSuffix(strings.TrimPrefix(typ, "Array("), ")")
		s := make([]string, rv.Len())
		for i := range s {
			s[i] = goCell(elem, rv.Index(i).Interface())
		}
		slices.Sort(s)
		return "[" + strings.Join(s, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// jsonCell writes a JSONCompact value the way goCell writes 18.16's.
func jsonCell(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case []any:
		s := make([]string, len(v))
		for i, e := range v {
			s[i] = jsonCell(e)
		}
		slices.Sort(s)
		return "[" + strings.Join(s, ", ") + "]"
	default:
		return fmt.Sprint(v)
	}
}
