// Package guard decides whether an analyst's SQL text may run on the platform's database:
// its own lexer of ClickHouse SQL, the walk of the token stream that refuses writes,
// settings, table functions, other databases and too deep nesting, and the function
// allow-list (functions.go). It runs no query.
package guard

import (
	"fmt"
	"slices"
	"strings"

	"github.com/meterhouse/meterhouse/fault"
)

// Guard decides whether an analyst's SQL text may run: one read-only statement over the
// platform's database, with no clause that changes settings, output or destination, no
// table function that reaches files, networks or other servers, no function outside the
// analysts' allow-list (functions.go), and no expression nested deeper than
// MaxDepth, which ClickHouse 18.16's parser could not survive.
type Guard struct {
	// Database is the platform's database, the only one a name may be qualified with
	// (besides the allowed system tables).
	Database string
	// SystemTables lists the tables of the system database that may be read.
	SystemTables []string
	// TableFunctions lists the table functions that may be used, in lower case; every
	// other table function is refused. ClickHouse refuses them all under readonly=1, which
	// the SQL endpoint runs with, so New allows none.
	TableFunctions []string
	// MaxDepth is how deep a statement's expressions may nest (brackets of every kind,
	// CASE … END, subqueries, lambda arrows, unary and chained binary operators; see
	// exprDepth). ClickHouse 18.16's recursive-descent parser overflows its stack at
	// about 1 000 brackets, so the limit stays well below that. Zero or less means
	// DefaultMaxDepth.
	MaxDepth int
}

// DefaultMaxDepth is the nesting depth New allows: deep enough for any analyst's
// query, a tenth of what crashes ClickHouse 18.16's parser.
const DefaultMaxDepth = 100

