package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/meterhouse/meterhouse/internal/app"
	veejob "github.com/meterhouse/meterhouse/vee/job"
)

// cmdVEE runs the VEE job once: incrementally from its watermark, or over a range of
// reading timestamps with --from and --to.
func cmdVEE(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 || args[0] != "run" {
		return fmt.Errorf("vee: want run [--from T --to T]")
	}
	fs := flag.NewFlagSet("vee run", flag.ContinueOnError)
	from := fs.String("from", "", "recompute readings stamped from this time (RFC 3339), whatever the watermark")
	to := fs.String("to", "", "… up to this time (RFC 3339); requires --from")
	if err := env.parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if (*from == "") != (*to == "") {
		return fmt.Errorf("vee run: give both --from and --to, or neither")
	}
	a, err := app.New(ctx, env.cfg, env.log, app.Resources{}, app.Parts{})
	if err != nil {
		return err
	}
	defer a.Close()
	j := a.VEE()
	var res veejob.Result
	if *from == "" {
		res, err = j.Run(ctx)
	} else {
		f, perr := time.Parse(time.RFC3339, *from)
		if perr != nil {
			return fmt.Errorf("--from: %w", perr)
		}
		t, perr := time.Parse(time.RFC3339, *to)
		if perr != nil {
			return fmt.Errorf("--to: %w", perr)
		}
		res, err = j.RunRange(ctx, f, t)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "vee %s run: %d meters, %d windows, %d intervals written (computed_at %s, watermark %s)\n",
		res.Kind, res.Meters, res.Windows, res.Intervals, res.ComputedAt.Format(time.RFC3339), res.Watermark.Format(time.RFC3339))
	if res.Failed > 0 {
		fmt.Fprintf(env.stdout, "%d windows failed and were skipped (table vee_failures; retried by the next run):\n", res.Failed)
		for _, f := range res.Failures {
			fmt.Fprintf(env.stdout, "  %s\n", f)
		}
	}
	return nil
}
