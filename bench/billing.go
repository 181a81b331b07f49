package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	billrun "github.com/meterhouse/meterhouse/billing/run"
	"github.com/meterhouse/meterhouse/billing/tariff"
	"github.com/meterhouse/meterhouse/internal/app"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
)

// billingConfig is what bench billing measures.
type billingConfig struct {
	// Accounts is the number of service agreements (one meter each) billed.
	Accounts int
	// Keep leaves the loaded database in place; JSON prints the report as JSON.
	Keep, JSON bool
	// Database, when set, reuses a database loaded by an earlier --keep run with the same
	// --accounts (its invoices are dropped first).
	Database   string
	ClickHouse schema.Config
}

// billingReport is bench billing's result.
type billingReport struct {
	Accounts int    `json:"accounts"`
	CPUs     int    `json:"cpus"`
	Database string `json:"database"`
	// LoadSeconds is the untimed set-up: registry, agreements, tariffs and a month of daily
	// profiles.
	LoadSeconds float64 `json:"load_seconds"`
	// RunSeconds is the timed billing run of the month (agreements in force, the profiles
	// summed in ClickHouse, bills computed and invoices written); BillsPerSec its rate.
	RunSeconds  float64 `json:"run_seconds"`
	BillsPerSec float64 `json:"bills_per_second"`
	Bills, Held int
	// Fast counts the agreements billed through the fast path (daily profiles).
	Fast int `json:"fast_path"`
	// PeakRSSMiB is the process's peak resident memory.
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// RerunSeconds is a second run over the same data (nothing issued).
	RerunSeconds float64 `json:"rerun_seconds"`
	// MillionSeconds extrapolates RunSeconds to a million bills at the measured rate.
	MillionSeconds float64 `json:"million_seconds_extrapolated"`
}

// The bench's tariffs, in UTC as sim.History's meters: residential time of use with
// monthly tiers inside each period (proportional allocation), and a commercial one with
// 15-minute demand, flat and by TOU period.
const (
	benchTariff = `id: BENCH-TOU
name: bench residential time of use with tiers
effective_from: "2026-01-01"
time_zone: UTC
currency: EUR
fixed_charges:
  - {name: service, amount: 6.50, per: period}
energy:
  tou:
    periods:
      - name: peak
        tiers: [{up_to: 250, rate: 0.32}, {rate: 0.36}]
        hours: [{day_types: [weekday], ranges: ["8-20"]}]
      - name: offpeak
        tiers: [{up_to: 250, rate: 0.18}, {rate: 0.21}]
        hours: [{day_types: [weekday], ranges: ["0-8", "20-24"]}, {day_types: [weekend], ranges: ["0-24"]}]
taxes:
  - {name: vat, percent: 19, of: [fixed, energy]}
`
	benchDemandTariff = `id: BENCH-DEMAND
name: bench commercial with demand
effective_from: "2026-01-01"
time_zone: UTC
currency: EUR
fixed_charges:
  - {name: service, amount: 25, per: period}
energy:
  tou:
    periods:
      - {name: peak, rate: 0.24, hours: [{day_types: [weekday], ranges: ["8-20"]}]}
      - {name: offpeak, rate: 0.15, hours: [{day_types: [weekday], ranges: ["0-8", "20-24"]}, {day_types: [weekend], ranges: ["0-24"]}]}
demand:
  flat: [{name: max_demand, months: [1,2,3,4,5,6,7,8,9,10,11,12], rate: 4.5}]
  tou: {periods: [{name: peak, rate: 6, hours: [{day_types: [weekday], ranges: ["8-20"]}]}, {name: offpeak, rate: 0, hours: [{day_types: [weekday], ranges: ["0-8", "20-24"]}, {day_types: [weekend], ranges: ["0-24"]}]}]}
minimum_bill: {amount: 40, per: period}
taxes:
  - {name: vat, percent: 19, of: [fixed, energy, demand]}
`
)

