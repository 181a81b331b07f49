package schema

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in   string
		want Version
		caps Capabilities
	}{
		{"18.16.1", Version{18, 16, 1}, Capabilities{}},
		{"19.11.3.11", Version{19, 11, 3}, Capabilities{Codecs: true, TTL: true, LowCardinality: true}},
		{"24.8", Version{24, 8, 0}, Capabilities{Codecs: true, TTL: true, LowCardinality: true, DateTime64: true}},
	}
	for _, tt := range tests {
		v, err := ParseVersion(tt.in)
		if err != nil || v != tt.want {
			t.Fatalf("ParseVersion(%s) = %v, %v", tt.in, v, err)
		}
		tt.caps.Version = v
		if got := CapabilitiesOf(v); got != tt.caps {
			t.Errorf("CapabilitiesOf(%s) = %+v, want %+v", tt.in, got, tt.caps)
		}
	}
	for _, bad := range []string{"", "18", "x.y", "18.x.1"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) accepted", bad)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	got := splitStatements("-- a comment;\nCREATE TABLE a (x UInt8)\nENGINE = Memory;\n\n-- another\nCREATE VIEW v AS SELECT 1;\n")
	want := []string{"CREATE TABLE a (x UInt8)\nENGINE = Memory", "CREATE VIEW v AS SELECT 1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestMigrationsRenderPerVersion(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 {
		t.Fatalf("migrations start at %v", ms)
	}
	old, _ := ParseVersion("18.16.1")
	cur, _ := ParseVersion("24.8.1")
	for _, m := range ms {
		oldSQL, err := m.Statements(CapabilitiesOf(old), "meterhouse")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range oldSQL {
			if strings.Contains(s, "CODEC(") || strings.Contains(s, "LowCardinality(") || strings.Contains(s, "DateTime64") {
				t.Errorf("migration %d renders a feature 18.16 lacks:\n%s", m.Version, s)
			}
		}
		if _, err := m.Statements(CapabilitiesOf(cur), "meterhouse"); err != nil {
			t.Fatal(err)
		}
	}
	// The readings table uses codecs on servers that have them.
	all, err := Render(CapabilitiesOf(cur), "meterhouse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(all, "\n"), "CODEC(DoubleDelta") {
		t.Error("current servers get no codecs")
	}
}

// TestMigrationsOnCurrentClickHouse runs every migration, rendered for a current server,
// in chDB, the embedded ClickHouse engine from PyPI (make test installs it), so that DDL
// meant for production servers is checked although only 18.16 runs here.
func TestMigrationsOnCurrentClickHouse(t *testing.T) {
	if testing.Short() {
		t.Skip("needs python3 with chdb")
	}
	if err := exec.Command("python3", "-c", "import chdb").Run(); err != nil {
		t.Fatalf("python3 with the chdb package is required (pip install chdb): %v", err)
	}
	v, _ := ParseVersion("24.8.1")
	stmts, err := Render(CapabilitiesOf(v), "mh")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "migrations.sql")
	if err := os.WriteFile(file, []byte(strings.Join(stmts, "\n;\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("python3", filepath.Join("testdata", "chdb_apply.py"), file).CombinedOutput()
	if err != nil {
		t.Fatalf("migrations fail on a current ClickHouse (chDB): %v\n%s", err, out)
	}
	t.Logf("%s", out)

	// The check itself can fail: a statement no ClickHouse accepts is reported.
	bad := filepath.Join(t.TempDir(), "bad.sql")
	if err := os.WriteFile(bad, []byte("CREATE TABLE readings (x NoSuchType) ENGINE = Memory"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("python3", filepath.Join("testdata", "chdb_apply.py"), bad).CombinedOutput(); err == nil {
		t.Fatalf("chDB accepted an invalid statement:\n%s", out)
	}
}
