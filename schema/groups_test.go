package schema

import "testing"

// TestParseGroupKind accepts every kind the job writes and names the kinds when it refuses.
func TestParseGroupKind(t *testing.T) {
	for _, k := range GroupKinds {
		got, err := ParseGroupKind(string(k))
		if err != nil || got != k {
			t.Errorf("ParseGroupKind(%q) = %q, %v", k, got, err)
		}
	}
	for _, s := range []string{"", "feeders", "Fleet", "meter"} {
		if _, err := ParseGroupKind(s); err == nil {
			t.Errorf("ParseGroupKind(%q) accepted", s)
		}
	}
}

// TestRegistryColumn maps each kind but the fleet to its column of the meters table.
func TestRegistryColumn(t *testing.T) {
	want := map[GroupKind]string{KindFeeder: "feeder", KindRegion: "region", KindCustomerClass: "customer_class", KindTariff: "tariff", KindFleet: ""}
	for _, k := range GroupKinds {
		if got := k.RegistryColumn(); got != want[k] {
			t.Errorf("%s.RegistryColumn() = %q, want %q", k, got, want[k])
		}
	}
}

// TestCheckGroupID accepts the fleet's id and printable ids and names the field when it
// refuses.
func TestCheckGroupID(t *testing.T) {
	for _, c := range []struct {
		kind GroupKind
		id   string
		ok   bool
	}{
		{KindFleet, FleetID, true}, {KindFeeder, "FDR-01", true}, {KindRegion, "Nord/Süd", true},
		{KindFleet, "other", false}, {KindFeeder, "", false}, {KindTariff, "a\nb", false},
		{KindTariff, string(make([]byte, GroupIDMaxLen+1)), false}, {KindRegion, "\xff", false},
	} {
		err := CheckGroupID("group_id", c.kind, c.id)
		if (err == nil) != c.ok {
			t.Errorf("CheckGroupID(%s, %q) = %v, want ok %v", c.kind, c.id, err, c.ok)
		}
		if err != nil && err.Error()[:len("group_id: ")] != "group_id: " {
			t.Errorf("CheckGroupID(%s, %q) = %v, want the field named", c.kind, c.id, err)
		}
	}
}
