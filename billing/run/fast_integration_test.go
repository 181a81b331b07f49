package run

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/billing/invoice"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/registry"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
	"github.com/meterhouse/meterhouse/vee/job"
)

// Two Berlin tariffs: TOU energy with proportional tiers and 30-minute demand, flat
// (tiered) and by TOU period; and one with 15-minute demand and a one-month ratchet, whose
// history the fast path reads from the days before the period.
const (
	touTariff = `id: TOU
effective_from: "2026-01-01"
time_zone: Europe/Berlin
currency: EUR
fixed_charges: [{name: customer, amount: 0.35, per: day}]
energy:
  tou:
    periods:
      - {name: night, tiers: [{up_to: 150, rate: 0.2113}, {rate: 0.2521}], hours: [{ranges: ["0-6", "22-24"]}]}
      - {name: day, tiers: [{up_to: 150, rate: 0.3117}, {rate: 0.3529}], hours: [{ranges: ["6-22"]}]}
demand:
  interval: 30m
  flat: [{name: max_demand, months: [1,2,3,4,5,6,7,8,9,10,11,12], tiers: [{up_to: 2, rate: 1.5}, {rate: 2.25}]}]
  tou: {periods: [{name: day, rate: 0.75, hours: [{ranges: ["6-22"]}]}, {name: night, rate: 0.1, hours: [{ranges: ["0-6", "22-24"]}]}]}
minimum_bill: {amount: 30, per: period}
taxes: [{name: vat, percent: 19, of: [energy, demand, fixed]}]
`
	ratchetTariff = `id: RATCHET
effective_from: "2026-01-01"
time_zone: Europe/Berlin
currency: EUR
energy: {tiers: [{up_to: 200, rate: 0.28}, {rate: 0.31}]}
demand:
  flat: [{name: max_demand, months: [1,2,3,4,5,6,7,8,9,10,11,12], rate: 3.1}]
  ratchet: {share: 0.9, months: 1}
`
)

