package query

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

	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
)

// TestReadQueriesOnCurrentClickHouse runs the read queries pinned in testdata (the SQL the
// consumption and analytics read paths send) on a small fixture in ClickHouse 18.16 and in
// chDB, the embedded current ClickHouse engine (make test installs it), each loaded through
// the migrations rendered for that server, and compares their results, so that no query
// relies on behaviour only the old server has. Both servers get the same text: the
// parameters are bound as literals the way the driver binds them.
func TestReadQueriesOnCurrentClickHouse(t *testing.T) {
	if testing.Short() {
		t.Skip("needs ClickHouse and python3 with chdb")
	}
	out, err := exec.Command("python3", "-c", `import chdb; print(chdb.query("SELECT version()", "CSV").bytes().decode().strip().strip('"'))`).Output()
	if err != nil {
		t.Skipf("python3 with the chdb package is needed to run the read queries on a current ClickHouse (make test-deps, or pip install chdb): %v", err)
	}
	chVersion, err := schema.ParseVersion(string(out))
	if err != nil {
		t.Fatal(err)
	}
	_, conn := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	fixture := readFixture()
	for _, in := range fixture {
		if err := in.load(ctx, conn); err != nil {
			t.Fatalf("fixture on 18.16, table %s: %v", in.table, err)
		}
	}
	cases := readQueryCases(t)

	// chDB: a fresh database migrated for its own version, the same fixture, the same queries.
	stmts, err := schema.Render(schema.CapabilitiesOf(chVersion), "mh")
	if err != nil {
		t.Fatal(err)
	}
	type query struct {
		Name string `json:"name"`
		SQL  string `json:"sql"`
	}
	spec := struct {
		Statements []string `json:"statements"`
		Queries    []query  `json:"queries"`
	}{Statements: stmts}
	for _, in := range fixture {
		spec.Statements = append(spec.Statements, in.sql())
	}
	for _, c := range cases {
		spec.Queries = append(spec.Queries, query{c.name, c.sql})
	}
	in := filepath.Join(t.TempDir(), "spec.json")
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "python3", filepath.Join("testdata", "chdb_queries.py"), in)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err = cmd.Output()
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
	if len(res.Results) != len(cases) {
		t.Fatalf("chDB answered %d of %d queries", len(res.Results), len(cases))
	}

	nonEmpty := 0
	for i, c := range cases {
		r := res.Results[i]
		if r.Error != "" {
			t.Errorf("%s fails on ClickHouse %s (chDB): %s\n%s", c.name, res.Version, r.Error, c.sql)
			continue
		}
		old, oldCols, err := rowsOn1816(ctx, conn, c.sql)
		if err != nil {
			t.Errorf("%s fails on 18.16: %v\n%s", c.name, err, c.sql)
			continue
		}
		cur := make([][]string, len(r.Rows))
		for j, row := range r.Rows {
			for _, v := range row {
				cur[j] = append(cur[j], jsonCell(v))
			}
		}
		if len(r.Columns) != len(oldCols) {
			t.Errorf("%s: %d columns on 18.16 %v, %d on ClickHouse %s %v", c.name, len(oldCols), oldCols, len(r.Columns), res.Version, r.Columns)
			continue
		}
		if !orderedSQL.MatchString(c.sql) {
			slices.SortFunc(old, slices.Compare)
			slices.SortFunc(cur, slices.Compare)
		}
		if !reflect.DeepEqual(old, cur) {
			i := 0
			for i < min(len(old), len(cur)) && slices.Equal(old[i], cur[i]) {
				i++
			}
			t.Errorf("%s: 18.16 and ClickHouse %s (chDB) disagree: %d and %d rows, first difference at row %d:\n18.16: %v\nchDB:  %v\n%s",
				c.name, res.Version, len(old), len(cur), i, old[i:min(i+3, len(old))], cur[i:min(i+3, len(cur))], c.sql)
			continue
		}
		if len(old) > 0 {
			nonEmpty++
		}
		t.Logf("%s: %d rows agree", c.name, len(old))
	}
	// The comparison can fail only if the fixture gives the queries something to read.
	if nonEmpty < len(cases)-1 {
		t.Errorf("only %d of %d queries returned rows: the fixture does not exercise them", nonEmpty, len(cases))
	}
}

