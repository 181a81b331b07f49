package job

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/registry"
)

// TestRegistryOwnersReachVEE writes meters and an agreement through package registry and
// checks that the VEE job's registry read sees each attribute from its owner: the time
// zone and feeder from the meter, the tariff and customer class from the agreement in
// force on the meter (after a meter exchange, on the new meter only).
func TestRegistryOwnersReachVEE(t *testing.T) {
	cfg, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	s, err := registry.NewStore(conn, cfg.PrivateDatabase())
	if err != nil {
		t.Fatal(err)
	}
	mvs, err := registry.ParseMetersCSV(strings.NewReader("meter_id,valid_from,feeder,region,time_zone\nX1,2026-01-01,F1,R1,Asia/Shanghai\nX2,2026-01-01,F2,R1,America/New_York\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutMeters(ctx, "test", mvs); err != nil {
		t.Fatal(err)
	}
	avs, err := registry.ParseAgreementsCSV(strings.NewReader("agreement_id,account_id,service_point_id,meter_id,tariff,customer_class,start_date,valid_from,cycle_day\n" +
		"A1,C1,S1,X1,T-TOU,commercial,2026-01-01,,1\nA1,C1,S1,X2,T-TOU,commercial,2026-01-01,2026-02-01,1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutAgreements(ctx, "test", avs); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	j := newJob(t, conn, testConfig(), &now)
	reg, err := j.registry(ctx, []string{"X1", "X2"})
	if err != nil {
		t.Fatal(err)
	}
	// X1 was exchanged for X2 on 2026-02-01: no agreement supplies through it today.
	for id, want := range map[string]string{"X1": "F1|||Asia/Shanghai", "X2": "F2|commercial|T-TOU|America/New_York"} {
		e := reg[id]
		got := strings.Join([]string{e.feeder, e.class, e.tariff, e.loc.String()}, "|")
		if !e.known || got != want {
			t.Errorf("VEE registry %s: %q (known %v), want %q", id, got, e.known, want)
		}
	}
}
