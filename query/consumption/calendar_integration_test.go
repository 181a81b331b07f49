package consumption_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/calendar"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/query/consumption"
)

// TestConsumptionDaysWithoutMidnight asks for daily consumption in America/Sao_Paulo over
// November 2018, whose DST began at 00:00 on the 4th (that day starts at 01:00 and lasts
// 23 hours), through the HTTP query path: 30 points, each starting at the first instant
// of its local date, the 4th holding 23 hours of energy. It failed with "more than 35136
// intervals" while the day iterator stuck at the missing midnight.
func TestConsumptionDaysWithoutMidnight(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	srv, token := testenv.API(t, conn)
	svc, err := consumption.New(consumption.DefaultConfig(), conn)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Register(srv); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Echo())
	t.Cleanup(hs.Close)

	// A reading every hour, 100 Wh an hour, from 2018-10-30 to 2018-12-02 UTC.
	ctx := context.Background()
	b, err := conn.PrepareBatch(ctx, "INSERT INTO readings (meter_id, ts, register_wh, quality)")
	if err != nil {
		t.Fatal(err)
	}
	first := time.Date(2018, 10, 30, 0, 0, 0, 0, time.UTC)
	for ts, reg := first, int64(1_000_000); ts.Before(time.Date(2018, 12, 2, 0, 0, 0, 0, time.UTC)); ts, reg = ts.Add(time.Hour), reg+100 {
		if err := b.Append("SP-1", ts, reg, uint8(0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}

	sp, err := time.LoadLocation("America/Sao_Paulo")
	if err != nil {
		t.Fatal(err)
	}
	r := testenv.Do(t, testenv.Request{Method: http.MethodGet, Token: token(api.RoleAnalyst),
		URL: hs.URL + "/v1/meters/SP-1/consumption?from=2018-11-01T00:00:00-03:00&to=2018-12-01T00:00:00-02:00&step=1d&tz=America/Sao_Paulo"})
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	var res consumption.Consumption
	if err := json.Unmarshal(r.Body, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Points) != 30 {
		t.Fatalf("%d points, want 30: %s", len(res.Points), r.Body)
	}
	short := 0
	for i, p := range res.Points {
		want := calendar.DateStart(2018, 11, i+1, sp)
		if !p.Start.Equal(want) {
			t.Errorf("point %d starts at %s, want %s", i, p.Start.Format(time.RFC3339), want.Format(time.RFC3339))
		}
		wantWh := int64(2400)
		if i+1 == 4 {
			wantWh = 2300
			if got := p.Start.In(sp).Format("2006-01-02 15:04"); got != "2018-11-04 01:00" {
				t.Errorf("2018-11-04 starts at %s local, want 01:00", got)
			}
			if want := time.Date(2018, 11, 4, 3, 0, 0, 0, time.UTC); !p.Start.Equal(want) {
				t.Errorf("2018-11-04 starts at %s, want %s", p.Start, want)
			}
		}
		if p.Wh != wantWh {
			t.Errorf("point %d (%s) has %d Wh, want %d", i, p.Start.In(sp).Format(time.DateOnly), p.Wh, wantWh)
		}
		if p.Wh == 2300 {
			short++
		}
	}
	if short != 1 {
		t.Errorf("%d days of 23 hours, want 1", short)
	}
}