// orderedSQL matches a query whose outermost statement ends in ORDER BY (the golden files
// start their top-level clauses at the beginning of a line); the rows of others are
// compared as sets.
var orderedSQL = regexp.MustCompile(`(?m)^ORDER BY [^\n]*(\nLIMIT [^\n]*)?\s*$`)

// queryCase is one golden file with concrete parameters.
type queryCase struct{ name, sql string }

// readQueryCases binds parameters to every golden read query in testdata. A golden file
// without an entry here fails the test, so a new read path is compared too.
func readQueryCases(t *testing.T) []queryCase {
	t.Helper()
	at := func(day, hour int) time.Time { return time.Date(2026, 3, day, hour, 0, 0, 0, time.UTC) }
	// A day around the daylight-saving change of Europe/Berlin (2026-03-29, 23 hours).
	from, to := at(28, 6), at(29, 18)
	berlinFrom, berlinTo := at(27, 23), at(29, 22)
	const berlin = "Europe/Berlin"
	feeder, fleet := Group{KindFeeder, "F1"}, Group{KindFleet, FleetID}
	args := map[string][][]any{
		"consumption_15m":              {{from, "M2", to}, {from, "M1", to}},
		"consumption_1h":               {{from, "M2", to}, {at(28, 0), "M3", at(30, 0)}},
		"consumption_1d":               {{berlinFrom, berlin, "M2", berlinTo}, {at(28, 0), "UTC", "M1", at(30, 0)}},
		"consumption_1mo":              {{at(1, 0), berlin, "M1", at(31, 22)}},
		"validated_15m":                {{"15m", "M2", from, to}},
		"validated_1h":                 {{"1h", "M2", from, to}, {"1h", "M3", at(28, 0), at(30, 0)}},
		"validated_1d":                 {{berlin, "M2", berlinFrom, berlinTo}, {"UTC", "M1", at(28, 0), at(30, 0)}},
		"validated_1mo":                {{berlin, "M1", at(1, 0), at(31, 22)}},
		"groups_load":                  {{"15m", "feeder", "F1", from, to}, {"1h", "fleet", FleetID, at(28, 0), at(30, 0)}},
		"groups_profile_group":         {{berlin, berlin, berlin, "15m", "fleet", FleetID, at(28, 0), at(30, 0)}},
		"groups_profile_meter":         {{berlin, berlin, berlin, "1h", "M2", at(28, 0), at(30, 0)}},
		"groups_quality_feeder_page":   {qualityArgs(feeder, from, to, true, "", 2), qualityArgs(feeder, from, to, true, "M1", 2)},
		"groups_quality_fleet_page":    {qualityArgs(fleet, from, to, true, "", 10)},
		"groups_quality_feeder_totals": {qualityArgs(feeder, from, to, false, "", 0)},
		"groups_quality_fleet_totals":  {qualityArgs(fleet, from, to, false, "", 0)},
		"groups_top_group":             {{"feeder", at(28, 0), at(30, 0), 10}},
		"groups_top_meter":             {{at(28, 0), at(30, 0), 2}},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("golden queries: %v (%d files)", err, len(files))
	}
	var cases []queryCase
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".sql")
		sets, ok := args[name]
		if !ok {
			t.Fatalf("%s has no parameters in readQueryCases: add them so that it is compared with chDB", f)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range sets {
			sql, err := bindLiterals(string(b), a)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			cases = append(cases, queryCase{fmt.Sprintf("%s#%d", name, i+1), strings.TrimSpace(sql)})
		}
	}
	return cases
}

// bindLiterals replaces the ? placeholders of sql, in order, with args as SQL literals:
// strings quoted and escaped, times as toDateTime in UTC, integers in decimal.
func bindLiterals(sql string, args []any) (string, error) {
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
		switch v := args[i].(type) {
		case string:
			b.WriteString("'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'")
		case time.Time:
			b.WriteString(v.UTC().Format("toDateTime('2006-01-02 15:04:05', 'UTC')"))
		case int:
			b.WriteString(strconv.Itoa(v))
		default:
			return "", fmt.Errorf("argument %d: cannot bind a %T", i+1, v)
		}
		i++
	}
	return b.String(), nil
}

