package query

import (
	"errors"
	"strings"
	"testing"

	"github.com/meterhouse/meterhouse/api"
)

// TestGuard lists statements the analyst SQL endpoint accepts and refuses. Every refusal
// must be an api.FieldError for "query" whose message names what is refused.
func TestGuard(t *testing.T) {
	g := NewGuard("meterhouse")
	accepted := []struct{ sql, want string }{
		{"SELECT 1", "SELECT 1"},
		{"select 1;", "select 1"},
		{"SELECT 1 ;  -- done\n", "SELECT 1"},
		{"  SELECT meter_id, sum(wh) FROM consumption FINAL WHERE resolution = '1h' GROUP BY meter_id ORDER BY meter_id LIMIT 10", ""},
		{"WITH toDateTime('2026-01-01 00:00:00') AS t0 SELECT count() FROM readings WHERE ts >= t0", ""},
		{"WITH x AS (SELECT 1 AS a) SELECT a FROM x", ""},
		{"SELECT * FROM meterhouse.meters FINAL", ""},
		{"SELECT * FROM `meterhouse`.`meters`", ""},
		{`SELECT * FROM "meterhouse"."meters"`, ""},
		{"SELECT number FROM system.numbers LIMIT 10", ""},
		{"SELECT * FROM system.one", ""},
		{"SELECT name FROM system.functions WHERE name LIKE 'to%'", ""},
		{"SELECT a.meter_id, b.feeder FROM readings AS a ANY LEFT JOIN meters AS b USING meter_id", ""},
		{"SELECT m.meter_id FROM meters AS m WHERE m.feeder IN (SELECT feeder FROM meters WHERE region = 'north')", ""},
		{"SELECT count() FROM readings WHERE meter_id IN meters_subset", ""},
		{"SELECT 'DROP TABLE readings; INSERT INTO x', \"insert\" FROM readings", ""},
		{"SELECT 'it''s', 'a\\'b' /* DROP TABLE x; */ -- ; DELETE\n FROM readings", ""},
		{"SELECT extract(day FROM ts), substring(meter_id FROM 2), toDate(ts) FROM readings", ""},
		{"SELECT EXTRACT(DAY FROM toDate(ts)) FROM readings", ""},
		{"SELECT truncate(1.5), replace(meter_id, 'A', 'B'), format('{}', 'x') FROM readings", ""},
		{"SELECT updated_at, settings_count, setting, intotal, formatted FROM x", ""},
		{"SELECT arr FROM t ARRAY JOIN arrayMap(x -> x * 2, [1, 2]) AS arr", ""},
		{"SELECT t.1, tuple(1, 2).2, 1.5e-3, .5, 0x1F FROM t", ""},
		{"SELECT * FROM meters UNION ALL SELECT * FROM meters", ""},
		{"DESCRIBE TABLE readings", ""},
		{"DESC meters", ""},
		{"SHOW TABLES", ""},
		{"SHOW TABLES LIKE 'read%' LIMIT 5", ""},
		{"SELECT system.numbers.number FROM system.numbers LIMIT 1", ""},
		// A backslash escapes the quote: all of it is one string, for ClickHouse as well.
		{"SELECT * FROM readings WHERE 'a\\' = 1; DROP TABLE x; --'", ""},
	}
	for _, tt := range accepted {
		t.Run("accept/"+tt.sql, func(t *testing.T) {
			got, err := g.Check(tt.sql)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tt.want != "" && got != tt.want {
				t.Fatalf("statement %q, want %q", got, tt.want)
			}
		})
	}
	// With an allow-list, the listed table functions pass, in any case.
	withNumbers := NewGuard("meterhouse")
	withNumbers.TableFunctions = []string{"numbers", "generaterandom"}
	for _, sql := range []string{"SELECT * FROM numbers(10)", "SELECT * FROM NUMBERS(10)", "SELECT * FROM (SELECT 1 AS x) AS s, numbers(3)", "SELECT * FROM generateRandom('a UInt8', 1) LIMIT 3"} {
		if _, err := withNumbers.Check(sql); err != nil {
			t.Errorf("allow-listed %q refused: %v", sql, err)
		}
	}
	if _, err := withNumbers.Check("SELECT * FROM zeros(3)"); err == nil || !strings.Contains(err.Error(), "only numbers, generaterandom are") {
		t.Errorf("zeros() with an allow-list: %v", err)
	}
	refused := []struct{ sql, want string }{
		{"", "is empty"},
		{" ; ", "is empty"},
		{"-- only a comment", "is empty"},
		{"SELECT 1; SELECT 2", "multiple statements"},
		{"SELECT 1; DROP TABLE readings", "multiple statements"},
		{"SELECT 1;;", "multiple statements"},
		{"INSERT INTO readings (meter_id) VALUES ('x')", "INSERT is not allowed"},
		{"insert into readings select * from readings", "INSERT is not allowed"},
		{"ALTER TABLE readings DELETE WHERE 1", "ALTER is not allowed"},
		{"CREATE TABLE x (a UInt8) ENGINE = Memory", "CREATE is not allowed"},
		{"DROP TABLE readings", "DROP is not allowed"},
		{"TRUNCATE TABLE readings", "TRUNCATE is not allowed"},
		{"RENAME TABLE a TO b", "RENAME is not allowed"},
		{"ATTACH TABLE a", "ATTACH is not allowed"},
		{"DETACH TABLE a", "DETACH is not allowed"},
		{"OPTIMIZE TABLE readings FINAL", "OPTIMIZE is not allowed"},
		{"KILL QUERY WHERE 1", "KILL is not allowed"},
		{"SYSTEM SHUTDOWN", "SYSTEM is not allowed"},
		{"GRANT ALL ON *.* TO x", "GRANT is not allowed"},
		{"USE system", "USE is not allowed"},
		{"SET readonly = 0", "SET is not allowed"},
		{"set max_rows_to_read = 0", "SET is not allowed"},
		{"EXPLAIN SELECT 1", "EXPLAIN statements are not allowed"},
		{"(SELECT 1)", "must start with SELECT"},
		{"SELECT * FROM readings WHERE 1 = (SELECT 1) AND 0; SET readonly=0", "multiple statements"},
		{"WITH 1 AS x INSERT INTO t SELECT x", "INSERT is not allowed"},
		{"SELECT * FROM readings SETTINGS max_rows_to_read = 0", "SETTINGS clauses are not allowed"},
		{"SELECT * FROM readings SETTINGS readonly = 0", "SETTINGS clauses are not allowed"},
		{"SELECT * FROM readings INTO OUTFILE '/tmp/x'", "INTO OUTFILE is not allowed"},
		{"SELECT * FROM readings FORMAT TabSeparated", "FORMAT clauses are not allowed"},
		{"SELECT * FROM readings format JSON", "FORMAT clauses are not allowed"},
		{"SELECT * FROM system.users", "system.users is not allowed"},
		{"SELECT * FROM `system`.`users`", "system.users is not allowed"},
		{`SELECT * FROM "system".grants`, "system.grants is not allowed"},
		{"SELECT * FROM system.settings_profiles", "system.settings_profiles is not allowed"},
		{"SELECT * FROM system.quotas", "system.quotas is not allowed"},
		{"SELECT * FROM system.row_policies", "system.row_policies is not allowed"},
		{"SELECT * FROM system.roles", "system.roles is not allowed"},
		{"SELECT * FROM system.zookeeper WHERE path = '/'", "system.zookeeper is not allowed"},
		{"SELECT * FROM system.processes", "system.processes is not allowed"},
		{"SELECT * FROM system.query_log", "system.query_log is not allowed"},
		{"SELECT * FROM system.settings", "system.settings is not allowed"},
		{"SELECT * FROM system.clusters", "system.clusters is not allowed"},
		{"SELECT 1 FROM meters WHERE meter_id IN system.users", "system.users is not allowed"},
		{"SELECT 1 FROM meters WHERE meter_id IN (SELECT name FROM system.users)", "system.users is not allowed"},
		{"SELECT a FROM (SELECT name AS a FROM system.users)", "system.users is not allowed"},
		{"SELECT * FROM meters ANY LEFT JOIN system.users USING name", "system.users is not allowed"},
		{"SELECT * FROM meters, system.users", "system.users is not allowed"},
		{"SELECT system.users.name FROM meters", "system.users is not allowed"},
		{"DESCRIBE TABLE system.users", "system.users is not allowed"},
		{"SELECT * FROM default.secrets", "database default is not allowed"},
		{"SELECT * FROM other_db.readings", "database other_db is not allowed"},
		{"SELECT * FROM `other`.readings", "database other is not allowed"},
		{"SELECT * FROM meters ANY INNER JOIN other.t USING meter_id", "database other is not allowed"},
		{"SELECT * FROM meters WHERE meter_id IN other.t", "database other is not allowed"},
		{"SELECT * FROM meters, other.t", "database other is not allowed"},
		{"SELECT * FROM file('/etc/passwd', 'CSV', 'a String')", "table function file() is not allowed: it reads server files"},
		{"SELECT * FROM FILE('x')", "table function FILE() is not allowed"},
		{"SELECT * FROM url('http://example.com/x', CSV, 'a String')", "table function url() is not allowed: it reaches the network"},
		{"SELECT * FROM remote('127.0.0.1:9000', system.users)", "table function remote() is not allowed: it reaches other servers"},
		{"SELECT * FROM remoteSecure('h', db.t)", "table function remoteSecure() is not allowed"},
		{"SELECT * FROM cluster('c', db.t)", "table function cluster() is not allowed"},
		{"SELECT * FROM clusterAllReplicas('c', db.t)", "table function clusterAllReplicas() is not allowed"},
		{"SELECT * FROM s3('https://b/x', 'CSV')", "table function s3() is not allowed"},
		{"SELECT * FROM s3Cluster('c', 'https://b/x')", "table function s3Cluster() is not allowed"},
		{"SELECT * FROM hdfs('hdfs://x')", "table function hdfs() is not allowed"},
		{"SELECT * FROM mysql('h:3306', 'db', 't', 'u', 'p')", "table function mysql() is not allowed"},
		{"SELECT * FROM postgresql('h', 'db', 't', 'u', 'p')", "table function postgresql() is not allowed"},
		{"SELECT * FROM jdbc('jdbc:x', 't')", "table function jdbc() is not allowed"},
		{"SELECT * FROM odbc('dsn', 't')", "table function odbc() is not allowed"},
		{"SELECT * FROM input('a UInt8')", "table function input() is not allowed"},
		{"SELECT * FROM executable('x.sh', 'CSV', 'a UInt8')", "table function executable() is not allowed: it runs programs"},
		{"SELECT * FROM azureBlobStorage('x')", "table function azureBlobStorage() is not allowed"},
		{"SELECT * FROM gcs('x')", "table function gcs() is not allowed"},
		{"SELECT * FROM merge('system', '^users$')", "table function merge() is not allowed: it reads other databases"},
		{"SELECT * FROM `file`('x')", "table function file() is not allowed"},
		{"SELECT file('/etc/passwd')", "table function file() is not allowed"},
		{"SELECT * FROM meters WHERE meter_id IN (SELECT * FROM url('http://x', CSV, 'a String'))", "table function url() is not allowed"},
		{"SELECT * FROM meters, url('http://x')", "table function url() is not allowed"},
		{"SELECT * FROM meters ANY LEFT JOIN s3('x') USING a", "table function s3() is not allowed"},
		{"SELECT * FROM view(SELECT * FROM system.users)", "table function view() is not allowed"},
		{"SELECT * FROM someNewFunction('x')", "table function someNewFunction() is not allowed: queries read the platform database's tables only"},
		{"SELECT * FROM numbers(10)", "table function numbers() is not allowed"},
		{"SELECT * FROM (SELECT 1 AS x) AS s, zeros(3)", "table function zeros() is not allowed"},
		{"SELECT * FROM meters, someNewFunction('x')", "table function someNewFunction() is not allowed"},
		{"SELECT joinGet('other.t', 'c', 1)", "table function joinGet() is not allowed"},
		{"SHOW DATABASES", "SHOW DATABASES is not allowed"},
		{"SHOW PROCESSLIST", "SHOW PROCESSLIST is not allowed"},
		{"SHOW CREATE TABLE system.users", "SHOW CREATE is not allowed"},
		{"SHOW TABLES FROM system", "SHOW TABLES FROM is not allowed"},
		{"SELECT 'unterminated", "unterminated string"},
		{"SELECT `x", "unterminated quoted identifier"},
		{"SELECT 1 /* open", "unterminated /* comment"},
		{"SELECT (1", "unbalanced '('"},
		{"SELECT 1)", "unbalanced ')'"},
		{"SELECT 1 AS update", "UPDATE is not allowed"},
	}
	for _, tt := range refused {
		t.Run("refuse/"+tt.sql, func(t *testing.T) {
			_, err := g.Check(tt.sql)
			var fe *api.FieldError
			if !errors.As(err, &fe) || fe.Field != "query" || !errors.Is(err, api.ErrInvalid) {
				t.Fatalf("Check = %v, want a FieldError for query", err)
			}
			if !strings.Contains(fe.Message, tt.want) {
				t.Fatalf("message %q does not say %q", fe.Message, tt.want)
			}
		})
	}
}

func TestLexSQL(t *testing.T) {
	toks, err := lexSQL("SELECT a.b, 'x''y\\'z', `q``r`, 1e-3, .5 /* c */ -- d\n>= ->")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range toks {
		got = append(got, tk.text)
	}
	want := []string{"SELECT", "a", ".", "b", ",", `'x''y\'z'`, ",", "`q``r`", ",", "1e-3", ",", ".5", ">=", "->"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("tokens %q, want %q", got, want)
	}
	if id := toks[7].ident(); id != "q`r" {
		t.Fatalf("ident %q", id)
	}
}
