package job

import (
	"path/filepath"
	"testing"

	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
)

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
		{"history", historySQL},
		{"profile_history", profileHistorySQL},
		{"edits", editsSQL},
		{"sum", sumSQL},
		{"meter_known", schema.MeterKnownSQL},
		{"open_failures", openFailuresSQL},
		// The statements on the private database are pinned apart: chDB's comparison
		// (testdata/*.sql, TestJobQueriesOnCurrentClickHouse) has no private database.
		{"private/relay", relaySQL("{{private}}")},
		{"private/relay_recorded", relayRecordedSQL("{{private}}")},
	}
	tests = append(tests, struct{ name, sql string }{"groups", groupsSQL(schema.GroupKinds, 2)})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testenv.Golden(t, filepath.Join("testdata", tt.name+".sql"), tt.sql+"\n")
		})
	}
}
