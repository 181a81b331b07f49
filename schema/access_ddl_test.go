package schema

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestAnalystAccessDDLOnCurrentClickHouse checks deploy/clickhouse/analyst-access.sql, the
// SQL-driven access control the README documents for current servers, in chDB: every
// statement parses and every setting of its profile exists. chDB runs no access-control
// statement (it has no user storage), so grants and constraints are not exercised here.
func TestAnalystAccessDDLOnCurrentClickHouse(t *testing.T) {
	if testing.Short() {
		t.Skip("needs python3 with chdb")
	}
	if err := exec.Command("python3", "-c", "import chdb").Run(); err != nil {
		t.Fatalf("python3 with the chdb package is required (pip install chdb): %v", err)
	}
	script := filepath.Join("testdata", "chdb_parse.py")
	out, err := exec.Command("python3", script, filepath.Join("..", "deploy", "clickhouse", "analyst-access.sql")).CombinedOutput()
	if err != nil {
		t.Fatalf("analyst-access.sql fails on a current ClickHouse (chDB): %v\n%s", err, out)
	}
	t.Logf("%s", out)

	// The check can fail: a misspelt setting and a statement that does not parse are reported.
	for name, bad := range map[string]string{
		"setting": "CREATE SETTINGS PROFILE p SETTINGS\n    max_parser_dept = 1 MAX 1;\n",
		"syntax":  "GRANT SELECT ON meterhouse.* TOO analyst;\n",
	} {
		f := filepath.Join(t.TempDir(), name+".sql")
		if err := os.WriteFile(f, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("python3", script, f).CombinedOutput(); err == nil {
			t.Errorf("chDB accepted the bad %s:\n%s", name, out)
		}
	}
}
