package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/registry"
)

// TestRegistryImportCommand runs registry import with meters and agreements files against
// a fresh database, reads the agreement back through the store, refuses a bad file with
// its line and column and an overlapping agreement with a conflict, and runs refresh.
func TestRegistryImportCommand(t *testing.T) {
	e := newCLIEnv(t)
	ctx, conn, mh, file := context.Background(), e.conn, e.mh, e.file
	meters := file("meters.csv", "meter_id,valid_from,feeder,region,time_zone\nM1,2026-01-01,F1,R1,Europe/Berlin\n")
	agreements := file("agreements.csv", "agreement_id,account_id,service_point_id,meter_id,tariff,customer_class,start_date,cycle_day\nA1,C1,S1,M1,T-RES,residential,2026-01-01,5\n")
	out, err := mh("registry", "import", "--meters", meters, "--agreements", agreements)
	if err != nil || !strings.Contains(out, "1 meter versions") || !strings.Contains(out, "1 agreement versions") {
		t.Fatalf("registry import: %v %s", err, out)
	}
	bad := file("bad.csv", "meter_id,valid_from,feeder,region,time_zone\nM2,2026-01-01,F1,R1,Nowhere/City\n")
	if _, err := mh("registry", "import", "--meters", bad); err == nil || !strings.Contains(err.Error(), "time_zone: line 2") {
		t.Errorf("registry import of a bad file: %v", err)
	}
	overlap := file("overlap.csv", "agreement_id,account_id,service_point_id,meter_id,tariff,customer_class,start_date,cycle_day\nA2,C2,S2,M1,T-RES,residential,2026-06-01,5\n")
	if _, err := mh("registry", "import", "--agreements", overlap); !errors.Is(err, fault.ErrConflict) {
		t.Errorf("registry import of an overlapping agreement: %v", err)
	}
	if _, err := mh("registry", "import"); err == nil {
		t.Error("registry import without files succeeded")
	}
	if out, err := mh("registry", "refresh"); err != nil || !strings.Contains(out, "1 meters refreshed") {
		t.Errorf("registry refresh: %v %s", err, out)
	}
	s, err := registry.NewStore(conn, e.cfg.PrivateDatabase())
	if err != nil {
		t.Fatal(err)
	}
	v, ok, err := s.AgreementAt(ctx, "A1", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || !ok || v.CycleDay != 5 || !strings.HasPrefix(v.Author, "cli:") {
		t.Errorf("A1 after the import: %+v %v %v", v, ok, err)
	}
}
