package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/meterhouse/meterhouse/forecast"
	forecastjob "github.com/meterhouse/meterhouse/forecast/job"
	"github.com/meterhouse/meterhouse/internal/app"
	"github.com/meterhouse/meterhouse/schema"
)

// cmdForecast runs the forecasting subcommands; forecast eval needs no services.
func cmdForecast(ctx context.Context, env *environment, args []string) error {
	if len(args) > 0 && args[0] == "run" {
		return cmdForecastRun(ctx, env, args[1:])
	}
	if len(args) == 0 || args[0] != "eval" {
		return fmt.Errorf("forecast: want run [--issued T] [--from T] [--group kind/id], or eval --csv F --columns c1,… --train-rows N --val-rows V --test-rows T --horizon H [flags]")
	}
	fs := flag.NewFlagSet("forecast eval", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	csvPath := fs.String("csv", "", "CSV file with a header row")
	columns := fs.String("columns", "", "target columns, comma-separated")
	timeCol := fs.String("time-col", "", "timestamp column (calendar terms, season inference)")
	holCol := fs.String("holiday-col", "", "holiday flag column (TRUE/FALSE or 1/0)")
	exog := fs.String("exog", "", "exogenous columns read at the target rows (a perfect forecast of them), comma-separated")
	season := fs.Int("season", 0, "rows per seasonal period (default: one week of --time-col's spacing)")
	var cfg forecast.EvalConfig
	fs.IntVar(&cfg.TrainRows, "train-rows", 0, "training rows (the first ones)")
	fs.IntVar(&cfg.ValRows, "val-rows", 0, "validation rows (next)")
	fs.IntVar(&cfg.TestRows, "test-rows", 0, "test rows (next)")
	fs.IntVar(&cfg.Lookback, "lookback", 0, "lookback rows, used as is (default: selected on validation)")
	fs.IntVar(&cfg.Horizon, "horizon", 0, "forecast steps")
	fs.IntVar(&cfg.MaxSamples, "max-samples", 0, "training windows per selection fit (default 6000, strided)")
	fs.IntVar(&cfg.FitMaxSamples, "fit-max-samples", 0, "training windows of the final fit (default: all)")
	seasonLags := fs.String("season-lags", "", "numbers of season lags to select from, comma-separated (default 0,3)")
	normalize := fs.String("normalize", "", "train-zscore: z-score each column on its training rows")
	shared := fs.Bool("shared", false, "one model whose weights all columns share")
	perColumn := fs.Bool("per-column", false, "one model per column (the default)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("forecast eval: unexpected argument %q", fs.Arg(0))
	}
	switch {
	case *csvPath == "":
		return fmt.Errorf("forecast eval: --csv is required")
	case *columns == "":
		return fmt.Errorf("forecast eval: --columns is required")
	case *shared && *perColumn:
		return fmt.Errorf("forecast eval: give --shared or --per-column, not both")
	case *normalize != "" && *normalize != "train-zscore":
		return fmt.Errorf("forecast eval: --normalize %q: want train-zscore", *normalize)
	}
	cfg.Shared, cfg.Normalize, cfg.Exog = *shared, *normalize == "train-zscore", *exog != ""
	for _, x := range splitList(*seasonLags) {
		k, err := strconv.Atoi(x)
		if err != nil {
			return fmt.Errorf("forecast eval: --season-lags %q: want integers", *seasonLags)
		}
		cfg.SeasonLags = append(cfg.SeasonLags, k)
	}
	f, err := os.Open(*csvPath)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := forecast.ReadCSV(f, forecast.CSVOptions{Columns: splitList(*columns), TimeCol: *timeCol,
		HolidayCol: *holCol, Exog: splitList(*exog), Season: *season})
	if err != nil {
		return fmt.Errorf("--csv %s: %w", *csvPath, err)
	}
	rep, err := forecast.Evaluate(d, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		e := json.NewEncoder(env.stdout)
		e.SetIndent("", "  ")
		return e.Encode(rep)
	}
	rep.WriteText(env.stdout)
	return nil
}

// cmdForecastRun runs the forecast job once for an issue time, or for every issue time
// from --from to now (a backfill), each using only the data of before it.
func cmdForecastRun(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("forecast run", flag.ContinueOnError)
	issued := fs.String("issued", "", "issue time (RFC 3339; default: the latest forecast.issue_at already passed)")
	from := fs.String("from", "", "run every daily issue from this time (RFC 3339) to now")
	group := fs.String("group", "", "forecast only this group's meters and the group: kind/id, like feeder/F001 or fleet/all")
	if err := env.parseFlags(fs, args); err != nil {
		return err
	}
	if *issued != "" && *from != "" {
		return fmt.Errorf("forecast run: give --issued or --from, not both")
	}
	var opt forecastjob.Options
	if *group != "" {
		kind, id, ok := strings.Cut(*group, "/")
		k, err := schema.ParseGroupKind(kind)
		if !ok || err != nil || id == "" {
			return fmt.Errorf("forecast run: --group %q: want kind/id with kind feeder, region, customer_class, tariff or fleet", *group)
		}
		opt.Group = &forecastjob.GroupFilter{Kind: k, ID: id}
	}
	cfg := env.cfg.Forecast
	now := time.Now().UTC()
	var issues []time.Time
	switch {
	case *issued != "":
		t, err := schema.ParseTime("--issued", *issued)
		if err != nil {
			return err
		}
		issues = append(issues, t)
	default:
		start := now.Add(-24 * time.Hour)
		if *from != "" {
			t, err := schema.ParseTime("--from", *from)
			if err != nil {
				return err
			}
			start = t.Add(-time.Second)
		}
		for t, err := cfg.NextIssue(start); !t.After(now); t, err = cfg.NextIssue(t) {
			if err != nil {
				return err
			}
			issues = append(issues, t)
		}
		if len(issues) == 0 {
			return fmt.Errorf("forecast run: no issue time (forecast.issue_at %s in %s) between %s and now", cfg.IssueAt, cfg.Zone, start.Format(time.RFC3339))
		}
	}
	a, err := app.New(ctx, env.cfg, env.log, app.Resources{}, app.Parts{})
	if err != nil {
		return err
	}
	defer a.Close()
	for _, t := range issues {
		res, err := a.Forecast().Run(ctx, t, opt)
		if err != nil {
			return fmt.Errorf("forecast run for %s: %w", t.Format(time.RFC3339), err)
		}
		fmt.Fprintf(env.stdout, "forecast issued %s: meters %v, %d without forecast, %d groups, %d models, scored %v (%s)\n",
			res.Issued.Format(time.RFC3339), res.Meters, res.Failed, res.Groups, len(res.Models), res.Scored.Rows, timings(res.Timings))
		for c, e := range res.ClassErrors {
			fmt.Fprintf(env.stdout, "  class %s: no model (its meters got baselines): %s\n", c, e)
		}
		for _, f := range res.FailedSample {
			fmt.Fprintf(env.stdout, "  no forecast: %s\n", f)
		}
	}
	return nil
}

// timings renders a run's phase durations in a fixed order.
func timings(ts map[string]time.Duration) string {
	var out []string
	for _, k := range []string{"registry", "fit", "meters", "groups", "score"} {
		if d, ok := ts[k]; ok {
			out = append(out, fmt.Sprintf("%s %s", k, d.Round(time.Millisecond)))
		}
	}
	return strings.Join(out, ", ")
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
