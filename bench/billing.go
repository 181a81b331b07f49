package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	billrun "github.com/meterhouse/meterhouse/billing/run"
	"github.com/meterhouse/meterhouse/billing/tariff"
	mhregistry "github.com/meterhouse/meterhouse/registry"
	"github.com/meterhouse/meterhouse/schema"
)

// billingConfig is what bench billing measures.
type billingConfig struct {
	// Accounts is the number of service agreements (one meter each) billed.
	Accounts int
	// Keep leaves the loaded database in place; JSON prints the report as JSON.
	Keep, JSON bool
	ClickHouse schema.Config
}

// billingReport is bench billing's result.
type billingReport struct {
	Accounts int    `json:"accounts"`
	CPUs     int    `json:"cpus"`
	Database string `json:"database"`
	// LoadSeconds is the untimed set-up: registry, tariff and a month of 15-minute rows.
	LoadSeconds float64 `json:"load_seconds"`
	// RunSeconds is the timed billing run of the month (reading every 15-minute row,
	// computing and writing the invoices); BillsPerSec its rate.
	RunSeconds  float64 `json:"run_seconds"`
	BillsPerSec float64 `json:"bills_per_second"`
	Bills, Held int
	// RerunSeconds is a second run over the same data (nothing issued).
	RerunSeconds float64 `json:"rerun_seconds"`
	// MillionSeconds extrapolates RunSeconds to a million bills at the measured rate.
	MillionSeconds float64 `json:"million_seconds_extrapolated"`
}

const benchTariff = `id: BENCH-TOU
name: bench time of use
effective_from: "2026-01-01"
time_zone: UTC
currency: EUR
fixed_charges:
  - name: service
    amount: 6.50
    per: period
energy:
  tou:
    periods:
      - name: peak
        rate: 0.32
        hours:
          - day_types: [weekday]
            ranges: ["8-20"]
      - name: offpeak
        rate: 0.18
        hours:
          - day_types: [weekday]
            ranges: ["0-8", "20-24"]
          - day_types: [weekend]
            ranges: ["0-24"]
taxes:
  - name: vat
    percent: 19
    of: [fixed, energy]
`

func parseBillingFlags(args []string, stderr io.Writer) (billingConfig, error) {
	cfg := billingConfig{ClickHouse: clickHouseFromEnv()}
	fs := flag.NewFlagSet("bench billing", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Accounts, "accounts", 10_000, "service agreements (one meter each) to bill for a month")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the loaded database")
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as JSON")
	fs.StringVar(&cfg.ClickHouse.Addr, "clickhouse", cfg.ClickHouse.Addr, "ClickHouse native address host:port (MH_CLICKHOUSE_ADDR)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if cfg.Accounts < 1 || cfg.Accounts > 1_000_000 {
		return cfg, errors.New("--accounts: must be between 1 and 1000000")
	}
	return cfg, cfg.ClickHouse.Validate()
}

