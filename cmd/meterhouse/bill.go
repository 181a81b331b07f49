package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meterhouse/meterhouse/billing/calc"
	"github.com/meterhouse/meterhouse/billing/tariff"
	"github.com/meterhouse/meterhouse/calendar/holidays"
	"github.com/shopspring/decimal"
)

const billUsage = `usage:
  meterhouse bill run --cycle DAY --period YYYY-MM
  meterhouse bill preview --tariff F [--tariff F2 ...] --intervals CSV --from DATE --to DATE
                          [--cycle-days N] [--calendar FILE] [--territory T] [--json]

Computes a bill without any service. F is a tariff document (repeat --tariff for versions
in force in the period); CSV has the header start,end,wh (RFC 3339 times, whole Wh; an
optional column estimated); the period is [--from, --to), local dates of the tariff's
zone; intervals before --from are history (ratchet, annual tiers). --cycle-days gives the
days of the whole cycle when the period is a partial one (move-in, move-out). --calendar
is a holiday calendar in the calendar CSV format; without it days are weekdays or weekends.`

// cmdBill runs bill preview (no services) or bill run.
func cmdBill(ctx context.Context, env *environment, args []string) error {
	if len(args) > 0 && args[0] == "run" {
		return cmdBillRun(ctx, env, args[1:])
	}
	if len(args) == 0 || args[0] != "preview" {
		return fmt.Errorf("bill: want preview or run\n%s", billUsage)
	}
	fs := flag.NewFlagSet("bill preview", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(env.stderr, billUsage) }
	var tariffs []string
	fs.Func("tariff", "a tariff document, YAML or JSON (repeatable: versions)", func(s string) error {
		tariffs = append(tariffs, s)
		return nil
	})
	intervals := fs.String("intervals", "", "the intervals CSV (start,end,wh)")
	from := fs.String("from", "", "the period's first local date, YYYY-MM-DD")
	to := fs.String("to", "", "the local date after the period, YYYY-MM-DD")
	cycleDays := fs.Int("cycle-days", 0, "days of the whole cycle when the period is a partial one")
	calendar := fs.String("calendar", "", "a holiday calendar CSV (region,date,kind,name)")
	territory := fs.String("territory", "", "the baseline territory")
	asJSON := fs.Bool("json", false, `print {"lines": [...], "total": "..."} with decimals as strings`)
	if err := env.parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if len(tariffs) == 0 || *intervals == "" || *from == "" || *to == "" {
		return fmt.Errorf("bill preview: give --tariff, --intervals, --from and --to\n%s", billUsage)
	}
	in := calc.Input{CycleDays: *cycleDays, Territory: *territory}
	for _, path := range tariffs {
		d, err := readTariff(path)
		if err != nil {
			return err
		}
		in.Tariffs = append(in.Tariffs, d)
	}
	var err error
	if in.From, err = tariff.ParseDate(*from); err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	if in.To, err = tariff.ParseDate(*to); err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	if in.Intervals, err = readIntervals(*intervals); err != nil {
		return err
	}
	if *calendar != "" {
		if in.DayType, err = readCalendar(*calendar); err != nil {
			return err
		}
	}
	b, err := calc.Compute(in)
	if err != nil {
		return err
	}
	places := in.Tariffs[0].RoundPlaces()
	money := func(d decimal.Decimal) string {
		if d.Exponent() >= -places {
			return d.StringFixed(places)
		}
		return d.String()
	}
	if *asJSON {
		type line struct {
			Name     string `json:"name"`
			Kind     string `json:"kind"`
			Quantity string `json:"quantity"`
			Unit     string `json:"unit"`
			Rate     string `json:"rate"`
			Amount   string `json:"amount"`
		}
		out := struct {
			Lines              []line `json:"lines"`
			Total              string `json:"total"`
			Currency           string `json:"currency"`
			EstimatedWh        int64  `json:"estimated_wh"`
			EstimatedIntervals int    `json:"estimated_intervals"`
		}{Lines: []line{}, Total: money(b.Total), Currency: b.Currency, EstimatedWh: b.EstimatedWh, EstimatedIntervals: b.EstimatedIntervals}
		for _, l := range b.Lines {
			out.Lines = append(out.Lines, line{l.Name, l.Kind, l.Quantity.String(), l.Unit, l.Rate.String(), money(l.Amount)})
		}
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	width := len("total")
	for _, l := range b.Lines {
		width = max(width, len(l.Name))
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tquantity\tunit\trate\tamount\t\n", width, "line")
	for _, l := range b.Lines {
		fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t%s\t\n", width, l.Name, l.Quantity, l.Unit, l.Rate, money(l.Amount))
	}
	fmt.Fprintf(tw, "%-*s\t\t\t%s\t%s\t\n", width, "total", b.Currency, money(b.Total))
	if err := tw.Flush(); err != nil {
		return err
	}
	if b.EstimatedIntervals > 0 {
		fmt.Fprintf(env.stdout, "estimated: %d intervals, %s kWh\n", b.EstimatedIntervals, decimal.New(b.EstimatedWh, -3))
	}
	return nil
}

func readIntervals(path string) ([]calc.Interval, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ivs, err := calc.ParseIntervalsCSV(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ivs, nil
}

// readCalendar reads a calendar CSV of one region into a day type rule.
func readCalendar(path string) (calc.DayTypeFunc, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := holidays.ParseCSV(f, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(entries) == 0 {
		return calc.Weekdays, nil
	}
	lo, hi := entries[0].Date, entries[0].Date
	regions := map[string]bool{}
	for _, e := range entries {
		regions[e.Region] = true
		if e.Date.Before(lo) {
			lo = e.Date
		}
		if e.Date.After(hi) {
			hi = e.Date
		}
	}
	if len(regions) > 1 {
		var names []string
		for r := range regions {
			names = append(names, r)
		}
		return nil, fmt.Errorf("%s: the calendar holds %d regions (%s): give one", path, len(names), strings.Join(names, ", "))
	}
	days, err := holidays.NewDays(entries[0].Region, lo, hi.Add(24*time.Hour), entries)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return calc.CalendarDayTypes(days), nil
}
