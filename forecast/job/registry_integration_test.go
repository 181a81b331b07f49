package job

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/meterhouse/meterhouse/calendar/holidays"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/registry"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/weather"
)

// TestRegistryTariffGroup writes meters and agreements through package registry and
// checks that the forecast's registry read of the tariff group finds the meters by the
// tariff their agreements own, each in its own meter's time zone.
func TestRegistryTariffGroup(t *testing.T) {
	cfg, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	s, err := registry.NewStore(conn, cfg.PrivateDatabase())
	if err != nil {
		t.Fatal(err)
	}
	mvs, err := registry.ParseMetersCSV(strings.NewReader("meter_id,valid_from,feeder,region,time_zone\nY1,2026-01-01,F1,R1,Europe/Berlin\nY2,2026-01-01,F1,R1,UTC\nY3,2026-01-01,F1,R1,Asia/Tokyo\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutMeters(ctx, "test", mvs); err != nil {
		t.Fatal(err)
	}
	avs, err := registry.ParseAgreementsCSV(strings.NewReader("agreement_id,account_id,service_point_id,meter_id,tariff,customer_class,start_date,cycle_day\n" +
		"A1,C1,S1,Y1,T-A,residential,2026-01-01,1\nA2,C2,S2,Y2,T-B,residential,2026-01-01,1\nA3,C3,S3,Y3,T-A,residential,2026-01-01,1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutAgreements(ctx, "test", avs); err != nil {
		t.Fatal(err)
	}
	cals, err := holidays.NewStore(conn)
	if err != nil {
		t.Fatal(err)
	}
	wx, err := weather.NewStore(conn)
	if err != nil {
		t.Fatal(err)
	}
	j, err := New(testConfig(), conn, cals, wx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := j.registry(ctx, &GroupFilter{Kind: schema.KindTariff, ID: "T-A"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.id+" "+m.tariff+" "+m.zone)
	}
	if want := "Y1 T-A Europe/Berlin|Y3 T-A Asia/Tokyo"; strings.Join(got, "|") != want {
		t.Errorf("tariff group T-A: %s, want %s", strings.Join(got, "|"), want)
	}
}