// TestFastEqualsFull runs the real VEE job over simulated Berlin readings of February and
// March 2026 (spring forward on 29 March; a meter with a gap VEE estimates; a meter
// without its last day), bills March through the fast path, then — the invoices dropped —
// again from 15-minute rows: the same invoices, line for line, with the same estimated
// consumption and the same hold. A third run through the fast path issues nothing.
func TestFastEqualsFull(t *testing.T) {
	ctx := context.Background()
	f, err := sim.New(sim.Config{Meters: 5, From: time.Date(2026, 2, 14, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 4, 1, 2, 0, 0, 0, time.UTC),
		Interval: 15 * time.Minute, Seed: 11, IDPrefix: "FP-", TimeZone: "Europe/Berlin"})
	if err != nil {
		t.Fatal(err)
	}
	var meters []registry.MeterVersion
	var ags []registry.AgreementVersion
	for i, m := range f.Meters() {
		meters = append(meters, registry.MeterVersion{MeterID: m.MeterID, ValidFrom: day("2026-01-01"), Feeder: m.Feeder, Region: "R1", TimeZone: "Europe/Berlin", Status: registry.StatusActive})
		tr := "TOU"
		if i >= 3 {
			tr = "RATCHET"
		}
		ags = append(ags, registry.AgreementVersion{AgreementID: "AG-" + m.MeterID, AccountID: "AC" + m.MeterID, ServicePointID: "SP" + m.MeterID,
			MeterID: m.MeterID, Tariff: tr, CustomerClass: "residential", CycleDay: 1, Start: day("2026-01-01"), ValidFrom: day("2026-01-01")})
	}
	fx := newFixture(t, meters, ags, touTariff, ratchetTariff)
	conn := fx.conn
	gapMeter, shortMeter := f.Meters()[1].MeterID, f.Meters()[4].MeterID
	gapFrom, gapTo := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 10, 13, 0, 0, 0, time.UTC)
	shortFrom := time.Date(2026, 3, 30, 22, 0, 0, 0, time.UTC) // Berlin's 31 March starts here
	b, err := conn.PrepareBatch(ctx, "INSERT INTO readings (meter_id, ts, register_wh, quality, ingested_at)")
	if err != nil {
		t.Fatal(err)
	}
	var r schema.Reading
	for f.Next(&r) {
		if r.MeterID == gapMeter && !r.TS.Before(gapFrom) && r.TS.Before(gapTo) || r.MeterID == shortMeter && !r.TS.Before(shortFrom) {
			continue
		}
		if err := b.Append(r.MeterID, r.TS, r.RegisterWh, uint8(0), r.TS.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	vcfg := job.DefaultConfig()
	vcfg.Settle, vcfg.Lateness = 0, 0
	j, err := job.New(vcfg, conn, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := j.Run(ctx); err != nil || res.Failed != 0 {
		t.Fatalf("vee: %+v, %v", res, err)
	}
	// An edit of an evening of meter 0 and a second VEE run with merges stopped: that day's
	// profile is then stored twice (the replaced row waits for a merge), which the fast
	// path must not add up twice.
	if err := conn.Exec(ctx, "SYSTEM STOP MERGES consumption_profiles"); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(context.Background(), "SYSTEM START MERGES consumption_profiles") //nolint:errcheck // the database is dropped
	wh := int64(900)
	if _, _, err := j.AddEdit(ctx, f.Meters()[0].MeterID, "clerk", job.EditRequest{Start: "2026-03-12T17:00:00Z", End: "2026-03-12T19:00:00Z",
		Wh: &wh, Reason: "meter test"}); err != nil {
		t.Fatal(err)
	}
	if res, err := j.Run(ctx); err != nil || res.Failed != 0 {
		t.Fatalf("vee after the edit: %+v, %v", res, err)
	}
	var stored, final uint64
	if err := conn.QueryRow(ctx, "SELECT (SELECT count() FROM consumption_profiles), (SELECT count() FROM consumption_profiles FINAL)").Scan(&stored, &final); err != nil {
		t.Fatal(err)
	}
	if stored <= final {
		t.Fatalf("%d profile rows, %d after FINAL: the edit's day is not stored twice", stored, final)
	}
	p, _ := CyclePeriod("2026-03", 1)
	run := func(full bool) *Result {
		t.Helper()
		c := DefaultConfig()
		c.FullRecompute = full
		res, err := fx.runner(t, c).Run(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	fast := run(false)
	if fast.Fast != 4 || fast.Bills != 4 || len(fast.Held) != 1 || !strings.Contains(fast.Held[0].Reason, "quarter hours of 2026-03-01 … 2026-03-31 not validated") {
		t.Fatalf("fast path: %d through it, %d bills, held %v; want 4, 4 and the meter without 31 March", fast.Fast, fast.Bills, fast.Held)
	}
	if err := conn.Exec(ctx, "TRUNCATE TABLE invoices"); err != nil {
		t.Fatal(err)
	}
	full := run(true)
	if full.Fast != 0 || full.Bills != 4 || !slices.Equal(full.Held, fast.Held) {
		t.Fatalf("full recomputation: %d fast, %d bills, held %v", full.Fast, full.Bills, full.Held)
	}
	byID := func(ins []invoice.Invoice) map[string]invoice.Invoice {
		m := map[string]invoice.Invoice{}
		for _, in := range ins {
			m[in.ID] = in
		}
		return m
	}
	a, bb := byID(fast.Issued), byID(full.Issued)
	estimated := false
	for id, x := range a {
		y, ok := bb[id]
		if !ok {
			t.Errorf("%s: issued by the fast path only", id)
			continue
		}
		if !x.Total.Equal(y.Total) || x.EstimatedWh != y.EstimatedWh || x.EstimatedIntervals != y.EstimatedIntervals || len(x.Lines) != len(y.Lines) {
			t.Errorf("%s: fast %s (%d lines, %d estimated intervals, %d Wh), full %s (%d lines, %d, %d)", id, x.Total, len(x.Lines), x.EstimatedIntervals,
				x.EstimatedWh, y.Total, len(y.Lines), y.EstimatedIntervals, y.EstimatedWh)
			continue
		}
		for i := range x.Lines {
			l, m := x.Lines[i], y.Lines[i]
			if l.Name != m.Name || l.Quantity.String() != m.Quantity.String() || l.Rate.String() != m.Rate.String() || l.Amount.String() != m.Amount.String() {
				t.Errorf("%s line %d: fast %+v, full %+v", id, i, l, m)
			}
		}
		estimated = estimated || x.EstimatedIntervals > 0
		t.Logf("%s: %s %s, %d lines, %d estimated intervals", id, x.Total, x.Currency, len(x.Lines), x.EstimatedIntervals)
	}
	if !estimated {
		t.Error("no bill has estimated consumption: the gap was not estimated")
	}
	if again := run(false); again.Fast != 4 || again.Unchanged != 4 || again.Bills+again.Adjustments != 0 {
		t.Errorf("third run: %+v, want the 4 unchanged through the fast path", again)
	}
}