// New returns the guard for the platform database with the default allow-lists:
// the system tables one, numbers, numbers_mt, zeros, zeros_mt, functions,
// table_functions, data_type_families, formats and time_zones, no table function
// (queries run with readonly=1, under which ClickHouse refuses every table function;
// system.numbers gives a number sequence), the analyst functions of functions.go, and a
// nesting depth of DefaultMaxDepth.
func New(database string) Guard {
	return Guard{
		Database: database,
		MaxDepth: DefaultMaxDepth,
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

// fromListWords are clause words that do not end a FROM list: FROM a FINAL, b and
// JOIN b ON x = y, c go on naming tables after them.
var fromListWords = map[string]bool{"ON": true, "USING": true, "FINAL": true, "SAMPLE": true}

// nonCallWords are keywords that may precede "(" without making it a function call.
var nonCallWords = map[string]bool{
	"FROM": true, "IN": true, "JOIN": true, "AS": true, "AND": true, "OR": true, "NOT": true,
	"WHERE": true, "PREWHERE": true, "SELECT": true, "ON": true, "USING": true, "HAVING": true,
	"BY": true, "WITH": true, "ALL": true, "DISTINCT": true, "THEN": true, "ELSE": true,
	"WHEN": true, "CASE": true, "IS": true, "LIKE": true, "ILIKE": true, "BETWEEN": true,
	"GLOBAL": true, "UNION": true, "EXISTS": true, "LIMIT": true, "OFFSET": true, "TABLE": true,
	"DESCRIBE": true, "DESC": true, "ANY": true, "ASOF": true, "INNER": true, "LEFT": true,
	"RIGHT": true, "FULL": true, "CROSS": true, "OUTER": true, "SEMI": true, "ANTI": true,
	"INTERVAL": true, "SAMPLE": true,
}

// refuse returns the guard's refusal of a statement, naming what is refused.
func refuse(format string, args ...any) error {
	return fault.Invalid("query", format, args...)
}

// Check returns the statement to run (sqlText without a trailing semicolon) when it is
// allowed, or an fault.FieldError for field "query" naming what it refuses.
func (g Guard) Check(sqlText string) (string, error) {
	toks, err := lexSQL(sqlText)
	if err != nil {
		return "", refuse("%v", err)
	}
	limit := g.MaxDepth
	if limit <= 0 {
		limit = DefaultMaxDepth
	}
	if _, at := exprDepth(toks, limit); at >= 0 {
		return "", refuse("the query nests expressions more than %d deep (at offset %d); the limit is %d (sql guard max depth)", limit, toks[at].pos, limit)
	}
	if at := reparsedNesting(toks, maxReparsedNesting); at >= 0 {
		return "", refuse("the query nests CAST, SUBSTRING and CASE brackets more than %d deep (at offset %d): ClickHouse 18.16 may parse each of them twice, so their nesting is limited to %d",
			maxReparsedNesting, toks[at].pos, maxReparsedNesting)
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
	cast     bool // opened by CAST: the name right after its AS is a data type
	typ      bool // inside a data type's parameters (CAST(x AS Nullable(UInt8))): names there are types
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
	nameAliases := aliasesOfNames(toks)
	for i, t := range toks {
		top := &stack[len(stack)-1]
		switch t.kind {
		case tokPunct:
			switch t.text {
			case "(":
				call := i > 0 && g.callName(toks, i-1)
				// The brackets of a data type's parameters (CAST(x AS Decimal(10, 2))).
				typ := top.typ || (top.cast && word(i-2) == "AS")
				stack = append(stack, frame{call: call, cast: call && word(i-1) == "CAST", typ: typ})
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
			case w == "FROM" && !top.call, w == "JOIN" && !arrayJoin(toks, i):
				top.fromList = true
			case w == "SELECT":
				// A SELECT inside a function's parentheses (view(SELECT …), exists(SELECT …))
				// is a subquery: its FROM names tables.
				top.call, top.fromList = false, false
			case clauseWords[w] && !fromListWords[w]:
				top.fromList = false
			}
		}
		if t.kind != tokWord && t.kind != tokQuotedIdent {
			continue
		}
		name := t.ident()
		tablePos := g.tablePosition(toks, i, *top)
		// CAST(x AS T) names a data type after AS: ClickHouse reads it as a type name, with
		// parameters that are never evaluated.
		dataType := top.typ || (top.cast && word(i-1) == "AS")
		if punct(i+1, "(") && !dataType {
			if why, ok := deniedFunctions[strings.ToLower(name)]; ok {
				return refuse("table function %s() is not allowed: it %s", name, why)
			}
			if !tablePos && g.callName(toks, i) && !functionAllowed(name) {
				if why, ok := refusedFunctionReasons[name]; ok {
					return refuse("function %s is not allowed in analyst SQL: %s", name, why)
				}
				if strings.HasPrefix(name, "dict") || strings.HasPrefix(name, "region") {
					return refuse("function %s is not allowed in analyst SQL: it reads server dictionaries", name)
				}
				return refuse("function %s is not allowed in analyst SQL: only the functions analysts need are (see the README's analyst SQL section)", name)
			}
		}
		if punct(i-1, ".") {
			continue // the second part of a qualified name
		}
		if !tablePos {
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
		case !qualified(toks, i) && nameAliases[name] && inRightSide(toks, i):
			return refuse("x IN %s is not allowed: %s is an alias of a name; name the table or write the list itself", name, name)
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

// callName reports whether toks[i], followed by "(", names a function: a quoted name, or
// a word that is not a keyword opening brackets of its own. IN is both: after an operand
// (x IN (…), x NOT IN (…), x GLOBAL IN (…)) it is the operator, anywhere else
// ClickHouse parses in(…) as the function.
func (g Guard) callName(toks []token, i int) bool {
	t := toks[i]
	if t.kind == tokQuotedIdent {
		return true
	}
	if t.kind != tokWord {
		return false
	}
	w := strings.ToUpper(t.text)
	if w == "IN" {
		return !inOperator(toks, i)
	}
	return !nonCallWords[w]
}

// inOperator reports whether the word IN at toks[i] is the binary operator: it follows an
// operand, directly or after NOT, or it follows GLOBAL.
func inOperator(toks []token, i int) bool {
	j := i - 1
	if j >= 0 && toks[j].kind == tokWord && strings.EqualFold(toks[j].text, "GLOBAL") {
		return true
	}
	if j >= 0 && toks[j].kind == tokWord && strings.EqualFold(toks[j].text, "NOT") {
		j--
		if j >= 0 && toks[j].kind == tokWord && strings.EqualFold(toks[j].text, "GLOBAL") {
			return true
		}
	}
	return j >= 0 && operandEnd(toks, j)
}

// aliasesOfNames returns the aliases given to a (possibly qualified, possibly bracketed)
// name: WITH other.t AS x, SELECT (other.t) AS y, SELECT other.t z. ClickHouse puts the
// aliased expression in place of an alias, also on the right side of IN, where a name
// then names a table. Aliases of calls, literals, arrays and tuples are not included.
func aliasesOfNames(toks []token) map[string]bool {
	aliases := map[string]bool{}
	isName := func(j int) bool {
		return j >= 0 && j < len(toks) && (toks[j].kind == tokWord || toks[j].kind == tokQuotedIdent)
	}
	for i := 1; i < len(toks); i++ {
		if !isName(i) {
			continue
		}
		end := i - 1 // the last token of the aliased expression
		if toks[end].kind == tokWord && strings.EqualFold(toks[end].text, "AS") {
			end--
		} else if !operandEnd(toks, end) {
			continue // not an alias without AS (SELECT other.t z) either
		}
		if end >= 0 && nameEndsAt(toks, end) {
			aliases[toks[i].ident()] = true
		}
	}
	return aliases
}

// nameEndsAt reports whether the expression ending at toks[j] is a name or db.name, in
// any number of bare brackets (not a call's).
func nameEndsAt(toks []token, j int) bool {
	isName := func(k int) bool {
		return k >= 0 && (toks[k].kind == tokWord || toks[k].kind == tokQuotedIdent)
	}
	punct := func(k int, p string) bool {
		return k >= 0 && toks[k].kind == tokPunct && toks[k].text == p
	}
	closes := 0
	for punct(j, ")") {
		closes++
		j--
	}
	if !isName(j) || (toks[j].kind == tokWord && expressionStartWords[strings.ToUpper(toks[j].text)]) {
		return false
	}
	j--
	if punct(j, ".") && isName(j-1) {
		j -= 2
	}
	for ; closes > 0; closes-- {
		if !punct(j, "(") {
			return false
		}
		j--
	}
	return !isName(j) || toks[j].kind == tokWord && nonCallWords[strings.ToUpper(toks[j].text)] // f(x) is a call's result
}

// inRightSide reports whether toks[i] follows the operator IN, directly or after
// brackets.
func inRightSide(toks []token, i int) bool {
	j := i - 1
	for j >= 0 && toks[j].kind == tokPunct && toks[j].text == "(" {
		j--
	}
	return j >= 0 && toks[j].kind == tokWord && strings.EqualFold(toks[j].text, "IN") && inOperator(toks, j)
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
	if p.kind == tokPunct && p.text == "(" {
		// x IN (t), x IN ((db.t)): ClickHouse drops brackets around one element, so a
		// lone name there is a table, not a tuple.
		j := i - 1
		for j >= 0 && toks[j].kind == tokPunct && toks[j].text == "(" {
			j--
		}
		end := i + 1
		if qualified(toks, i) {
			end = i + 3
		}
		return j >= 0 && toks[j].kind == tokWord && strings.EqualFold(toks[j].text, "IN") && inOperator(toks, j) &&
			end < len(toks) && ((toks[end].kind == tokPunct && toks[end].text == ")") ||
			(toks[end].kind == tokWord && strings.EqualFold(toks[end].text, "AS")))
	}
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
		return !arrayJoin(toks, i-1)
	case "IN":
		// IN before a name can only be the operator (the function in() needs a bracket),
		// whatever precedes it: a keyword used as a name (all, limit, sample) is an operand.
		return true
	case "DESCRIBE", "DESC":
		return true
	case "TABLE":
		return i >= 2 && toks[i-2].kind == tokWord && slices.Contains([]string{"DESCRIBE", "DESC"}, strings.ToUpper(toks[i-2].text))
	}
	return false
}

// arrayJoin reports whether the word JOIN at toks[j] is ARRAY JOIN, whose right side is an
// expression list, not a table: ARRAY directly before it, unless that ARRAY is an alias
// given with AS (FROM t AS array JOIN other.u joins a table). Without AS, ClickHouse never
// reads ARRAY as an alias.
func arrayJoin(toks []token, j int) bool {
	isWord := func(k int, w string) bool {
		return k >= 0 && toks[k].kind == tokWord && strings.EqualFold(toks[k].text, w)
	}
	return isWord(j-1, "ARRAY") && !isWord(j-2, "AS")
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

// ident returns the identifier a word or quoted identifier names (a string's content for
// a string), without quotes and with escapes resolved as ClickHouse resolves them.
func (t token) ident() string {
	if t.kind != tokQuotedIdent && t.kind != tokString {
		return t.text
	}
	v, _ := unquote(t.text) // lexSQL refused the text if it cannot be decoded
	return v
}

// unquote returns the content of a quoted identifier or string as ClickHouse 18.16 reads
// it (readAnyQuotedString with SQL-style quoting): a doubled quote is one quote, and a
// backslash starts an escape — \xHH is the byte HH (the two bytes after \x are taken
// whatever they are, a non-hex digit counting as 0xFF, as the server's unhex does), \N
// is nothing, \a \b \e \f \n \r \t \v \0 are control characters, and a backslash
// before any other byte is that byte. It fails where the server cannot read the text.
func unquote(s string) (string, error) {
	q, body := s[0], s[1:len(s)-1]
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\\':
			if i+1 >= len(body) {
				return "", fmt.Errorf("ends in a backslash")
			}
			i++
			switch e := body[i]; e {
			case 'x':
				if i+2 >= len(body) {
					return "", fmt.Errorf("has an incomplete \\x escape: two characters must follow \\x")
				}
				b.WriteByte(unhexDigit(body[i+1])*16 + unhexDigit(body[i+2]))
				i += 2
			case 'N':
			default:
				b.WriteByte(escapedByte(e))
			}
		case c == q && i+1 < len(body) && body[i+1] == q:
			b.WriteByte(q)
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// escapedByte returns the byte a backslash before c stands for (ClickHouse's
// parseEscapeSequence).
func escapedByte(c byte) byte {
	switch c {
	case 'a':
		return '\a'
	case 'b':
		return '\b'
	case 'e':
		return 0x1b
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'v':
		return '\v'
	case '0':
		return 0
	}
	return c
}

// unhexDigit returns the value of a hex digit, and 0xFF for any other byte, as
// ClickHouse's unhex does; the byte arithmetic then wraps as the server's does.
func unhexDigit(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 0xff
}

// punctuation lists the bytes that may stand outside strings, quoted names, numbers and
// words: ClickHouse's operators and brackets.
const punctuation = "()[]{},;.+-*/%=<>!?:|@&^~#$\\"

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
			what, kind := "quoted identifier", tokQuotedIdent
			if c == '\'' {
				what, kind = "string", tokString
			}
			if j >= len(s) {
				return nil, fmt.Errorf("has an unterminated %s at offset %d", what, i)
			}
			if _, err := unquote(s[i : j+1]); err != nil {
				return nil, fmt.Errorf("has a %s at offset %d that ClickHouse cannot read: it %w", what, i, err)
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
			// A number has one decimal point at most: in 1.1.1, as for ClickHouse's lexer,
			// the second dot is tuple access ((1.1).1), which nests like any other. Right
			// after a tuple access dot (t.1.1) a number has none, so that every .N counts.
			j, dot := i+1, c == '.' || (len(toks) > 0 && toks[len(toks)-1].kind == tokPunct && toks[len(toks)-1].text == ".")
			for j < len(s) && (isDigit(s[j]) || isWordStart(s[j]) || (s[j] == '.' && !dot) ||
				((s[j] == '+' || s[j] == '-') && (s[j-1] == 'e' || s[j-1] == 'E'))) {
				dot = dot || s[j] == '.'
				j++
			}
			toks = append(toks, token{kind: tokNumber, text: s[i:j], pos: i})
			i = j
		case !strings.ContainsRune(punctuation, rune(c)):
			// Outside strings and quoted names only ASCII punctuation may stand between
			// tokens: newer servers skip Unicode spaces that 18.16 refuses, and a byte
			// the guard cannot place could hide a name from it.
			return nil, fmt.Errorf("has the byte 0x%02x at offset %d, outside any string or quoted name; write names and operators in ASCII", c, i)
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

// afterName reports whether the last token is a name, a number or a closing bracket, after
// which ".1" is tuple element access, not a number.
func afterName(toks []token) bool {
	if len(toks) == 0 {
		return false
	}
	t := toks[len(toks)-1]
	return t.kind == tokWord || t.kind == tokQuotedIdent || t.kind == tokNumber || (t.kind == tokPunct && (t.text == ")" || t.text == "]"))
}

func isWordStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// depthFrame is one nesting level while exprDepth measures a statement: a bracket of any
// kind or a CASE … END.
type depthFrame struct {
	closer byte // ')', ']' or '}' (newer servers' maps), or 0 for CASE
	base   int  // the depth of an operand directly inside it
	// Levels added inside the frame by operators, until a separator ends their scope.
	unary   int  // NOT, unary minus and INTERVAL before the operand
	chain   int  // left-associative binary operators: a + b + c is plus(plus(a, b), c)
	lambda  int  // lambda arrows and ternary operators: their bodies nest
	subSelf bool // the frame holds a subquery: its SELECT counted once
}

func (f *depthFrame) depth() int { return f.base + f.unary + f.chain + f.lambda }

// exprDepth returns how deep the statement's expressions nest, the way ClickHouse's
// recursive-descent parser builds them: every bracket ( [ { and CASE … END is a level, a
// subquery one more, each lambda arrow and ternary operator a level for its body, each
// unary operator (NOT, -, INTERVAL) a level for its operand, and each left-associative
// binary operator (arithmetic, comparison, ||, subscripts a[i] and tuple access t.1) a
// level of the left-deep tree it builds. AND and OR are flat lists in ClickHouse, so they
// end the operator levels before them, as do commas and clause keywords. The measure
// errs on the deep side. It runs in one pass without recursion; with limit > 0 it stops
// at the first token deeper than limit and returns that depth and the token's index, so
// that it never holds more than limit levels, whatever the text. Otherwise (and when
// nothing is deeper) the index is -1.
func exprDepth(toks []token, limit int) (depth, at int) {
	stack := []depthFrame{{}}
	deepest := 0
	resetOps := func(f *depthFrame) { f.unary, f.chain = 0, 0 }
	for i, t := range toks {
		f := &stack[len(stack)-1]
		operand := i > 0 && operandEnd(toks, i-1)
		switch t.kind {
		case tokPunct:
			switch t.text {
			case "(", "[", "{":
				if t.text == "[" && operand {
					f.chain++ // a[i] is arrayElement(a, i)
				}
				closer := byte(')')
				switch t.text {
				case "[":
					closer = ']'
				case "{":
					closer = '}'
				}
				stack = append(stack, depthFrame{closer: closer, base: f.depth() + 1})
			case ")", "]", "}":
				// Close the innermost bracket of this kind, with any CASE left open in it.
				for j := len(stack) - 1; j > 0; j-- {
					if stack[j].closer == t.text[0] {
						stack = stack[:j]
						break
					}
				}
			case ",":
				resetOps(f)
				f.lambda = 0
			case "->", "?":
				resetOps(f)
				f.lambda++
			case ":":
				resetOps(f)
			case "-":
				if operand {
					f.unary = 0
					f.chain++
				} else {
					f.unary++
				}
			case ".":
				if i+1 < len(toks) && toks[i+1].kind == tokNumber {
					f.chain++ // t.1 is tupleElement(t, 1)
				}
			case "+", "*", "/", "%", "=", "==", "!=", "<>", "<", ">", "<=", ">=", "||":
				f.unary = 0
				f.chain++
			}
		case tokWord:
			switch w := strings.ToUpper(t.text); w {
			case "CASE":
				stack = append(stack, depthFrame{base: f.depth() + 1})
			case "END":
				if f.closer == 0 && len(stack) > 1 {
					stack = stack[:len(stack)-1]
				}
			case "WHEN", "THEN", "ELSE":
				resetOps(f)
				f.lambda = 0
			case "SELECT":
				if len(stack) > 1 && !f.subSelf {
					f.subSelf = true
					f.base++
				}
				resetOps(f)
				f.lambda = 0
			case "AND", "OR":
				resetOps(f)
			case "NOT":
				if operand { // x NOT IN, x NOT LIKE, x NOT BETWEEN: a binary operator
					f.chain++
				} else {
					f.unary++
				}
			case "INTERVAL":
				f.unary++
			case "IN", "LIKE", "ILIKE", "IS", "BETWEEN":
				if operand {
					f.unary = 0
					f.chain++
				}
			default:
				if clauseWords[w] || w == "FROM" || w == "BY" || w == "AS" || w == "JOIN" || w == "USING" {
					resetOps(f)
					f.lambda = 0
				}
			}
		}
		if d := stack[len(stack)-1].depth(); d > deepest {
			deepest = d
			if limit > 0 && d > limit {
				return d, i
			}
		}
	}
	return deepest, -1
}

// operandEnd reports whether toks[i] can end an operand, so that the token after it is a
// binary operator (x IN …, x - 1) rather than the start of an expression (in(…), -1).
func operandEnd(toks []token, i int) bool {
	t := toks[i]
	switch t.kind {
	case tokNumber, tokString, tokQuotedIdent:
		return true
	case tokPunct:
		return t.text == ")" || t.text == "]"
	case tokWord:
		return !expressionStartWords[strings.ToUpper(t.text)]
	}
	return false
}

// expressionStartWords are keywords after which an expression starts: a word after them
// begins an operand, it is not an operator.
var expressionStartWords = map[string]bool{
	"SELECT": true, "WHERE": true, "PREWHERE": true, "HAVING": true, "AND": true, "OR": true,
	"NOT": true, "WHEN": true, "THEN": true, "ELSE": true, "CASE": true, "ON": true, "BY": true,
	"WITH": true, "DISTINCT": true, "ALL": true, "LIKE": true, "ILIKE": true, "IS": true,
	"IN": true, "GLOBAL": true, "BETWEEN": true, "LIMIT": true, "OFFSET": true, "AS": true,
	"USING": true, "FROM": true, "JOIN": true, "INTERVAL": true, "ARRAY": true, "UNION": true,
	"SAMPLE": true, "DESCRIBE": true, "DESC": true, "TABLE": true,
}

// maxReparsedNesting is how deep the brackets of CAST(…), SUBSTRING(…) and CASE (…) may
// nest inside each other. ClickHouse 18.16 first tries their keyword forms (CAST(x AS T),
// SUBSTRING(s FROM i), CASE x WHEN …) and, when that fails after parsing the first
// argument, parses the whole call again as a plain function: n nested calls cost 2^n
// parses, which no time limit stops (parsing comes before the query is registered).
const maxReparsedNesting = 8

// reparsedWords are the keywords whose bracket ClickHouse 18.16 may parse twice.
var reparsedWords = map[string]bool{"CAST": true, "SUBSTRING": true, "CASE": true}

// reparsedNesting returns the index of the first bracket nested inside more than limit
// brackets of reparsedWords, or -1. It is one pass over the brackets, without recursion.
func reparsedNesting(toks []token, limit int) int {
	var open []bool // per open bracket: whether it is a CAST or SUBSTRING call's
	n := 0
	for i, t := range toks {
		if t.kind != tokPunct {
			continue
		}
		switch t.text {
		case "(":
			r := i > 0 && toks[i-1].kind == tokWord && reparsedWords[strings.ToUpper(toks[i-1].text)]
			open = append(open, r)
			if r {
				if n++; n > limit {
					return i
				}
			}
		case ")":
			if len(open) > 0 {
				if open[len(open)-1] {
					n--
				}
				open = open[:len(open)-1]
			}
		}
	}
	return -1
}
