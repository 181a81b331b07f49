package guard

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestGuardFunctionsExist checks the guard's function allow-list against the shared
// server's system.functions: every allowed name exists, is an aggregate exactly when
// listed as one, and is matched case-insensitively exactly when the server resolves it
// so; the combinators exist too. It sends only this harmless catalogue query.
func TestGuardFunctionsExist(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := conn.Query(ctx, "SELECT name, is_aggregate, case_insensitive FROM system.functions")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type info struct{ aggregate, ci bool }
	server := map[string]info{}
	for rows.Next() {
		var name string
		var agg, ci uint8
		if err := rows.Scan(&name, &agg, &ci); err != nil {
			t.Fatal(err)
		}
		server[name] = info{agg == 1, ci == 1}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(server) < 100 {
		t.Fatalf("system.functions lists only %d functions", len(server))
	}
	ci := map[string]bool{}
	for _, f := range ciFunctions {
		ci[f] = true
	}
	check := func(names []string, aggregate bool) {
		for _, f := range names {
			s, ok := server[f]
			switch {
			case !ok:
				t.Errorf("allowed function %s does not exist on the server", f)
			case s.aggregate != aggregate:
				t.Errorf("function %s: is_aggregate %v on the server, listed as %v", f, s.aggregate, aggregate)
			case s.ci != ci[f]:
				t.Errorf("function %s: case_insensitive %v on the server, listed as %v", f, s.ci, ci[f])
			}
		}
	}
	check(analystAggregates, true)
	check(analystFunctions, false)
	for f := range ci {
		if !allowedExact[f] {
			t.Errorf("case-insensitive %s is not in the allow-list", f)
		}
	}
	// The refusals this guard names are real functions of the server.
	for _, f := range []string{"hasColumnInTable", "in", "notIn", "globalIn", "globalNotIn", "sleep", "sleepEachRow", "dictGetString", "joinGet", "hostName", "version", "uptime", "timezone"} {
		if _, ok := server[f]; !ok {
			t.Errorf("refused function %s does not exist on the server", f)
		}
		if functionAllowed(f) {
			t.Errorf("dangerous function %s is allowed", f)
		}
	}

	crows, err := conn.Query(ctx, "SELECT name FROM system.aggregate_function_combinators")
	if err != nil {
		t.Fatal(err)
	}
	defer crows.Close()
	var combinators []string
	for crows.Next() {
		var name string
		if err := crows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		combinators = append(combinators, name)
	}
	for _, c := range aggregateCombinators {
		if !strings.Contains(" "+strings.Join(combinators, " ")+" ", " "+c+" ") {
			t.Errorf("combinator %s does not exist on the server (it has %v)", c, combinators)
		}
	}
}

// TestGuardEscapesMatchServer asks the server how it reads each escape (in harmless
// SELECTs of string literals and of a quoted column name) and compares the guard's
// decoding with it.
func TestGuardEscapesMatchServer(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, lit := range []string{
		`'a\bc'`, `'a\fc'`, `'a\rc'`, `'a\nc'`, `'a\tc'`, `'a\0c'`, `'a\ac'`, `'a\vc'`, `'a\ec'`,
		`'a\Nc'`, `'a\x62c'`, `'a\x6Ac'`, `'a\x6ac'`, `'\xff'`, `'a\x4G'`, `'\xZZ'`, `'a\\c'`,
		`'a\'c'`, `'a\"c'`, "'a\\`c'", `'a\qc'`, `'a\ c'`, `'a''c'`, `'\x'' '`,
	} {
		toks, err := lexSQL(lit)
		if err != nil || len(toks) != 1 {
			t.Fatalf("lexSQL(%s) = %v, %v", lit, toks, err)
		}
		var got string
		if err := conn.QueryRow(ctx, "SELECT hex("+lit+")").Scan(&got); err != nil {
			t.Fatalf("%s: %v", lit, err)
		}
		if want := strings.ToUpper(hex.EncodeToString([]byte(toks[0].ident()))); got != want {
			t.Errorf("%s: the server reads %s, the guard %s", lit, got, want)
		}
	}
	for _, q := range []string{"SELECT `a\\x62c` FROM (SELECT 1 AS abc)", `SELECT "a\x62c" FROM (SELECT 1 AS abc)`, "SELECT `a\\Nb\\c` FROM (SELECT 1 AS abc)"} {
		var n uint8
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil || n != 1 {
			t.Errorf("%s: %d, %v (the guard reads the name as abc)", q, n, err)
		}
	}
}