func parseBillingFlags(args []string, stderr io.Writer) (billingConfig, error) {
	cfg := billingConfig{ClickHouse: clickHouseFromEnv()}
	fs := flag.NewFlagSet("bench billing", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Accounts, "accounts", 10_000, "service agreements (one meter each) to bill for a month")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the loaded database")
	fs.StringVar(&cfg.Database, "database", "", "reuse this database, loaded by an earlier run with --keep and the same --accounts")
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
	chcfg, conn, cleanup, err := benchDatabase(ctx, cfg.ClickHouse, cfg.Database, "billing", cfg.Keep, log, stderr)
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
	if cfg.Database == "" {
		if err := loadBilling(ctx, a, conn, chcfg, cfg.Accounts, stderr); err != nil {
			return err
		}
		rep.LoadSeconds = time.Since(start).Seconds()
		settle(ctx, conn, chcfg.Database, 3*time.Minute, stderr)
		if cfg.Keep {
			fmt.Fprintf(stderr, "kept database %s: rerun with --database %s\n", chcfg.Database, chcfg.Database)
		}
	} else if err := conn.Exec(ctx, "TRUNCATE TABLE invoices"); err != nil {
		return fmt.Errorf("drop the earlier run's invoices: %w", err)
	}

	p, err := billrun.CyclePeriod("2026-03", 1)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "billing %d agreements …\n", cfg.Accounts)
	if err := resetPeakRSS(); err != nil {
		return err
	}
	start = time.Now()
	res, err := a.Billing().Run(ctx, p)
	if err != nil {
		return err
	}
	rep.RunSeconds = time.Since(start).Seconds()
	rep.Bills, rep.Held, rep.Fast = res.Bills, len(res.Held), res.Fast
	rep.BillsPerSec = float64(res.Bills) / rep.RunSeconds
	rep.MillionSeconds = 1e6 / rep.BillsPerSec
	peak, err := peakRSS()
	if err != nil {
		return err
	}
	rep.PeakRSSMiB = float64(peak) / (1 << 20)
	start = time.Now()
	if _, err := a.Billing().Run(ctx, p); err != nil {
		return err
	}
	rep.RerunSeconds = time.Since(start).Seconds()
	if cfg.JSON {
		return writeJSONDoc(stdout, rep)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "agreements\t%d (one meter each; a month of daily profiles: %d rows)\n", rep.Accounts, rep.Accounts*31)
	fmt.Fprintf(tw, "set-up (untimed)\t%.1f s\n", rep.LoadSeconds)
	fmt.Fprintf(tw, "billing run\t%.1f s, %d bills (%d through the fast path), %d held\n", rep.RunSeconds, rep.Bills, rep.Fast, rep.Held)
	fmt.Fprintf(tw, "bills/s\t%s\n", thousands(rep.BillsPerSec))
	fmt.Fprintf(tw, "peak memory of the run\t%.0f MiB\n", rep.PeakRSSMiB)
	fmt.Fprintf(tw, "re-run (nothing issued)\t%.1f s\n", rep.RerunSeconds)
	fmt.Fprintf(tw, "a million bills at this rate\t%.0f s (target 120 s)\n", rep.MillionSeconds)
	return tw.Flush()
}

// loadBilling writes the bench's untimed data: accounts meters with a March of daily
// profiles (sim.History), their agreements and the two tariffs.
func loadBilling(ctx context.Context, a *app.App, conn driver.Conn, chcfg schema.Config, accounts int, stderr io.Writer) error {
	fmt.Fprintf(stderr, "loading %d agreements and their March of daily profiles into %s …\n", accounts, chcfg.Database)
	// The meters and their profiles (the VEE job's daily rows, every column) come from
	// sim.History; the agreements, 70 %% residential and 30 %% commercial, are written in
	// bulk with the columns the registry writes.
	h := sim.History{Meters: accounts, First: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Days: 31, Regions: 4, Seed: 1}
	if err := h.Insert(ctx, conn, false); err != nil {
		return err
	}
	ags := fmt.Sprintf(`INSERT INTO service_agreements (agreement_id, account_id, service_point_id, meter_id, tariff, customer_class,
  cycle_day, cycle_calendar, start_date, end_date, valid_from, version, recorded_at, author)
SELECT concat('A', toString(10000000 + m)), concat('C', toString(10000000 + m)), concat('S', toString(10000000 + m)),
  concat('H', toString(10000000 + m)), if(m %% 10 < 7, 'BENCH-TOU', 'BENCH-DEMAND'), if(m %% 10 < 7, 'residential', 'commercial'),
  1, '', toDate('2026-01-01'), toDate('1970-01-01'), toDate('2026-01-01'), toUInt64(1), toDateTime('2026-01-01 00:00:00'), 'bench'
FROM (SELECT number AS m FROM numbers(%d))`, accounts)
	customers := fmt.Sprintf(`INSERT INTO %s.agreement_customers (agreement_id, valid_from, version, customer_name, address, life_support)
SELECT concat('A', toString(10000000 + number)), toDate('2026-01-01'), toUInt64(1), concat('Customer ', toString(number)), '', 0
FROM numbers(%d)`, chcfg.PrivateDatabase(), accounts)
	for _, q := range []string{ags, customers} {
		if err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("load agreements: %w", err)
		}
	}
	for _, src := range []string{benchTariff, benchDemandTariff} {
		doc, err := tariff.Parse(strings.NewReader(src))
		if err != nil {
			return err
		}
		if _, err := a.Tariffs().Load(ctx, doc); err != nil {
			return err
		}
	}
	return nil
}
