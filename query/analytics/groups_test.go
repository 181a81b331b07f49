package analytics

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
)

// TestGroupsSQL pins the SQL of the group read paths; refresh with go test -update.
func TestGroupsSQL(t *testing.T) {
	tests := []struct{ name, sql string }{
		{"load", loadSQL},
		{"top_meter", topSQL("meter")},
		{"top_group", topSQL("feeder")},
		{"profile_meter", profileSQL(false)},
		{"profile_group", profileSQL(true)},
		{"quality_feeder_page", qualitySQL(schema.KindFeeder, true)},
		{"quality_fleet_page", qualitySQL(schema.KindFleet, true)},
		{"quality_feeder_totals", qualityTotalsSQL(schema.KindFeeder)},
		{"quality_fleet_totals", qualityTotalsSQL(schema.KindFleet)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testenv.Golden(t, filepath.Join("testdata", "groups_"+tt.name+".sql"), tt.sql+"\n")
		})
	}
}

// TestQualityArgs checks that the parameters line up with the placeholders of the SQL.
func TestQualityArgs(t *testing.T) {
	from, to := time.Unix(0, 0), time.Unix(3600, 0)
	for _, g := range []Group{{schema.KindFeeder, "F1"}, {schema.KindFleet, schema.FleetID}} {
		for _, page := range []bool{false, true} {
			sql := qualitySQL(g.Kind, page)
			if !page {
				sql = qualityTotalsSQL(g.Kind)
			}
			if n, want := len(qualityArgs(g, from, to, page, "M", 10)), strings.Count(sql, "?"); n != want {
				t.Errorf("%s page=%v: %d args for %d placeholders", g.Kind, page, n, want)
			}
		}
	}
}

func TestParseGroup(t *testing.T) {
	tests := []struct {
		kind, id  string
		want      Group
		wantField string
	}{
		{"feeder", "F-1", Group{schema.KindFeeder, "F-1"}, ""},
		{"customer_class", "residential", Group{schema.KindCustomerClass, "residential"}, ""},
		{"fleet", "", Group{schema.KindFleet, schema.FleetID}, ""},
		{"fleet", "all", Group{schema.KindFleet, schema.FleetID}, ""},
		{"fleet", "x", Group{}, "id"},
		{"feeders", "F-1", Group{}, "kind"},
		{"region", "", Group{}, "id"},
		{"region", "a\nb", Group{}, "id"},
		{"region", strings.Repeat("x", 257), Group{}, "id"},
	}
	for _, tt := range tests {
		g, err := parseGroup(tt.kind, "kind", tt.id, "id")
		if tt.wantField == "" {
			if err != nil || g != tt.want {
				t.Errorf("parseGroup(%q, %q) = %v, %v", tt.kind, tt.id, g, err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), tt.wantField+":") {
			t.Errorf("parseGroup(%q, %q) = %v, want an error for %s", tt.kind, tt.id, err, tt.wantField)
		}
	}
}

func TestQualityCursor(t *testing.T) {
	c := qualityCursor{After: "MTR-000042", Kind: "feeder", ID: "F 1/ä", From: 1, To: 2}
	s := c.encode()
	if strings.ContainsAny(s, "+/=") {
		t.Fatalf("cursor %q is not URL-safe", s)
	}
	got, err := decodeQualityCursor(s)
	if err != nil || got != c {
		t.Fatalf("decode = %v, %v", got, err)
	}
	for _, bad := range []string{"!!", "e30x", "bm90IGpzb24"} {
		if _, err := decodeQualityCursor(bad); err == nil || !strings.HasPrefix(err.Error(), "cursor:") {
			t.Errorf("decode(%q) = %v", bad, err)
		}
	}
}

func TestRoundRange(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 1, 1, h, m, 0, 0, time.UTC) }
	tests := []struct {
		from, to, wantFrom, wantTo time.Time
		d                          time.Duration
	}{
		{at(1, 10), at(2, 0), at(1, 0), at(2, 0), time.Hour},
		{at(1, 10), at(2, 1), at(1, 0), at(3, 0), time.Hour},
		{at(1, 10), at(1, 20), at(1, 0), at(1, 30), 15 * time.Minute},
		{at(1, 10).In(time.FixedZone("X", 3600)), at(5, 0), at(1, 0), at(5, 0), time.Hour},
	}
	for _, tt := range tests {
		f, to := roundRange(tt.from, tt.to, tt.d)
		if !f.Equal(tt.wantFrom) || !to.Equal(tt.wantTo) || f.Location() != time.UTC || to.Location() != time.UTC {
			t.Errorf("roundRange(%v, %v, %v) = %v, %v", tt.from, tt.to, tt.d, f, to)
		}
	}
}
