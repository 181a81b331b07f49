package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meterhouse/meterhouse/billing/tariff"
	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestTariffCommands runs tariff check and import-urdb (no services) and tariff load
// against a fresh database, as a user would: a bad document is refused with the path of
// its field, the import prints the package's golden YAML, and a loaded version is in the
// store.
func TestTariffCommands(t *testing.T) {
	ctx := context.Background()
	mh := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, args, &out, &errOut)
		return out.String(), err
	}
	data := filepath.Join(testenv.RepoRoot(), "billing", "tariff", "testdata")
	if out, err := mh("tariff", "check", "--file", filepath.Join(data, "cn-residential.yaml")); err != nil || !strings.Contains(out, "CN-RES-TOU (effective from 2026-01-01) is valid") {
		t.Fatalf("tariff check: %v %s", err, out)
	}
	us, err := os.ReadFile(filepath.Join(data, "us-commercial.json"))
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, bytes.Replace(us, []byte(`"up_to": 1000`), []byte(`"up_to": -1000`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := mh("tariff", "check", "--file", bad); err == nil || !strings.Contains(err.Error(), "energy.tiers[0].up_to") {
		t.Errorf("tariff check of a bad file: %v", err)
	}
	urdb := filepath.Join(data, "urdb-rates.json")
	golden, err := os.ReadFile(filepath.Join(data, "urdb-gs-tou.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"tariff", "import-urdb", urdb, "--tz", "America/Denver", "--id", "mh-test-gs-tou-2026"},
		{"tariff", "import-urdb", "--tz=America/Denver", "--id", "mh-test-gs-tou-2026", urdb},
	} {
		if out, err := mh(args...); err != nil || out != string(golden) {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	if _, err := mh("tariff", "import-urdb", urdb); err == nil || !strings.Contains(err.Error(), "tz") {
		t.Errorf("import-urdb without --tz: %v", err)
	}

	chCfg, conn := testenv.ClickHouse(t)
	for _, kv := range testenv.ClickHouseEnv(chCfg) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	if out, err := mh("tariff", "load", "--file", filepath.Join(data, "us-commercial.json")); err != nil || !strings.Contains(out, "US-COM-DEMAND: version effective from 2026-03-01 stored") {
		t.Fatalf("tariff load: %v %s", err, out)
	}
	s, err := tariff.NewStore(conn)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.GetOn(ctx, "US-COM-DEMAND", tariff.NewDate(2026, 8, 1))
	if err != nil || d.Demand.Ratchet.Months != 11 {
		t.Errorf("the loaded tariff: %v, %v", d, err)
	}
}