// cmdBilling loads a registry of agreements, a time-of-use tariff and a month of validated
// 15-minute consumption, then times the billing run of that month and a re-run.
func cmdBilling(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseBillingFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	b := &ingestBench{cfg: ingestConfig{ClickHouse: cfg.ClickHouse, Keep: cfg.Keep}, log: log, stderr: stderr, id: runID()}
	chcfg, conn, _, cleanup, err := b.database(ctx, "billing")
	if err != nil {
		return err
	}
	defer cleanup()
	rep := &billingReport{Accounts: cfg.Accounts, CPUs: runtime.NumCPU(), Database: chcfg.Database}
	a, _, err := newApp(ctx, chcfg, conn, log)
	if err != nil {
		return err
	}
	defer a.Close()

	start := time.Now()
	fmt.Fprintf(stderr, "loading %d agreements and a month of 15-minute consumption into %s …\n", cfg.Accounts, chcfg.Database)
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var ms []mhregistry.MeterVersion
	var ags []mhregistry.AgreementVersion
	for i := range cfg.Accounts {
		id := fmt.Sprintf("B%07d", i)
		ms = append(ms, mhregistry.MeterVersion{MeterID: id, ValidFrom: from.AddDate(0, -2, 0), Feeder: fmt.Sprintf("F%04d", i/400), Region: "R1", TimeZone: "UTC", Status: mhregistry.StatusActive})
		ags = append(ags, mhregistry.AgreementVersion{AgreementID: "A" + id, AccountID: "C" + id, ServicePointID: "S" + id, MeterID: id,
			Tariff: "BENCH-TOU", CustomerClass: "residential", CycleDay: 1, Start: from.AddDate(0, -2, 0), ValidFrom: from.AddDate(0, -2, 0)})
	}
	for chunk := range slices.Chunk(ms, 20000) {
		if _, err := a.Registry().PutMeters(ctx, "bench", chunk); err != nil {
			return err
		}
	}
	for chunk := range slices.Chunk(ags, 20000) {
		if _, err := a.Registry().PutAgreements(ctx, "bench", chunk); err != nil {
			return err
		}
	}
	doc, err := tariff.Parse(strings.NewReader(benchTariff))
	if err != nil {
		return err
	}
	if _, err := a.Tariffs().Load(ctx, doc); err != nil {
		return err
	}
	quarters := 31 * 96
	// Meter ids B0000000 …: 18.16 has no leftPad, so the padding comes from 10000000 + i.
	load := fmt.Sprintf(`INSERT INTO consumption (resolution, meter_id, start, wh, quality, intervals, expected_intervals, estimated, edited, questionable, flags, reasons, computed_at)
SELECT '15m', concat('B', substring(toString(10000000 + intDiv(number, %[1]d)), 2, 7)), toDateTime('2026-03-01 00:00:00') + (number %% %[1]d) * 900,
  toInt64(50 + cityHash64(number) %% 200), 0, 1, 1, 0, 0, 0, [], [], toDateTime('2026-04-01 03:00:00')
FROM numbers(%[2]d)`, quarters, cfg.Accounts*quarters)
	if err := conn.Exec(ctx, load); err != nil {
		return fmt.Errorf("load consumption: %w", err)
	}
	rep.LoadSeconds = time.Since(start).Seconds()
	settle(ctx, conn, chcfg.Database, 3*time.Minute, stderr)

	p, err := billrun.CyclePeriod("2026-03", 1)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "billing %d agreements …\n", cfg.Accounts)
	start = time.Now()
	res, err := a.Billing().Run(ctx, p)
	if err != nil {
		return err
	}
	rep.RunSeconds = time.Since(start).Seconds()
	rep.Bills, rep.Held = res.Bills, len(res.Held)
	rep.BillsPerSec = float64(res.Bills) / rep.RunSeconds
	rep.MillionSeconds = 1e6 / rep.BillsPerSec
	start = time.Now()
	if _, err := a.Billing().Run(ctx, p); err != nil {
		return err
	}
	rep.RerunSeconds = time.Since(start).Seconds()
	if cfg.JSON {
		return writeJSONDoc(stdout, rep)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "agreements\t%d (one meter each, a month of 15-minute rows: %d rows)\n", rep.Accounts, rep.Accounts*quarters)
	fmt.Fprintf(tw, "set-up (untimed)\t%.1f s\n", rep.LoadSeconds)
	fmt.Fprintf(tw, "billing run\t%.1f s, %d bills, %d held\n", rep.RunSeconds, rep.Bills, rep.Held)
	fmt.Fprintf(tw, "bills/s\t%s\n", thousands(rep.BillsPerSec))
	fmt.Fprintf(tw, "re-run (nothing issued)\t%.1f s\n", rep.RerunSeconds)
	fmt.Fprintf(tw, "a million bills at this rate\t%.0f s (target 120 s)\n", rep.MillionSeconds)
	return tw.Flush()
}
