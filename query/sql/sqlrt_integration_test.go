package sql_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/query/sql"
	"github.com/meterhouse/meterhouse/table"
)

// slowSQL is an analyst query that runs until max_execution_time stops it, reading only
// an allowed system table and using memory that does not grow: count over a stream of a
// hundred billion numbers. marker, a column alias, finds it in system.processes.
func slowSQL(marker string) string {
	return fmt.Sprintf("SELECT count() AS %s FROM (SELECT number FROM system.numbers LIMIT 100000000000)", marker)
}

// TestSQLClientGoneCancelsQuery starts a slow analyst query over HTTP, closes the client's
// connection, and checks that the query is gone from system.processes long before its
// max_execution_time (60 s) would have ended it, and that the endpoint still answers.
func TestSQLClientGoneCancelsQuery(t *testing.T) {
	cfg := sql.DefaultConfig()
	cfg.MaxExecutionTime = 60 * time.Second
	cfg.MaxRowsToRead = 1 << 40
	a := newEndpoint(t, cfg)
	marker := "gone_" + testenv.Suffix()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url+"/v1/sql", strings.NewReader(slowSQL(marker)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.user)
	client := &http.Client{Transport: &http.Transport{}}
	done := make(chan error, 1)
	go func() {
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			err = fmt.Errorf("the slow query answered %d %s", resp.StatusCode, b)
		}
		done <- err
	}()
	testenv.WaitQueries(t, a.conn, marker, 1, 20*time.Second)
	cancel() // the client goes away: its connection is closed
	if err := <-done; !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("client: %v", err)
	}
	testenv.WaitQueries(t, a.conn, marker, 0, 20*time.Second)

	if r := a.do(t, http.MethodPost, "/v1/sql", "text/csv", "text/plain", "SELECT 1 AS one", a.user); r.status != http.StatusOK || string(r.body) != "one\n1\n" {
		t.Errorf("after a cancelled query: %d %q", r.status, r.body)
	}
}

// TestSQLCSVNeutralisesFormulas checks, end to end, that a string a spreadsheet would run
// (an editor's reason, say) comes out of the SQL endpoint's CSV quoted, while a negative
// number stays a number.
func TestSQLCSVNeutralisesFormulas(t *testing.T) {
	a := newEndpoint(t, sql.DefaultConfig())
	r := a.do(t, http.MethodPost, "/v1/sql", "text/csv", "text/plain",
		`SELECT '=HYPERLINK("http://x","click")' AS reason, '-1+2' AS s, toInt64(-5) AS n, -2.5 AS f, 'ok' AS plain`, a.user)
	recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if r.status != http.StatusOK || err != nil {
		t.Fatalf("%d %s %v", r.status, r.body, err)
	}
	want := [][]string{{"reason", "s", "n", "f", "plain"}, {`'=HYPERLINK("http://x","click")`, "'-1+2", "-5", "-2.5", "ok"}}
	if !reflect.DeepEqual(recs, want) {
		t.Errorf("got %q, want %q", recs, want)
	}
}

// tableBytes is the size of a result as the endpoint counts it against
// sql.max_result_bytes: 8 bytes per number, 24 per time, 16 plus the text per string.
func tableBytes(t *testing.T, tbl *table.Table) int {
	t.Helper()
	n := 0
	for _, c := range tbl.Columns {
		var nulls []bool
		switch v := c.(type) {
		case *table.Col[string]:
			for _, s := range v.Values {
				n += 16 + len(s)
			}
			nulls = v.Nulls
		case *table.Col[int64]:
			n, nulls = n+8*c.Len(), v.Nulls
		case *table.Col[uint64]:
			n, nulls = n+8*c.Len(), v.Nulls
		case *table.Col[float64]:
			n, nulls = n+8*c.Len(), v.Nulls
		case *table.Col[time.Time]:
			n, nulls = n+24*c.Len(), v.Nulls
		default:
			t.Fatalf("column %s: unexpected %T", c.Name(), v)
		}
		if nulls != nil {
			n += len(nulls)
		}
	}
	return n
}

