package main

import (
	"context"
	"flag"
	"fmt"

	billrun "github.com/meterhouse/meterhouse/billing/run"
	"github.com/meterhouse/meterhouse/internal/app"
)

// cmdBillRun bills one cycle's period: every agreement in force whose cycle day is --cycle.
func cmdBillRun(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("bill run", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	cycle := fs.Int("cycle", 1, "the cycle day (1-28) of the agreements to bill")
	period := fs.String("period", "", "the month the period starts in, YYYY-MM: [cycle day of it, cycle day of the next)")
	if err := env.parseFlags(fs, args); err != nil {
		return err
	}
	p, err := billrun.CyclePeriod(*period, *cycle)
	if err != nil {
		return fmt.Errorf("bill run: %w", err)
	}
	a, err := app.New(ctx, env.cfg, env.log, app.Resources{}, app.Parts{})
	if err != nil {
		return err
	}
	defer a.Close()
	res, err := a.Billing().Run(ctx, p)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "bill run cycle %d, %s … %s: %d bills, %d adjustments, %d unchanged, %d held\n",
		p.CycleDay, p.From.Format("2006-01-02"), p.To.AddDate(0, 0, -1).Format("2006-01-02"), res.Bills, res.Adjustments, res.Unchanged, len(res.Held))
	for _, in := range res.Issued {
		fmt.Fprintf(env.stdout, "  %s %s %s: %s %s\n", in.ID, in.Kind, in.AgreementID, in.Total.StringFixed(2), in.Currency)
	}
	for _, h := range res.Held {
		fmt.Fprintf(env.stdout, "  held %s: %s\n", h.AgreementID, h.Reason)
	}
	return nil
}
