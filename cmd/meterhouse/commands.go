package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/meterhouse/meterhouse/ingest"
	"github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
)

func cmdMigrate(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	printOnly := fs.Bool("print", false, "print the statements for --server-version instead of applying them")
	version := fs.String("server-version", "24.8", "with --print: the ClickHouse version to render the DDL for")
	if err := env.parseFlags(fs, args); err != nil {
		return err
	}
	if *printOnly {
		v, err := schema.ParseVersion(*version)
		if err != nil {
			return fmt.Errorf("--server-version: %w", err)
		}
		stmts, err := schema.Render(schema.CapabilitiesOf(v), env.cfg.ClickHouse.Database)
		if err != nil {
			return err
		}
		for _, s := range stmts {
			fmt.Fprintf(env.stdout, "%s;\n\n", s)
		}
		return nil
	}
	if err := schema.EnsureDatabase(ctx, env.cfg.ClickHouse); err != nil {
		return err
	}
	conn, err := schema.Connect(ctx, env.cfg.ClickHouse)
	if err != nil {
		return err
	}
	defer conn.Close()
	m, err := schema.NewMigrator(ctx, conn, env.log)
	if err != nil {
		return err
	}
	n, err := m.Up(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "database %s on ClickHouse %s: %d migration(s) applied\n",
		env.cfg.ClickHouse.Database, m.Capabilities().Version, n)
	return nil
}

func cmdSim(ctx context.Context, env *environment, args []string) error {
	if len(args) > 0 && args[0] == "das" {
		return cmdSimDAS(ctx, env, args[1:])
	}
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	now := time.Now().UTC().Truncate(time.Hour)
	meters := fs.Int("meters", 100, "fleet size")
	from := fs.String("from", now.Add(-72*time.Hour).Format(time.RFC3339), "first reading time, RFC 3339")
	to := fs.String("to", now.Format(time.RFC3339), "last reading time, RFC 3339")
	interval := fs.Duration("interval", 15*time.Minute, "metering interval")
	rate := fs.Float64("rate", 0, "readings per second (0: as fast as possible)")
	seed := fs.Uint64("seed", 1, "random seed; the same seed gives the same fleet")
	prefix := fs.String("prefix", "MTR-", "meter id prefix")
	tz := fs.String("tz", "Europe/Berlin", "IANA time zone of the fleet")
	noRegistry := fs.Bool("no-registry", false, "do not write the fleet's registry entries to ClickHouse")
	if err := env.parseFlags(fs, args); err != nil {
		return err
	}
	cfg := sim.Config{Meters: *meters, Interval: *interval, Seed: *seed, IDPrefix: *prefix, TimeZone: *tz}
	var err error
	if cfg.From, err = time.Parse(time.RFC3339, *from); err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	if cfg.To, err = time.Parse(time.RFC3339, *to); err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	fleet, err := sim.New(cfg)
	if err != nil {
		return err
	}
	if !*noRegistry {
		conn, err := schema.Connect(ctx, env.cfg.ClickHouse)
		if err != nil {
			return err
		}
		err = schema.InsertMeters(ctx, conn, fleet.Meters())
		conn.Close()
		if err != nil {
			return err
		}
	}
	if err := ingest.EnsureTopics(ctx, env.cfg.Kafka, env.cfg.Ingest.Topics()...); err != nil {
		return err
	}
	w, err := ingest.NewReadingsWriter(env.cfg.Kafka, env.cfg.Ingest)
	if err != nil {
		return err
	}
	defer w.Close()
	bar := sim.NewProgress(env.stderr, "sim", fleet.Total())
	p := &wire.Producer{Writer: w, Encoding: wire.Encoding{Format: wire.JSON, Partitions: env.cfg.Ingest.Partitions},
		Rate: *rate, Progress: bar.Set}
	n, err := p.Run(ctx, fleet)
	bar.Done()
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "produced %d readings for %d meters from %s to %s to topic %s\n",
		n, cfg.Meters, cfg.From.Format(time.RFC3339), cfg.To.Format(time.RFC3339), env.cfg.Ingest.Topic)
	return nil
}

func cmdConfig(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 || (args[0] != "check" && args[0] != "print") {
		return fmt.Errorf("config: want check or print")
	}
	if err := env.parseFlags(flag.NewFlagSet("config "+args[0], flag.ContinueOnError), args[1:]); err != nil {
		return err
	}
	if args[0] == "check" {
		fmt.Fprintln(env.stdout, "configuration is valid")
		return nil
	}
	b, err := env.cfg.YAML()
	if err != nil {
		return err
	}
	_, err = env.stdout.Write(b)
	return err
}
