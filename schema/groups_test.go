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