// insert is one INSERT of the fixture: a table, its columns and typed rows (Go types of
// the columns, as the driver appends them).
type insert struct {
	table string
	cols  []string
	rows  [][]any
}

// sql writes the insert as INSERT … VALUES text.
func (in insert) sql() string {
	tuples := make([]string, len(in.rows))
	for i, r := range in.rows {
		vals := make([]string, len(r))
		for j, v := range r {
			switch v := v.(type) {
			case string:
				vals[j] = "'" + v + "'"
			case time.Time:
				vals[j] = v.UTC().Format("'2006-01-02 15:04:05'")
			case []string:
				vals[j] = arrayLiteral(v)
			default:
				vals[j] = fmt.Sprint(v)
			}
		}
		tuples[i] = "(" + strings.Join(vals, ", ") + ")"
	}
	return "INSERT INTO " + in.table + " (" + strings.Join(in.cols, ", ") + ") VALUES " + strings.Join(tuples, ", ")
}

// load appends the insert's rows to conn in one batch.
func (in insert) load(ctx context.Context, conn driver.Conn) error {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+in.table+" ("+strings.Join(in.cols, ", ")+")")
	if err != nil {
		return err
	}
	defer b.Abort() //nolint:errcheck // a no-op once sent
	for _, r := range in.rows {
		if err := b.Append(r...); err != nil {
			return err
		}
	}
	return b.Send()
}

// readFixture returns the inserts of the fixture: three meters in two feeders (the
// registry with an older version of one entry, and a fourth meter without data), two days of 15-minute readings around the
// daylight-saving change of Europe/Berlin with a six-hour gap in M2's and a replayed
// delivery, and the validated 15m and 1h rows and group roll-ups a VEE run would write
// for them, each also with an older, replaced version, so that FINAL matters.
func readFixture() []insert {
	type meter struct{ id, feeder, class string }
	meters := []meter{{"M1", "F1", "residential"}, {"M2", "F1", "commercial"}, {"M3", "F2", "residential"}}
	start := time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC)
	const quarters = 2 * 96
	at := func(q int) time.Time { return start.Add(time.Duration(q) * 15 * time.Minute) }
	day := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, time.UTC) }

	registry := func(rows ...[]any) insert {
		return insert{"meters", []string{"meter_id", "customer_class", "feeder", "region", "tariff", "time_zone", "life_support", "status", "updated_at"}, rows}
	}
	newer := registry()
	for _, m := range meters {
		newer.rows = append(newer.rows, []any{m.id, m.class, m.feeder, "north", "T1", "Europe/Berlin", uint8(0), "active", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)})
	}
	// M4 is registered in F1 but has no data: the quality join must give it zeros.
	newer.rows = append(newer.rows, []any{"M4", "residential", "F1", "north", "T1", "UTC", uint8(0), "active", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)})
	inserts := []insert{registry([]any{"M3", "industrial", "F1", "south", "T2", "UTC", uint8(0), "active", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}), newer}

	// Readings end quarter q (1..quarters); vals[m][q-1] is the validated 15m row of the
	// quarter that the reading at q closes.
	readingCols := []string{"meter_id", "ts", "register_wh", "quality", "ingested_at"}
	readings, replay := insert{"readings", readingCols, nil}, insert{"readings", readingCols, nil}
	vals := map[string][]interval{}
	for mi, m := range meters {
		reg := int64(1_000_000 * (mi + 1))
		for q := 1; q <= quarters; q++ {
			inc := int64(10 + (q*7+mi*13)%50)
			reg += inc
			v := interval{wh: inc, intervals: 1, expected: 1}
			switch {
			case m.id == "M2" && q > 40 && q <= 64: // 10:00-16:00 of the first day: a gap, estimated
				v = interval{wh: inc, quality: 9, expected: 1, estimated: 1, flags: []string{"missing"}}
			case m.id == "M3" && q == 50:
				v.quality, v.questionable, v.flags = 10, 1, []string{"spike", "daily_usage"}
			}
			vals[m.id] = append(vals[m.id], v)
			if v.intervals == 0 {
				continue
			}
			readings.rows = append(readings.rows, []any{m.id, at(q), reg, uint8(0), day(30, 1)})
			if m.id == "M1" && q > 100 && q <= 110 { // delivered twice
				replay.rows = append(replay.rows, []any{m.id, at(q), reg, uint8(0), day(30, 2)})
			}
		}
	}
	inserts = append(inserts, readings, replay)

	// The per-meter and group rows, first an older version with other values, then the one
	// FINAL must return.
	for _, version := range []struct {
		computed time.Time
		scale    int64
	}{{day(30, 3), 3}, {day(30, 4), 1}} {
		cons := insert{"consumption", []string{"resolution", "meter_id", "start", "wh", "quality", "intervals", "expected_intervals", "estimated", "edited", "questionable", "flags", "reasons", "computed_at"}, nil}
		groups := insert{"group_consumption", []string{"resolution", "group_kind", "group_id", "start", "wh", "meters", "intervals", "expected_intervals", "estimated", "questionable", "computed_at"}, nil}
		for _, res := range []struct {
			name string
			n    int
		}{{"15m", 1}, {"1h", 4}} {
			for q := 0; q < quarters; q += res.n {
				var fleet interval
				feeders := map[string]*interval{"F1": {}, "F2": {}}
				for _, m := range meters {
					v := sumIntervals(vals[m.id][q : q+res.n])
					v.wh *= version.scale
					cons.rows = append(cons.rows, []any{res.name, m.id, at(q), v.wh, v.quality, uint32(v.intervals), uint32(v.expected),
						uint32(v.estimated), uint32(0), uint32(v.questionable), append([]string{}, v.flags...), []string{}, version.computed})
					fleet.add(v)
					feeders[m.feeder].add(v)
				}
				for _, g := range []struct {
					kind, id string
					v        *interval
				}{{"fleet", FleetID, &fleet}, {"feeder", "F1", feeders["F1"]}, {"feeder", "F2", feeders["F2"]}} {
					groups.rows = append(groups.rows, []any{res.name, g.kind, g.id, at(q), g.v.wh, uint32(g.v.meters), uint32(g.v.intervals),
						uint32(g.v.expected), uint32(g.v.estimated), uint32(g.v.questionable), version.computed})
				}
			}
		}
		inserts = append(inserts, cons, groups)
	}
	return inserts
}