// TestSQLResultMemory fills a table, reads a result of about 29 MiB from it under
// sql.max_result_bytes = 32 MiB, and writes it in each format: the heap's peak growth
// stays within 3 × the result's size + 32 MiB.
func TestSQLResultMemory(t *testing.T) {
	chCfg, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	const rows = 320_000
	for _, stmt := range []string{
		"CREATE TABLE big (id UInt64, reason String, wh Float64, at DateTime('UTC')) ENGINE = MergeTree ORDER BY id",
		fmt.Sprintf("INSERT INTO big (id, reason, wh, at) SELECT number, concat('estimated: gap of ', toString(number %% 97), ' intervals, like-day'), number / 3, toDateTime(1774656000 + number * 900, 'UTC') FROM system.numbers LIMIT %d", rows),
	} {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	cfg := sql.DefaultConfig()
	cfg.MaxResultBytes = 32 << 20
	sq, err := sql.New(cfg, chCfg.Database, analystPool(t, chCfg, cfg))
	if err != nil {
		t.Fatal(err)
	}
	var tbl *table.Table
	peak := testenv.PeakHeap(func() {
		if tbl, err = sq.Run(ctx, "", "SELECT id, reason, wh, at FROM big ORDER BY id"); err != nil {
			return
		}
		for _, f := range []table.Format{table.FormatJSON, table.FormatCSV, table.FormatArrow} {
			if err = table.Write(io.Discard, f, table.Result{Table: tbl}); err != nil {
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	size := tableBytes(t, tbl)
	if tbl.Rows() != rows || size < 28<<20 || size > cfg.MaxResultBytes {
		t.Fatalf("result of %d rows, %d bytes; the test wants %d rows near the 32 MiB limit", tbl.Rows(), size, rows)
	}
	bound := uint64(3*size + 32<<20)
	t.Logf("result %.1f MiB, heap peak +%.1f MiB, bound %.1f MiB", float64(size)/(1<<20), float64(peak)/(1<<20), float64(bound)/(1<<20))
	if peak > bound {
		t.Errorf("heap grew by %d bytes for a result of %d bytes, more than the bound %d", peak, size, bound)
	}
}

// TestSQLResultBytesCountedInMemory reads a result of narrow types (UInt8 and DateTime,
// 5 bytes a row on the server, 34 in memory) that the server's max_result_bytes lets
// through at 32 MiB but that would take about 200 MB in the process: the endpoint counts
// the bytes its typed columns take as it reads and refuses the query with limit_exceeded
// naming sql.max_result_bytes, with the heap's growth within 3 × the limit + 32 MiB.
// (Before, only the server counted, and the result was held whole.)
func TestSQLResultBytesCountedInMemory(t *testing.T) {
	chCfg, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	const rows = 6_000_000
	for _, stmt := range []string{
		"CREATE TABLE narrow (flag UInt8, at DateTime('UTC')) ENGINE = MergeTree ORDER BY at",
		fmt.Sprintf("INSERT INTO narrow (flag, at) SELECT number %% 2, toDateTime(1774656000 + number * 900, 'UTC') FROM system.numbers LIMIT %d", rows),
	} {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	cfg := sql.DefaultConfig()
	cfg.MaxResultBytes = 32 << 20
	cfg.MaxResultRows = 10_000_000
	sq, err := sql.New(cfg, chCfg.Database, analystPool(t, chCfg, cfg))
	if err != nil {
		t.Fatal(err)
	}
	var tbl *table.Table
	peak := testenv.PeakHeap(func() { tbl, err = sq.Run(ctx, "", "SELECT flag, at FROM narrow") })
	if err == nil {
		t.Errorf("a result of %d rows was held whole", tbl.Rows())
	} else if !strings.Contains(err.Error(), "(sql.max_result_bytes)") || !errors.Is(err, fault.ErrLimitExceeded) {
		t.Fatalf("over sql.max_result_bytes: %v, want a limit error naming it", err)
	}
	bound := uint64(3*cfg.MaxResultBytes + 32<<20)
	t.Logf("heap peak +%.1f MiB, bound %.1f MiB", float64(peak)/(1<<20), float64(bound)/(1<<20))
	if peak > bound {
		t.Errorf("the heap grew by %d bytes, more than %d", peak, bound)
	}
}

// TestConnectSQLUsesItsOwnCredentials checks that the analyst pool logs in with the sql
// section's user, not the clickhouse section's: an unknown analyst user fails with an
// error naming sql.username although the application's user works, and a password file
// that cannot be read is an error naming sql.password_file; the application's password file is never
// sent for the analyst, and a per-test analyst user logs in.
func TestConnectSQLUsesItsOwnCredentials(t *testing.T) {
	ch, _ := testenv.ClickHouse(t)
	ctx := context.Background()
	cfg := sql.DefaultConfig()
	cfg.Username = "nobody_" + testenv.Suffix()
	if conn, err := sql.Connect(ctx, ch, cfg); err == nil {
		conn.Close()
		t.Fatalf("connected as the unknown user %s", cfg.Username)
	} else if !strings.Contains(err.Error(), "sql.username "+cfg.Username) {
		t.Errorf("unknown user: %v, want an error naming sql.username", err)
	}
	cfg.Username, cfg.PasswordFile = ch.Username, t.TempDir()+"/missing"
	if _, err := sql.Connect(ctx, ch, cfg); err == nil || !strings.HasPrefix(err.Error(), "sql.password_file:") {
		t.Errorf("unreadable password file: %v, want an error naming sql.password_file", err)
	}
	// The application's password file (ch.PasswordFile) is not sent as the analyst's
	// password: the application's user without a password of the SQL section is refused.
	cfg.PasswordFile = ""
	if conn, err := sql.Connect(ctx, ch, cfg); err == nil {
		conn.Close()
		t.Errorf("connected as %s with no password of the SQL section's own", cfg.Username)
	}
	analyst := testenv.AnalystClickHouse(t, ch)
	cfg.Username, cfg.Password, cfg.PasswordFile = analyst.Username, analyst.Password, ""
	conn, err := sql.Connect(ctx, ch, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var user string
	// 18.16 has no currentUser(): the query finds itself in system.processes.
	if err := conn.QueryRow(ctx, "SELECT any(user) FROM system.processes WHERE position(query, 'whoami_7f3a') > 0").Scan(&user); err != nil || user != analyst.Username {
		t.Errorf("the analyst pool's user is %q (%v); want %s", user, err, analyst.Username)
	}
}

// TestSQLRefusedResultStopsServerQuery: a result that the endpoint itself refuses (more
// rows than sql.max_result_rows while the server's profile would allow more) ends the
// query on the server at once, instead of reading the rest of its stream to close it,
// which held the analyst's slot and connection until the server's own limit (60 s here).
func TestSQLRefusedResultStopsServerQuery(t *testing.T) {
	ch, conn := testenv.ClickHouse(t)
	server := sql.DefaultConfig()
	server.MaxExecutionTime = 60 * time.Second
	server.MaxRowsToRead = 1 << 40
	server.MaxResultRows, server.MaxResultBytes = 1<<40, 1<<40
	client := server
	client.MaxResultRows = 1000
	sq, err := sql.New(client, ch.Database, analystPool(t, ch, server))
	if err != nil {
		t.Fatal(err)
	}
	marker := "refused_" + testenv.Suffix()
	done := make(chan error, 1)
	go func() {
		_, err := sq.Run(context.Background(), "", "SELECT number AS "+marker+" FROM system.numbers")
		done <- err
	}()
	// Without the cancel, Run returns only when the server ends the query, a minute on;
	// with it, at once. The bound is far from both.
	select {
	case err := <-done:
		if !errors.Is(err, sql.ErrLimit) || !strings.Contains(err.Error(), "sql.max_result_rows") {
			t.Fatalf("Run: %v, want the sql.max_result_rows limit", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run still reads the refused result after 20 s")
	}
	testenv.WaitQueries(t, conn, marker, 0, 15*time.Second)
}
