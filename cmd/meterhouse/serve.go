package main

import (
	"context"
	"flag"

	"github.com/meterhouse/meterhouse/internal/app"
)

// cmdServe runs the production API, the Kafka ingest (unless --no-ingest) and the VEE
// job every vee.interval, built and stopped by package app.
func cmdServe(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	noIngest := fs.Bool("no-ingest", false, "serve the API without consuming Kafka")
	if err := env.parseFlags(fs, args); err != nil {
		return err
	}
	a, err := app.New(ctx, env.cfg, env.log, app.Resources{}, app.Parts{API: true, Ingest: !*noIngest, VEELoop: true, ForecastLoop: true, RegistryLoop: true, BillingLoop: true})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// cmdIngest runs the Kafka ingest alone, with /healthz, /readyz and /metrics on --listen.
func cmdIngest(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	listen := fs.String("listen", "", "serve /healthz, /readyz and /metrics on this host:port (empty: none)")
	if err := env.parseFlags(fs, args); err != nil {
		return err
	}
	a, err := app.New(ctx, env.cfg, env.log, app.Resources{}, app.Parts{HealthListen: *listen, Ingest: true})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}
