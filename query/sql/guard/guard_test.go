package guard

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meterhouse/meterhouse/fault"
)

// TestGuard lists statements the analyst SQL endpoint accepts and refuses. Every refusal
// must be an fault.FieldError for "query" whose message names what is refused.
func TestGuard(t *testing.T) {
	g := New("meterhouse")
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
		{"SELECT truncate(1.5), replace(meter_id, 'A', 'B'), formatDateTime(ts, '%F') FROM readings", ""},
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
	withNumbers := New("meterhouse")
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
			var fe *fault.FieldError
			if !errors.As(err, &fe) || fe.Field != "query" || !errors.Is(err, fault.ErrInvalid) {
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

// nest returns open repeated n times, then inner, then close repeated n times.
func nest(open, inner, close string, n int) string {
	return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
}

// TestGuardDepth checks that the guard measures how deep each construct nests the
// expression tree, passes a query exactly at the limit and refuses one level more with a
// message naming the limit. No such query is ever sent to a server.
func TestGuardDepth(t *testing.T) {
	g := New("meterhouse")
	if g.MaxDepth != DefaultMaxDepth || DefaultMaxDepth != 100 {
		t.Fatalf("MaxDepth %d, DefaultMaxDepth %d, want 100", g.MaxDepth, DefaultMaxDepth)
	}
	lim := g.MaxDepth
	// Each builder returns a query with k repetitions of its construct; the query nests
	// offset + per*k levels deep.
	constructs := []struct {
		name        string
		build       func(k int) string
		per, offset int
	}{
		{"brackets", func(k int) string { return "SELECT " + nest("(", "1", ")", k) }, 1, 0},
		{"brackets in WHERE", func(k int) string { return "SELECT 1 FROM readings WHERE " + nest("(", "flagged", ")", k) }, 1, 0},
		{"CASE", func(k int) string {
			return "SELECT " + nest("CASE WHEN flagged THEN ", "1", " ELSE 0 END", k) + " FROM readings"
		}, 1, 0},
		{"CASE in ELSE", func(k int) string { return "SELECT " + nest("case when 1 then 2 else ", "3", " end", k) }, 1, 0},
		// A subquery is a bracket and a SELECT: two levels.
		{"subqueries", func(k int) string { return "SELECT x FROM " + nest("(SELECT x FROM ", "readings", ")", k) }, 2, 0},
		// x IN (SELECT …) is an operator, a bracket and a SELECT.
		{"IN subqueries", func(k int) string {
			return "SELECT 1 FROM meters WHERE " + nest("meter_id IN (SELECT meter_id FROM meters WHERE ", "1", ")", k)
		}, 3, 0},
		{"arrays", func(k int) string { return "SELECT " + nest("[", "1", "]", k) }, 1, 0},
		{"braces", func(k int) string { return "SELECT " + nest("{", "1", "}", k) }, 1, 0},
		{"tuples", func(k int) string { return "SELECT " + nest("(1, ", "2", ")", k) }, 1, 0},
		{"function calls", func(k int) string { return "SELECT " + nest("abs(", "1", ")", k) }, 1, 0},
		// The call's bracket is one level, each arrow another.
		{"lambdas", func(k int) string { return "SELECT arrayMap(" + strings.Repeat("x -> ", k) + "1, [1])" }, 1, 1},
		{"bracketed lambdas", func(k int) string { return "SELECT arrayMap(x -> " + nest("(x -> ", "1", ")", k) + ", [1])" }, 2, 2},
		{"NOT chains", func(k int) string { return "SELECT " + strings.Repeat("NOT ", k) + "1" }, 1, 0},
		{"unary minus", func(k int) string { return "SELECT " + nest("-(", "1", ")", k) }, 2, 0},
		{"additions", func(k int) string { return "SELECT 1" + strings.Repeat(" + 1", k) }, 1, 0},
		{"subscripts", func(k int) string { return "SELECT [1]" + strings.Repeat("[1]", k) }, 1, 1},
		// 1.1.1.1 is ((1.1).1).1 for ClickHouse's lexer: each further .N is tupleElement.
		{"tuple access after a number", func(k int) string { return "SELECT 1" + strings.Repeat(".1", k) }, 1, -1},
		{"tuple access after a name", func(k int) string { return "SELECT t" + strings.Repeat(".1", k) + " FROM readings" }, 1, 0},
	}
	for _, c := range constructs {
		t.Run(c.name, func(t *testing.T) {
			k := (lim - c.offset) / c.per
			at := c.build(k)
			want := c.offset + c.per*k
			if d, _ := exprDepth(mustLex(t, at), 0); d != want {
				t.Fatalf("depth of %.80q… is %d, want %d", at, d, want)
			}
			if c.per == 1 && want != lim {
				t.Fatalf("test builds depth %d, want the limit %d", want, lim)
			}
			if _, err := g.Check(at); err != nil {
				t.Fatalf("a query nesting %d deep (limit %d) is refused: %v", want, lim, err)
			}
			_, err := g.Check(c.build(k + 1))
			var fe *fault.FieldError
			if !errors.As(err, &fe) || fe.Field != "query" || !errors.Is(err, fault.ErrInvalid) {
				t.Fatalf("a query deeper than the limit: Check = %v, want a FieldError for query", err)
			}
			if !strings.Contains(fe.Message, "nests expressions") || !strings.Contains(fe.Message, "the limit is 100 (sql guard max depth)") {
				t.Fatalf("message %q does not name the limit", fe.Message)
			}
		})
	}
	t.Run("one over the limit", func(t *testing.T) {
		_, err := g.Check("SELECT " + nest("(", "1", ")", lim+1))
		if err == nil || !strings.Contains(err.Error(), "the query nests expressions more than 100 deep (at offset 107); the limit is 100 (sql guard max depth)") {
			t.Fatalf("Check = %v", err)
		}
	})
	t.Run("hostile 64 KiB", func(t *testing.T) {
		// The deepest text the endpoint accepts, in every construct, unbalanced too: the
		// guard refuses each by its depth, before any other check.
		for _, q := range []string{
			"SELECT " + strings.Repeat("(", 64<<10-7),
			"SELECT " + strings.Repeat("[", 64<<10-7),
			"SELECT " + strings.Repeat("{", 64<<10-7),
			"SELECT " + strings.Repeat("[1]", (64<<10)/3),
			"SELECT " + strings.Repeat("1 ? 1 : ", (64<<10)/8) + "1",
			"SELECT " + strings.Repeat("-(", (64<<10)/2),
			"SELECT " + strings.Repeat("f(", (64<<10-7)/2),
			"SELECT " + strings.Repeat("CASE WHEN 1 THEN ", (64<<10)/17),
			"SELECT " + strings.Repeat("x->", (64<<10)/3),
			"SELECT " + strings.Repeat("NOT ", (64<<10)/4),
			"SELECT " + strings.Repeat("(SELECT ", (64<<10)/8),
			"SELECT 1" + strings.Repeat("+1", (64<<10)/2),
			"SELECT " + nest("(", "1", ")", 3000) + "; DROP TABLE x",
		} {
			_, err := g.Check(q)
			if err == nil || !strings.Contains(err.Error(), "sql guard max depth") {
				t.Errorf("%.40q…: Check = %v, want a depth refusal", q, err)
			}
		}
	})
	t.Run("a lower limit", func(t *testing.T) {
		low := New("meterhouse")
		low.MaxDepth = 3
		if _, err := low.Check("SELECT abs(((1)))"); err != nil {
			t.Fatal(err)
		}
		if _, err := low.Check("SELECT abs((((1))))"); err == nil || !strings.Contains(err.Error(), "nests expressions more than 3 deep (at offset 13); the limit is 3") {
			t.Fatalf("Check = %v", err)
		}
	})
	t.Run("CAST and SUBSTRING", func(t *testing.T) {
		// ClickHouse 18.16 may parse each of these twice: their nesting has a limit of its own.
		for _, c := range []struct{ open, inner, close string }{
			{"CAST(", "1", ", 'UInt64')"},
			{"cast(", "1", " AS UInt64)"},
			{"substring(", "'abc'", ")"},
			{"SUBSTRING(abs(", "'abc'", "), 1)"},
			{"CASE (", "1", ")"},
			{"Cast(", "1", " AS String)"},
		} {
			at := "SELECT " + nest(c.open, c.inner, c.close, maxReparsedNesting)
			if _, err := g.Check(at); err != nil {
				t.Errorf("%s nested %d deep: %v", c.open, maxReparsedNesting, err)
			}
			_, err := g.Check("SELECT " + nest(c.open, c.inner, c.close, maxReparsedNesting+1))
			if err == nil || !strings.Contains(err.Error(), "nests CAST, SUBSTRING and CASE brackets more than 8 deep") {
				t.Errorf("%s nested %d deep: Check = %v", c.open, maxReparsedNesting+1, err)
			}
		}
		// Side by side they do not add up.
		if _, err := g.Check("SELECT " + strings.Repeat("CAST(1 AS String), ", 50) + "1"); err != nil {
			t.Error(err)
		}
	})
	t.Run("wide is not deep", func(t *testing.T) {
		// Long lists, AND/OR chains and many sibling brackets are flat.
		var in, or, cols []string
		for i := 0; i < 500; i++ {
			in = append(in, "'M"+strings.Repeat("1", i%5+1)+"'")
			or = append(or, "(wh = 1 AND NOT flagged)")
			cols = append(cols, "abs(-(wh + 1) * 2)")
		}
		for _, q := range []string{
			"SELECT 1 FROM readings WHERE meter_id IN (" + strings.Join(in, ", ") + ")",
			"SELECT 1 FROM readings WHERE " + strings.Join(or, " OR "),
			"SELECT " + strings.Join(cols, ", ") + " FROM readings",
		} {
			if _, err := g.Check(q); err != nil {
				t.Errorf("%.60q…: %v", q, err)
			}
		}
	})
}

func mustLex(t *testing.T, s string) []token {
	t.Helper()
	toks, err := lexSQL(s)
	if err != nil {
		t.Fatal(err)
	}
	return toks
}

// TestGuardFunctions checks the function allow-list: the functions analysts need pass in
// the spelling ClickHouse resolves, every other function is refused with its name.
func TestGuardFunctions(t *testing.T) {
	g := New("meterhouse")
	accepted := []string{
		// aggregates, parametric ones and combinators of allowed aggregates
		"SELECT count(), COUNT(*), Count(DISTINCT meter_id), sum(wh), SUM(wh), avg(wh), AVG(wh), min(ts), MAX(ts), any(wh), anyLast(wh), anyHeavy(wh) FROM readings",
		"SELECT argMin(ts, wh), argMax(ts, wh), uniq(meter_id), uniqExact(meter_id), uniqCombined(meter_id), uniqHLL12(meter_id), uniqUpTo(10)(meter_id) FROM readings",
		"SELECT quantile(0.9)(wh), quantiles(0.1, 0.5, 0.9)(wh), quantileExact(0.5)(wh), quantileTiming(0.5)(wh), quantilesTDigest(0.5)(wh), median(wh), medianExact(wh) FROM readings",
		"SELECT groupArray(wh), groupArray(10)(wh), groupUniqArray(wh), topK(5)(meter_id), stddevPop(wh), stddevSamp(wh), varPop(wh), varSamp(wh), corr(wh, wh), covarPop(wh, wh), covarSamp(wh, wh) FROM readings",
		"SELECT STDDEV_POP(wh), var_samp(wh), COVAR_POP(wh, wh), BIT_AND(toUInt8(1)), groupBitOr(toUInt8(1)), sumKahan(wh), sumMap([1], [2]) FROM readings",
		"SELECT sumIf(wh, wh > 0), countIf(wh > 0), avgIf(wh, wh > 0), uniqIf(meter_id, wh > 0), quantileIf(0.5)(wh, wh > 0), SUMIf(wh, 1) FROM readings",
		"SELECT sumArray([wh]), uniqArray([meter_id]), sumState(wh), uniqExactIfState(meter_id, 1), sumForEach([wh]), argMaxMerge(wh_last), uniqMergeState(s) FROM readings_hourly",
		// dates and times
		"SELECT toDate(ts), toDateTime('2026-01-01 00:00:00', 'UTC'), toStartOfHour(ts), toStartOfDay(ts), toStartOfMonth(ts), toStartOfFifteenMinutes(ts), toStartOfYear(ts), toMonday(ts) FROM readings",
		"SELECT toYear(ts), toMonth(ts), toDayOfMonth(ts), toDayOfWeek(ts), toHour(ts), toMinute(ts), toSecond(ts), toUnixTimestamp(ts), toYYYYMM(ts), toISOWeek(ts) FROM readings",
		"SELECT now(), NOW(), today(), yesterday(), dateDiff('day', ts, now()), DATEDIFF('hour', ts, now()), addDays(ts, 1), subtractHours(ts, 2), toTimeZone(ts, 'Europe/Berlin'), formatDateTime(ts, '%F') FROM readings",
		"SELECT toRelativeDayNum(ts), toRelativeHourNum(ts), timeSlot(ts), timeSlots(ts, toUInt32(3600)), ts + INTERVAL 1 DAY, ts - INTERVAL (2) HOUR, toIntervalHour(1), EXTRACT(DAY FROM ts) FROM readings",
		// arithmetic and math
		"SELECT plus(1, 2), minus(1, 2), multiply(2, 3), divide(1, 2), intDiv(7, 2), modulo(7, 2), negate(1), abs(-1), round(1.5), ROUND(1.55, 1), floor(1.5), ceil(1.5), CEILING(1.5), sqrt(2), exp(1), log(2), LN(2), log10(2), log2(2), pow(2, 3), POWER(2, 3), greatest(1, 2), least(1, 2), truncate(1.5), intDivOrZero(1, 0)",
		// comparisons and logic
		"SELECT equals(1, 1), notEquals(1, 2), less(1, 2), greater(2, 1), lessOrEquals(1, 1), greaterOrEquals(1, 1), and(1, 1), or(0, 1), not(0), xor(1, 0), 1 = 1 AND NOT 0 OR 1 != 2",
		// conditionals
		"SELECT if(wh > 0, 1, 0), IF(wh > 0, 1, 0), multiIf(wh > 0, 1, 0), ifNull(NULL, 1), nullIf(1, 1), coalesce(NULL, 1), isNull(wh), isNotNull(wh), assumeNotNull(wh), toNullable(wh), CASE WHEN wh > 0 THEN 1 ELSE 0 END, wh > 0 ? 1 : 0 FROM readings",
		// strings
		"SELECT length(meter_id), lower(meter_id), upper(meter_id), lcase(meter_id), concat(meter_id, 'x'), substring(meter_id, 1, 2), SUBSTR(meter_id, 1), position(meter_id, 'M'), meter_id LIKE 'M%', like(meter_id, 'M%'), notLike(meter_id, 'x'), match(meter_id, '^M'), extract(meter_id, '[0-9]+') FROM meters",
		"SELECT replaceAll(meter_id, 'M', 'N'), replaceOne(meter_id, 'M', 'N'), replaceRegexpAll(meter_id, 'M', 'N'), replace(meter_id, 'M', 'N'), splitByChar(',', 'a,b'), startsWith(meter_id, 'M'), endsWith(meter_id, '1'), toString(1), reverse(meter_id), empty(meter_id), notEmpty(meter_id) FROM meters",
		// arrays and tuples
		"SELECT array(1, 2), [1, 2][1], arrayJoin([1, 2]), has([1], 1), indexOf([1], 1), arrayMap(x -> x * 2, [1]), arrayFilter(x -> x > 1, [1, 2]), arraySum([1]), arraySum(x -> x * 2, [1]), range(3), arrayElement([1], 1), tuple(1, 2), tupleElement(tuple(1, 2), 1), (1, 2).1, length([1]), sumArray([1])",
		// type conversion
		"SELECT toInt8(1), toInt32(1), toInt64(1), toUInt8(1), toUInt64(1), toFloat32(1), toFloat64(1), toDecimal32(1, 2), toDecimal64(1, 2), toString(1), toInt32OrZero('x'), toFloat64OrNull('x'), toFixedString('a', 1), CAST(1 AS String), cast(1, 'String'), CAST(1 AS Nullable(UInt8)), CAST([1] AS Array(Nullable(Decimal(10, 2)))), CAST(ts AS DateTime('UTC')) FROM readings",
		// hashing, rows, and the rest
		"SELECT cityHash64(meter_id), sipHash64(meter_id), intHash64(1), runningAccumulate(s), runningDifference(wh), currentDatabase(), throwIf(0), rowNumberInAllBlocks(), toTypeName(1), materialize(1), bar(1, 0, 10), formatReadableSize(1), transform(1, [1], [2], 0) FROM readings",
		// quoted function names resolve like bare ones
		"SELECT `sum`(wh), \"toDate\"(ts), `to\\x44ate`(ts) FROM readings",
		// IN in its operator forms
		"SELECT 1 FROM meters WHERE meter_id IN ('M1', 'M2') AND feeder NOT IN (SELECT feeder FROM meters) AND region GLOBAL IN ('north') AND region GLOBAL NOT IN ('south') AND NOT meter_id IN meters_subset",
		"SELECT (meter_id, feeder) IN (('M1', 'F1')), meter_id IN meterhouse.meters, meter_id IN (meters), toString(1) IN ('1') FROM meters",
	}
	for _, sql := range accepted {
		t.Run("accept/"+sql, func(t *testing.T) {
			if _, err := g.Check(sql); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
	refused := []struct{ sql, want string }{
		{"SELECT hasColumnInTable('127.0.0.1:9000', 'u', 'p', 'db', 't', 'c')", "function hasColumnInTable is not allowed in analyst SQL"},
		{"SELECT hasColumnInTable('db', 't', 'c')", "function hasColumnInTable is not allowed in analyst SQL"},
		{"SELECT `hasColumnInTable`('db', 't', 'c')", "function hasColumnInTable is not allowed"},
		{"SELECT `hasColumn\\x49nTable`('db', 't', 'c')", "function hasColumnInTable is not allowed"},
		{"SELECT \"hasColumn\\InTable\"('db', 't', 'c')", "function hasColumnInTable is not allowed"},
		{"SELECT 1 WHERE hasColumnInTable('db', 't', 'c') = 1", "function hasColumnInTable is not allowed"},
		{"SELECT in(1, system.users)", "function in is not allowed in analyst SQL"},
		{"SELECT 1 FROM meters WHERE in(meter_id, other.t)", "function in is not allowed"},
		{"SELECT 1 FROM meters WHERE NOT in(meter_id, other.t)", "function in is not allowed"},
		{"SELECT 1 FROM meters WHERE 1 AND IN(meter_id, other.t)", "function IN is not allowed"},
		{"SELECT 1 FROM meters WHERE (in(meter_id, other.t))", "function in is not allowed"},
		{"SELECT 1 FROM meters WHERE meter_id = 'x' OR in (meter_id, other.t)", "function in is not allowed"},
		{"SELECT notIn(1, other.t)", "function notIn is not allowed"},
		{"SELECT globalIn(1, other.t)", "function globalIn is not allowed"},
		{"SELECT globalNotIn(1, system.users)", "function globalNotIn is not allowed"},
		{"SELECT nullIn(1, other.t)", "function nullIn is not allowed"},
		{"SELECT notNullIn(1, other.t)", "function notNullIn is not allowed"},
		{"SELECT globalNullIn(1, other.t)", "function globalNullIn is not allowed"},
		{"SELECT dictGetString('d', 'a', toUInt64(1))", "function dictGetString is not allowed"},
		{"SELECT dictGet('d', 'a', toUInt64(1))", "function dictGet is not allowed"},
		{"SELECT dictGetUInt64OrDefault('d', 'a', toUInt64(1), toUInt64(0))", "function dictGetUInt64OrDefault is not allowed"},
		{"SELECT dictHas('d', toUInt64(1))", "function dictHas is not allowed"},
		{"SELECT joinGet('other.t', 'c', 1)", "joinGet() is not allowed"},
		{"SELECT file('/etc/passwd')", "file() is not allowed"},
		{"SELECT url('http://x', CSV, 'a String')", "url() is not allowed"},
		{"SELECT remote('h', system.users)", "remote() is not allowed"},
		{"SELECT remoteSecure('h', db.t)", "remoteSecure() is not allowed"},
		{"SELECT cluster('c', db.t)", "cluster() is not allowed"},
		{"SELECT mysql('h', 'db', 't', 'u', 'p')", "mysql() is not allowed"},
		{"SELECT jdbc('x', 't')", "jdbc() is not allowed"},
		{"SELECT odbc('x', 't')", "odbc() is not allowed"},
		{"SELECT hdfs('hdfs://x')", "hdfs() is not allowed"},
		{"SELECT s3('x')", "s3() is not allowed"},
		{"SELECT input('a UInt8')", "input() is not allowed"},
		{"SELECT numbers(10)", "function numbers is not allowed"},
		{"SELECT numbers_mt(10)", "function numbers_mt is not allowed"},
		{"SELECT * FROM numbers_mt(10)", "table function numbers_mt() is not allowed"},
		{"SELECT * FROM catBoostPool('a', 'b')", "table function catBoostPool() is not allowed"},
		{"SELECT sleep(3)", "function sleep is not allowed"},
		{"SELECT arrayReduce('sum', [1])", "function arrayReduce is not allowed"},
		{"SELECT sleepEachRow(1) FROM readings", "function sleepEachRow is not allowed"},
		{"SELECT SLEEP(3)", "function SLEEP is not allowed"},
		{"SELECT getMacro('replica')", "function getMacro is not allowed"},
		{"SELECT hostName()", "function hostName is not allowed"},
		{"SELECT version()", "function version is not allowed"},
		{"SELECT uptime()", "function uptime is not allowed"},
		{"SELECT fqdn()", "function fqdn is not allowed"},
		{"SELECT timezone()", "function timezone is not allowed"},
		{"SELECT filesystemAvailable()", "function filesystemAvailable is not allowed"},
		{"SELECT getSetting('readonly')", "function getSetting is not allowed"},
		{"SELECT modelEvaluate('m', 1)", "function modelEvaluate is not allowed"},
		{"SELECT regionToName(toUInt32(1))", "function regionToName is not allowed"},
		{"SELECT reinterpretAsString(1)", "function reinterpretAsString is not allowed"},
		{"SELECT lambda(tuple(x), x)", "function lambda is not allowed"},
		{"SELECT someNewFunction(1)", "function someNewFunction is not allowed in analyst SQL"},
		{"SELECT TODATE(now())", "function TODATE is not allowed"}, // toDate is case-sensitive in ClickHouse
		{"SELECT sleepIf(1, 1)", "function sleepIf is not allowed"},
		{"SELECT plusIf(1, 1)", "function plusIf is not allowed"},
		{"SELECT sumNull(1)", "function sumNull is not allowed"},
		{"SELECT If(1, 2, 3) FROM t WHERE hostNameIf(1)", "function hostNameIf is not allowed"},
		{"SELECT arrayMap(x -> sleep(x), [1])", "function sleep is not allowed"},
		{"SELECT CAST(sleep(1) AS String)", "function sleep is not allowed"},
		{"SELECT CAST(1 AS String) + hostName()", "function hostName is not allowed"},
	}
	for _, tt := range refused {
		t.Run("refuse/"+tt.sql, func(t *testing.T) {
			_, err := g.Check(tt.sql)
			var fe *fault.FieldError
			if !errors.As(err, &fe) || fe.Field != "query" || !errors.Is(err, fault.ErrInvalid) {
				t.Fatalf("Check = %v, want a FieldError for query", err)
			}
			if !strings.Contains(fe.Message, tt.want) {
				t.Fatalf("message %q does not say %q", fe.Message, tt.want)
			}
		})
	}
}

// TestGuardTablePositions checks every place ClickHouse reads a table name, with names
// spelled through escapes as the server decodes them.
func TestGuardTablePositions(t *testing.T) {
	g := New("meterhouse")
	accepted := []string{
		"SELECT * FROM `meter\\x68ouse`.`meters`",
		"SELECT * FROM `system`.`on\\x65`",
		"SELECT * FROM `meter\\x68ouse\\N`.meters",
		"SELECT a FROM meters AS m ARRAY JOIN m.tags AS a",
		"SELECT a FROM meters AS m LEFT ARRAY JOIN m.tags AS a",
		"SELECT 1 FROM meters AS m WHERE meter_id IN (m.meter_id, 'x')",
		"SELECT 1 FROM meters WHERE meter_id IN (meterhouse.meters)",
		"SELECT * FROM meters AS a ALL INNER JOIN meterhouse.meters AS b USING meter_id",
		"WITH ['M1', 'M2'] AS list SELECT 1 FROM meters WHERE meter_id IN list",
		"WITH ('M1', 'M2') AS list SELECT 1 FROM meters WHERE meter_id IN list",
		"WITH toString(1) AS list SELECT 1 FROM meters WHERE meter_id IN (list)",
		"SELECT 1 FROM readings WHERE meter_id IN meters_subset",
		"SELECT count() FROM readings SAMPLE (1 / 10) WHERE ts > now() - INTERVAL (1) DAY",
		"WITH (SELECT max(start) FROM consumption) AS last SELECT 1 FROM consumption WHERE start IN (last)",
		"SELECT CAST(x AS Decimal(10, 2)), CAST(ts AS DateTime('UTC')) FROM t",
	}
	for _, sql := range accepted {
		t.Run("accept/"+sql, func(t *testing.T) {
			if _, err := g.Check(sql); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
	refused := []struct{ sql, want string }{
		{"SELECT * FROM `sy\\x73tem`.`tables`", "system.tables is not allowed"},
		{"SELECT * FROM `sy\\x73tem`.users", "system.users is not allowed"},
		{"SELECT * FROM \"sys\\x74em\".\"users\"", "system.users is not allowed"},
		{"SELECT * FROM `sys\\tem`.users", "database sys\tem is not allowed"},
		{"SELECT * FROM `s\\ystem`.users", "system.users is not allowed"},
		{"SELECT * FROM `sys``tem`.users", "database sys`tem is not allowed"},
		{"SELECT * FROM `system`.`us\\x65rs`", "system.users is not allowed"},
		{"SELECT * FROM `o\\x74her`.t", "database other is not allowed"},
		{"SELECT 1 FROM meters WHERE meter_id IN other.t", "database other is not allowed"},
		{"SELECT 1 FROM meters WHERE meter_id IN (other.t)", "database other is not allowed"},
		{"SELECT 1 FROM meters WHERE meter_id IN ((other.t))", "database other is not allowed"},
		{"SELECT 1 FROM meters WHERE meter_id NOT IN system.users", "system.users is not allowed"},
		{"SELECT 1 FROM meters WHERE meter_id NOT IN (`sy\\x73tem`.users)", "system.users is not allowed"},
		{"SELECT 1 FROM meters WHERE meter_id GLOBAL IN other.t", "database other is not allowed"},
		{"SELECT 1 FROM meters WHERE meter_id GLOBAL NOT IN (other.t)", "database other is not allowed"},
		{"SELECT 1 FROM meters WHERE meter_id IN (SELECT a FROM other.t)", "database other is not allowed"},
		{"SELECT * FROM meters LEFT OUTER JOIN other.t USING a", "database other is not allowed"},
		{"SELECT * FROM meters FULL JOIN other.t USING a", "database other is not allowed"},
		{"SELECT * FROM meters CROSS JOIN other.t", "database other is not allowed"},
		{"SELECT * FROM meters ALL INNER JOIN (SELECT * FROM other.t) USING a", "database other is not allowed"},
		{"SELECT * FROM meters AS a, meters AS b, other.t", "database other is not allowed"},
		{"SELECT * FROM meters FINAL, other.t", "database other is not allowed"},
		{"SELECT * FROM meters SAMPLE 1 / 10, other.t", "database other is not allowed"},
		{"SELECT * FROM meters AS a ALL INNER JOIN meters AS b ON a.x = b.x, other.t", "database other is not allowed"},
		{"SELECT * FROM meters AS a ALL INNER JOIN meters AS b USING x, `sy\\x73tem`.users", "system.users is not allowed"},
		{"SELECT * FROM (SELECT 1) AS a, `other`.`t`", "database other is not allowed"},
		{"DESCRIBE TABLE `o\\x74her`.t", "database other is not allowed"},
		{"DESC `sy\\x73tem`.users", "system.users is not allowed"},
		{"SELECT `x\\x4` FROM meters", "escape"},
		{"SELECT 1 FROM meters WHERE meter_id IN (other.t AS a)", "database other is not allowed"},
		{"WITH other.t AS x SELECT 1 FROM meters WHERE meter_id IN x", "x IN x is not allowed: x is an alias of a name"},
		{"SELECT other.t AS x FROM meters WHERE meter_id IN (x)", "x IN x is not allowed"},
		{"WITH (other.t) AS x SELECT 1 FROM meters WHERE meter_id IN x", "x IN x is not allowed"},
		{"WITH ((other.t)) AS x SELECT 1 FROM meters WHERE meter_id IN x", "x IN x is not allowed"},
		{"SELECT other.t x FROM meters WHERE meter_id IN x", "x IN x is not allowed"},
		{"SELECT (other.t) x FROM meters WHERE meter_id IN x", "x IN x is not allowed"},
		{"WITH other.t AS x, x AS y SELECT 1 FROM meters WHERE meter_id IN y", "x IN y is not allowed"},
		{"SELECT CAST(1 AS String, sleep(3))", "function sleep is not allowed"},
		// An alias named array does not make the JOIN after it an ARRAY JOIN.
		{"SELECT count() FROM system.one AS array JOIN meterhouse_private.api_tokens ON 1 = 1", "database meterhouse_private is not allowed"},
		{"SELECT count() FROM system.one AS `array` JOIN other.t ON 1 = 1", "database other is not allowed"},
		// Bytes outside ASCII punctuation between tokens (a no-break space that newer
		// servers skip) are refused rather than guessed at.
		{"SELECT * FROM\u00a0other.t", "the byte 0xc2 at offset 13"},
		{"SELECT 1 \x00FROM other.t", "the byte 0x00"},
		// A keyword used as a name before IN: IN before a name is the operator.
		{"SELECT 1 AS all WHERE all IN other.t", "database other is not allowed"},
		{"SELECT 1 AS limit WHERE limit NOT IN `sy\\x73tem`.users", "system.users is not allowed"},
		{"SELECT 1 AS sample WHERE sample GLOBAL IN other.t", "database other is not allowed"},
		{"SELECT CAST(1 AS Nullable(UInt8)), CAST(1 AS String) AS s, sleep(1)", "function sleep is not allowed"},
	}
	for _, tt := range refused {
		t.Run("refuse/"+tt.sql, func(t *testing.T) {
			_, err := g.Check(tt.sql)
			var fe *fault.FieldError
			if !errors.As(err, &fe) || fe.Field != "query" {
				t.Fatalf("Check = %v, want a FieldError for query", err)
			}
			if !strings.Contains(fe.Message, tt.want) {
				t.Fatalf("message %q does not say %q", fe.Message, tt.want)
			}
		})
	}
}

// TestUnquote checks that quoted names and strings decode exactly as ClickHouse 18.16
// reads them (readAnyQuotedString with SQL-style quoting and parseComplexEscapeSequence).
func TestUnquote(t *testing.T) {
	tests := []struct{ quoted, want string }{
		{"`abc`", "abc"},
		{"`a\\bc`", "a\bc"},
		{"`a\\fc`", "a\fc"},
		{"`a\\rc`", "a\rc"},
		{"`a\\nc`", "a\nc"},
		{"`a\\tc`", "a\tc"},
		{"`a\\0c`", "a\x00c"},
		{"`a\\ac`", "a\ac"},
		{"`a\\vc`", "a\vc"},
		{"`a\\ec`", "a\x1bc"},
		{"`a\\Nc`", "ac"}, // \N is NULL in text formats: nothing
		{"`a\\x62c`", "abc"},
		{"`a\\x6Ac`", "ajc"},
		{"`a\\x6ac`", "ajc"},
		{"`\\x00`", "\x00"},
		{"`\\xff`", "\xff"},
		{"`a\\x4G`", "a\x3f"}, // not hex digits: ClickHouse computes 4*16 + 0xff, mod 256
		{"`\\xZZ`", "\xef"},
		{"`a\\\\c`", "a\\c"},
		{"`a\\'c`", "a'c"},
		{"`a\\\"c`", "a\"c"},
		{"`a\\`c`", "a`c"},
		{"`a\\qc`", "aqc"},
		{"`a\\Xc`", "aXc"},
		{"`a\\ c`", "a c"},
		{"`a``c`", "a`c"},
		{"`a'c\"d`", "a'c\"d"},
		{`"a""c"`, `a"c`},
		{`"a\x62c"`, "abc"},
		{`"a\"c"`, `a"c`},
		{`"a` + "`" + `c"`, "a`c"},
		{"'a''c'", "a'c"},
		{"'a\\'c'", "a'c"},
		{"'a\\x62c'", "abc"},
		{"'a\\nc\\t'", "a\nc\t"},
		{"'\\x'' '", "\xef "}, // the two bytes after \x are read whatever they are
		{"''", ""},
	}
	for _, tt := range tests {
		t.Run(tt.quoted, func(t *testing.T) {
			toks, err := lexSQL(tt.quoted)
			if err != nil {
				t.Fatal(err)
			}
			if len(toks) != 1 {
				t.Fatalf("%d tokens: %v", len(toks), toks)
			}
			if got := toks[0].ident(); got != tt.want {
				t.Fatalf("decoded %q, want %q", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"`a\\x4`", "'\\x'", "`\\x6`"} {
		if _, err := lexSQL(bad); err == nil || !strings.Contains(err.Error(), "escape") {
			t.Errorf("lexSQL(%q) = %v, want an escape error", bad, err)
		}
	}
}

// TestGuardAnalystQueries checks that typical analyst queries pass the guard: the README's
// examples and the platform's own read queries (placeholders bound to a value).
func TestGuardAnalystQueries(t *testing.T) {
	g := New("meterhouse")
	queries := []string{
		"SELECT meter_id, start, wh FROM consumption FINAL WHERE resolution = '1d' LIMIT 1000",
		"SELECT meter_id, sum(wh) AS wh FROM consumption FINAL WHERE resolution = '1d' AND start >= '2026-11-01 00:00:00' GROUP BY meter_id ORDER BY wh DESC LIMIT 10",
		"SELECT resolution, count() FROM consumption FINAL GROUP BY resolution",
		"SELECT meter_id, feeder, toDateTime('2026-03-28 01:00:00', 'UTC') AS at, CAST(length(meter_id) AS Nullable(UInt8)) AS n, [feeder, region] AS tags FROM meters FINAL WHERE meter_id IN ('M1', 'M3') ORDER BY meter_id;",
	}
	var files []string
	for _, dir := range []string{"../../consumption/testdata", "../../analytics/testdata"} {
		fs, err := filepath.Glob(filepath.Join(dir, "*.sql"))
		if err != nil || len(fs) == 0 {
			t.Fatalf("%s queries: %v (%d files)", dir, err, len(fs))
		}
		files = append(files, fs...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		queries = append(queries, strings.ReplaceAll(string(b), "?", "1"))
	}
	for _, q := range queries {
		if _, err := g.Check(q); err != nil {
			t.Errorf("%.100q…: %v", q, err)
		}
	}
}

// BenchmarkGuardHostile measures the guard on the largest hostile text the endpoint
// accepts (64 KiB of brackets): it is refused in one linear pass.
func BenchmarkGuardHostile(b *testing.B) {
	g := New("meterhouse")
	q := "SELECT " + strings.Repeat("(", 64<<10-7)
	for b.Loop() {
		if _, err := g.Check(q); err == nil {
			b.Fatal("accepted")
		}
	}
}
