package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestBillPreview bills July 2026 under the residential tariff of billing/tariff/testdata
// (annual tiers filled in time order × 峰平谷 and 尖峰, VAT 13 %) from a CSV of 1 kWh every
// hour, after 2800 kWh of history this year: the first 80 kWh fill tier 1, the other 664
// tier 2. By hand: tier 1 valley 31 × 0.2983 = 9.25, flat 22 × 0.4883 = 10.74, peak 18 ×
// 0.6783 = 12.21, critical peak 9 × 0.8383 = 7.54; tier 2 valley 217 × 0.3483 = 75.58, flat
// 195 × 0.5383 = 104.97, peak 168 × 0.7283 = 122.35, critical peak 84 × 0.8883 = 74.62;
// energy 417.26, VAT 54.24, total 471.50.
func TestBillPreview(t *testing.T) {
	ctx := context.Background()
	mh := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, args, &out, &errOut)
		return out.String(), err
	}
	dir := t.TempDir()
	tariffFile := filepath.Join(testenv.RepoRoot(), "billing", "tariff", "testdata", "cn-residential.yaml")
	var csv strings.Builder
	csv.WriteString("start,end,wh,estimated\n2026-01-01T00:00:00+08:00,2026-07-01T00:00:00+08:00,2800000,false\n")
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	for h := time.Date(2026, 7, 1, 0, 0, 0, 0, loc); h.Before(time.Date(2026, 8, 1, 0, 0, 0, 0, loc)); h = h.Add(time.Hour) {
		fmt.Fprintf(&csv, "%s,%s,1000,%v\n", h.Format(time.RFC3339), h.Add(time.Hour).Format(time.RFC3339), h.Day() == 31 && h.Hour() < 2)
	}
	fmt.Fprintf(&csv, "2026-08-01T00:00:00+08:00,2026-08-01T01:00:00+08:00,99999,false\n") // after the period: ignored
	ivs := filepath.Join(dir, "ivs.csv")
	if err := os.WriteFile(ivs, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"bill", "preview", "--tariff", tariffFile, "--intervals", ivs, "--from", "2026-07-01", "--to", "2026-08-01"}
	out, err := mh(args...)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, filepath.Join("testdata", "bill-preview.golden"), out)
	out, err = mh(append(args, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Lines []struct {
			Name, Quantity, Unit, Rate, Amount string
		}
		Total              string
		EstimatedIntervals int `json:"estimated_intervals"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Total != "471.50" || len(got.Lines) != 9 || got.EstimatedIntervals != 2 {
		t.Errorf("total %s, %d lines, %d estimated; want 471.50, 9, 2\n%s", got.Total, len(got.Lines), got.EstimatedIntervals, out)
	}
	if l := got.Lines[0]; l.Name != "energy critical_peak tier 1" || l.Quantity != "9" || l.Unit != "kWh" || l.Rate != "0.8383" || l.Amount != "7.54" {
		t.Errorf("first line %+v", l)
	}

	// Bad input names the line and the column.
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("start,end,wh\n2026-07-01T00:00:00+08:00,2026-07-01T01:00:00+08:00,1\n2026-07-01T01:00:00,2026-07-01T02:00:00+08:00,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := mh("bill", "preview", "--tariff", tariffFile, "--intervals", bad, "--from", "2026-07-01", "--to", "2026-08-01"); err == nil || !strings.Contains(err.Error(), "start: line 3") {
		t.Errorf("a bad start: %v", err)
	}
	if err := os.WriteFile(bad, []byte("start,end,wh\n2026-07-01T00:00:00+08:00,2026-07-01T01:00:00+08:00,1.5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := mh("bill", "preview", "--tariff", tariffFile, "--intervals", bad, "--from", "2026-07-01", "--to", "2026-08-01"); err == nil || !strings.Contains(err.Error(), "wh: line 2") {
		t.Errorf("a bad wh: %v", err)
	}
	if _, err := mh("bill", "preview", "--tariff", tariffFile, "--from", "2026-07-01", "--to", "2026-08-01"); err == nil || !strings.Contains(err.Error(), "give --tariff, --intervals") {
		t.Errorf("no intervals: %v", err)
	}
}

// TestBillPreviewCalendar prices a holiday with the weekend's hours, read from --calendar.
func TestBillPreviewCalendar(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tf := write("t.yaml", `id: T
effective_from: 2026-01-01
time_zone: Europe/Berlin
currency: EUR
energy:
  tou:
    periods:
      - {name: weekday, rate: 0.30, hours: [{day_types: [weekday], ranges: ["0-24"]}]}
      - {name: weekend, rate: 0.20, hours: [{day_types: [weekend], ranges: ["0-24"]}]}
`)
	ivs := write("i.csv", "start,end,wh\n2026-05-01T10:00:00+02:00,2026-05-01T11:00:00+02:00,1000\n2026-05-04T10:00:00+02:00,2026-05-04T11:00:00+02:00,1000\n")
	cal := write("c.csv", "region,date,kind,name\nde,2026-05-01,holiday,Tag der Arbeit\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, `"total": "0.60"`}, // Friday 1 May and Monday 4 May are weekdays
		{[]string{"--calendar", cal}, `"total": "0.50"`},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"bill", "preview", "--tariff", tf, "--intervals", ivs, "--from", "2026-05-01", "--to", "2026-06-01", "--json"}, c.args...)
		if err := run(context.Background(), args, &out, &errOut); err != nil || !strings.Contains(out.String(), c.want) {
			t.Errorf("%v: %v %s, want %s", c.args, err, out.String(), c.want)
		}
	}
}
