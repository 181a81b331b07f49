package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	billrun "github.com/meterhouse/meterhouse/billing/run"
	"github.com/meterhouse/meterhouse/internal/app"
)

// cmdBillRun bills one cycle's period: every agreement in force whose cycle day is
// --cycle, or that follows cycle calendar --calendar.
func cmdBillRun(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("bill run", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	cycle := fs.Int("cycle", 1, "the cycle day (1-28) of the agreements to bill")
	calendar := fs.String("calendar", "", "bill the agreements of this cycle calendar instead: its period that starts in --period")
	period := fs.String("period", "", "the month the period starts in, YYYY-MM: [cycle day of it, cycle day of the next)")
	if err := env.parseFlags(fs, args); err != nil {
		return err
	}
	// The flags are checked before connecting; a calendar's period is read after.
	var p billrun.Period
	var err error
	if *calendar == "" {
		p, err = billrun.CyclePeriod(*period, *cycle)
	} else if _, perr := time.Parse("2006-01", *period); perr != nil {
		err = fmt.Errorf("--period %q is not a month like 2026-11", *period)
	}
	if err != nil {
		return fmt.Errorf("bill run: %w", err)
	}
	a, err := app.New(ctx, env.cfg, env.log, app.Resources{}, app.Parts{})
	if err != nil {
		return err
	}
	defer a.Close()
	if *calendar != "" {
		if p, err = a.Billing().CalendarPeriod(ctx, *calendar, *period); err != nil {
			return fmt.Errorf("bill run: %w", err)
		}
	}
	res, err := a.Billing().Run(ctx, p)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("cycle %d", p.CycleDay)
	if p.Calendar != "" {
		what = "calendar " + p.Calendar
	}
	fmt.Fprintf(env.stdout, "bill run %s, %s … %s: %d bills, %d adjustments, %d unchanged, %d held\n",
		what, p.From.Format("2006-01-02"), p.To.AddDate(0, 0, -1).Format("2006-01-02"), res.Bills, res.Adjustments, res.Unchanged, len(res.Held))
	for _, in := range res.Issued {
		fmt.Fprintf(env.stdout, "  %s %s %s: %s %s\n", in.ID, in.Kind, in.AgreementID, in.Total.StringFixed(2), in.Currency)
	}
	for _, h := range res.Held {
		fmt.Fprintf(env.stdout, "  held %s: %s\n", h.AgreementID, h.Reason)
	}
	return nil
}
