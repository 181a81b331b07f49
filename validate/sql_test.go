package validate

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestSQL pins every statement the job runs; refresh with go test -update.
func TestSQL(t *testing.T) {
	tests := []struct{ name, sql string }{
		{"last_run", lastRunSQL},
		{"arrivals", arrivalsSQL},
		{"reading_days", readingDaysSQL},
		{"edits_since", editsSinceSQL},
		{"registry", registrySQL},
		{"anchors", anchorsSQL},
		{"readings", readingsSQL},
		{"point_readings", pointReadingsSQL},
		{"rows", rowsSQL},
		{"edits", editsSQL},
		{"sum", sumSQL},
		{"meter_known", meterKnownSQL},
	}
	for _, kind := range GroupKinds {
		tests = append(tests, struct{ name, sql string }{"group_" + kind, groupSQL(kind)})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join("testdata", tt.name+".sql")
			got := tt.sql + "\n"
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s changed:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}
