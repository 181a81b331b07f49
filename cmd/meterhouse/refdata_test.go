package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/calendar/holidays"
	"github.com/meterhouse/meterhouse/weather"
)

// TestReferenceDataCommands runs calendar load (a file, then a country's rules) and
// weather load as a user would, against a fresh database, and reads the data back through
// the packages' stores; a bad file is refused with its line and column.
func TestReferenceDataCommands(t *testing.T) {
	e := newCLIEnv(t)
	ctx, conn, mh, file := context.Background(), e.conn, e.mh, e.file
	cn := file("cn.csv", "region,date,kind,name\nCN,2026-02-14,working,调休\nCN,2026-02-16,holiday,春节\n")
	if out, err := mh("calendar", "load", "--file", cn, "--region", "CN"); err != nil || !strings.Contains(out, "2 entries") {
		t.Fatalf("calendar load --file: %v %s", err, out)
	}
	if out, err := mh("calendar", "load", "--country", "DE", "--region", "north", "--years", "2026"); err != nil || !strings.Contains(out, "rules:DE") {
		t.Fatalf("calendar load --country: %v %s", err, out)
	}
	bad := file("bad.csv", "region,date,kind\nCN,2026-02-30,holiday\n")
	if _, err := mh("calendar", "load", "--file", bad); err == nil || !strings.Contains(err.Error(), "date: line 2") {
		t.Errorf("calendar load of a bad file: %v", err)
	}
	if _, err := mh("calendar", "load", "--country", "DE", "--years", "2026"); err == nil {
		t.Error("calendar load --country without --region succeeded")
	}
	cal, err := holidays.NewStore(conn)
	if err != nil {
		t.Fatal(err)
	}
	d, err := cal.Days(ctx, "CN", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || d.Kind(time.Date(2026, 2, 14, 0, 0, 0, 0, time.UTC)) != holidays.SubstitutedWorking {
		t.Errorf("CN 2026-02-14 after the load: %v", err)
	}
	de, err := cal.Days(ctx, "north", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || de.Kind(time.Date(2026, 10, 3, 0, 0, 0, 0, time.UTC)) != holidays.Holiday {
		t.Errorf("north 2026-10-03 (Tag der Deutschen Einheit) after --country DE: %v", err)
	}

	w := file("w.csv", "region,valid_time,issued_at,kind,source,temperature_c\nVIC,2026-01-07T00:00:00Z,2026-01-06T06:00:00Z,forecast,bom,25\n")
	if out, err := mh("weather", "load", "--file", w); err != nil || !strings.Contains(out, "1 values") {
		t.Fatalf("weather load: %v %s", err, out)
	}
	badW := file("badw.csv", "region,valid_time,issued_at,kind,source,temperature_c\nVIC,2026-01-07T00:00:00Z,,forecast,bom,25\n")
	if _, err := mh("weather", "load", "--file", badW); err == nil || !strings.Contains(err.Error(), "issued_at: line 2") {
		t.Errorf("weather load of a bad file: %v", err)
	}
	ws, err := weather.NewStore(conn)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ws.Forecast(ctx, weather.Query{Region: "VIC", From: time.Date(2026, 1, 7, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 7, 1, 0, 0, 0, time.UTC)}, time.Date(2026, 1, 7, 0, 0, 0, 0, time.UTC))
	if err != nil || len(got) != 1 || got[0].TemperatureC != 25 {
		t.Errorf("forecast after weather load: %+v %v", got, err)
	}
}
