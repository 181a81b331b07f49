package rules

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/calendar/holidays"
	"github.com/meterhouse/meterhouse/control"
	"github.com/meterhouse/meterhouse/control/wire"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/registry"
	"github.com/meterhouse/meterhouse/weather"
)

// The stores implement the interfaces the rules read through.
var (
	_ Meters     = (*registry.Store)(nil)
	_ Agreements = (*registry.Store)(nil)
	_ Calendars  = (*holidays.Store)(nil)
	_ Forecasts  = (*weather.Store)(nil)
)

// TestRulesOnTheStores runs the rules over the real registry, calendar and weather stores
// in a fresh database: meters and agreements imported from CSV (a notice date, a
// life-support flag in the private database), Germany's holidays loaded as region DE-BE,
// and two forecast issues, the later revising a cold hour.
func TestRulesOnTheStores(t *testing.T) {
	cfg, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	reg, err := registry.NewStore(conn, cfg.PrivateDatabase())
	if err != nil {
		t.Fatal(err)
	}
	mvs, err := registry.ParseMetersCSV(strings.NewReader("meter_id,valid_from,feeder,region,time_zone\n" +
		"M1,2025-01-01,F1,DE-BE,Europe/Berlin\nM2,2025-01-01,F1,DE-BE,Europe/Berlin\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.PutMeters(ctx, "test", mvs); err != nil {
		t.Fatal(err)
	}
	avs, err := registry.ParseAgreementsCSV(strings.NewReader(
		"agreement_id,account_id,service_point_id,meter_id,tariff,customer_class,start_date,valid_from,cycle_day,life_support,notice_date\n" +
			"AG-1,ACC-1,SP-1,M1,T,residential,2025-01-01,,1,false,\n" +
			"AG-1,ACC-1,SP-1,M1,T,residential,2025-01-01,2026-04-28,1,false,2026-04-28\n" +
			"AG-2,ACC-2,SP-2,M2,T,residential,2025-01-01,,1,true,2026-04-01\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.PutAgreements(ctx, "test", avs); err != nil {
		t.Fatal(err)
	}
	cal, err := holidays.NewStore(conn)
	if err != nil {
		t.Fatal(err)
	}
	es, err := holidays.CountryHolidays("DE", "DE-BE", 2025, 2027)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cal.Load(ctx, es, "rules:DE"); err != nil {
		t.Fatal(err)
	}
	ws, err := weather.NewStore(conn)
	if err != nil {
		t.Fatal(err)
	}
	var values []weather.Value
	issued := utc("2026-05-11T00:00:00Z")
	for h := issued; h.Before(utc("2026-05-23T00:00:00Z")); h = h.Add(time.Hour) {
		temp := 15.0
		if h.Equal(utc("2026-05-20T03:00:00Z")) {
			temp = -4
		}
		values = append(values, weather.Value{Region: "DE-BE", ValidTime: h, IssuedAt: issued, Kind: weather.Forecast, Source: "dwd", TemperatureC: temp})
	}
	values = append(values, weather.Value{Region: "DE-BE", ValidTime: utc("2026-05-20T03:00:00Z"), IssuedAt: utc("2026-05-19T09:00:00Z"),
		Kind: weather.Forecast, Source: "dwd", TemperatureC: 2})
	if _, err := ws.Load(ctx, values); err != nil {
		t.Fatal(err)
	}

	r, err := New(testConfig(), Deps{Meters: reg, Agreements: reg, Calendars: cal, Weather: ws})
	if err != nil {
		t.Fatal(err)
	}
	disconnect := func(meter, at string) control.Check {
		return control.Check{MeterID: meter, Action: wire.ActionDisconnect, At: utc(at)}
	}
	overridden := disconnect("M2", "2026-05-12T08:00:00Z")
	overridden.Override = true
	for _, tc := range []struct {
		name  string
		check control.Check
		rule  string
	}{
		{"a working day, notice period reached", disconnect("M1", "2026-05-12T08:00:00Z"), ""},
		{"notice period one day short", disconnect("M1", "2026-05-11T08:00:00Z"), RuleNoticePeriod},
		{"life support", disconnect("M2", "2026-05-12T08:00:00Z"), RuleLifeSupport},
		{"life support with override", overridden, ""},
		{"Ascension Day", disconnect("M1", "2026-05-14T08:00:00Z"), RuleHoliday},
		{"the day before", disconnect("M1", "2026-05-13T08:00:00Z"), RuleDayBeforeHoliday},
		{"a Saturday", disconnect("M1", "2026-05-16T08:00:00Z"), RuleWeekend},
		{"after the cut-off", disconnect("M1", "2026-05-12T12:00:00Z"), RuleCutoffHour},
		{"a cold hour forecast", disconnect("M1", "2026-05-19T08:00:00Z"), RuleWeatherMoratorium},
		{"the later issue revises it", disconnect("M1", "2026-05-19T10:00:00Z"), ""},
		{"emergency reconnect", control.Check{MeterID: "M2", Action: wire.ActionReconnect, At: utc("2026-05-14T20:00:00Z"), Emergency: true}, ""},
	} {
		ref, err := r.Check(ctx, tc.check)
		switch {
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.rule == "" && ref != nil:
			t.Errorf("%s: refused: %v", tc.name, ref)
		case tc.rule != "" && (ref == nil || ref.Rule != tc.rule):
			t.Errorf("%s: %v, want %s", tc.name, ref, tc.rule)
		}
	}
	if _, err := r.Check(ctx, disconnect("M9", "2026-05-12T08:00:00Z")); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("an unknown meter: %v, want not found", err)
	}
}