// interval is one validated row of the fixture, or a sum of them.
type interval struct {
	wh                                                   int64
	quality                                              uint8
	meters, intervals, expected, estimated, questionable int
	flags                                                []string
}

// add adds a meter's row to a group's.
func (g *interval) add(v interval) {
	g.wh += v.wh
	g.meters++
	g.intervals += v.intervals
	g.expected += v.expected
	g.estimated += v.estimated
	g.questionable += v.questionable
}

// sumIntervals combines 15m rows into a coarser one as the VEE job does: quality is the
// common code, else 13 (mixed); the flags are the distinct rule names.
func sumIntervals(vs []interval) interval {
	out := interval{quality: vs[0].quality}
	for _, v := range vs {
		out.wh += v.wh
		out.intervals += v.intervals
		out.expected += v.expected
		out.estimated += v.estimated
		out.questionable += v.questionable
		if v.quality != out.quality {
			out.quality = 13
		}
		for _, f := range v.flags {
			if !slices.Contains(out.flags, f) {
				out.flags = append(out.flags, f)
			}
		}
	}
	return out
}

// arrayLiteral writes names as a ClickHouse Array(String) literal.
func arrayLiteral(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// rowsOn1816 runs sql on conn and returns its rows as text, with the column types.
func rowsOn1816(ctx context.Context, conn driver.Conn, sql string) ([][]string, []string, error) {
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
// order of groupUniqArray is unspecified; the read paths sort the names).
func goCell(typ string, v any) string {
	switch v := v.(type) {
	case time.Time:
		if typ == "Date" {
			return v.Format(time.DateOnly)
		}
		return v.UTC().Format(time.DateTime)
	case []string:
		return strings.Join(slices.Sorted(slices.Values(v)), ", ")
	default:
		return fmt.Sprint(v)
	}
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
		return strings.Join(s, ", ")
	default:
		return fmt.Sprint(v)
	}
}
