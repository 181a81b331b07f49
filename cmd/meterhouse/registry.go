package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/meterhouse/meterhouse/internal/app"
	"github.com/meterhouse/meterhouse/registry"
)

const registryUsage = `usage:
  meterhouse registry import [--meters F.csv] [--agreements F.csv]
  meterhouse registry refresh

import stores meter versions (the meter CSV format) and then service agreement versions
(the agreement CSV format; see the README), each file whole or not at all. refresh
rewrites the current view (the meters table) of every registered meter as of today, so
that versions whose valid_from has come take effect.`

// cmdRegistry imports meters and service agreements and refreshes the current view.
func cmdRegistry(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 || (args[0] != "import" && args[0] != "refresh") {
		return fmt.Errorf("registry: want import or refresh\n%s", registryUsage)
	}
	fs := flag.NewFlagSet("registry "+args[0], flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(env.stderr, registryUsage) }
	meters := fs.String("meters", "", "a meter CSV file")
	agreements := fs.String("agreements", "", "an agreement CSV file")
	if err := env.parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if args[0] == "import" && *meters == "" && *agreements == "" {
		return fmt.Errorf("registry import: give --meters, --agreements or both\n%s", registryUsage)
	}
	var (
		mvs []registry.MeterVersion
		avs []registry.AgreementVersion
	)
	if *meters != "" {
		f, err := os.Open(*meters)
		if err != nil {
			return err
		}
		defer f.Close()
		if mvs, err = registry.ParseMetersCSV(f); err != nil {
			return fmt.Errorf("%s: %w", *meters, err)
		}
	}
	if *agreements != "" {
		f, err := os.Open(*agreements)
		if err != nil {
			return err
		}
		defer f.Close()
		if avs, err = registry.ParseAgreementsCSV(f); err != nil {
			return fmt.Errorf("%s: %w", *agreements, err)
		}
	}
	a, err := app.New(ctx, env.cfg, env.log, app.Resources{}, app.Parts{})
	if err != nil {
		return err
	}
	defer a.Close()
	if args[0] == "refresh" {
		n, err := a.Registry().Refresh(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "registry: %d meters refreshed\n", n)
		return nil
	}
	if len(mvs) > 0 {
		if _, err := a.Registry().PutMeters(ctx, cliActor(), mvs); err != nil {
			return fmt.Errorf("%s: %w", *meters, err)
		}
		fmt.Fprintf(env.stdout, "registry: %d meter versions stored\n", len(mvs))
	}
	if len(avs) > 0 {
		if _, err := a.Registry().PutAgreements(ctx, cliActor(), avs); err != nil {
			return fmt.Errorf("%s: %w", *agreements, err)
		}
		fmt.Fprintf(env.stdout, "registry: %d agreement versions stored\n", len(avs))
	}
	return nil
}
