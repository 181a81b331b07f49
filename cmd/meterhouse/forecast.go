package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/meterhouse/meterhouse/forecast"
)

// cmdForecast runs the forecasting subcommands; forecast eval needs no services.
func cmdForecast(_ context.Context, env *environment, args []string) error {
	if len(args) == 0 || args[0] != "eval" {
		return fmt.Errorf("forecast: want eval --csv F --columns c1,… --train-rows N --val-rows V --test-rows T --horizon H [flags]")
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
