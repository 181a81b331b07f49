// Command bench is Meterhouse's load benchmark: it sizes a deployment by measuring the
// real components against the real services.
//
//	go run ./bench ingest --readings N --meters M --format json,arrow [--json]
//	go run ./bench query --readings 100000000 [--keep | --database NAME] [--json]
//	go run ./bench day --meters 100000 [--format arrow|json] [--days-history 28] [--keep] [--json]
//	go run ./bench vee --meters 20000 --days-history 28 [--cpuprofile FILE] [--memprofile FILE] [--json]
//	go run ./bench control --meters 10000 [--feeders 25] [--fleet-per-minute 6000] [--feeder-per-minute 300] [--json]
//
// bench ingest produces N simulated readings of M meters to a fresh Kafka topic, then runs
// the production ingest path in-process (consumer group, decoders, columnar batches,
// native inserts) into a fresh, fully migrated ClickHouse database and times it until every
// reading is visible. In the same run it measures the ceiling: clickhouse-client inserting
// the same readings from Native files into another fresh database with the same schema,
// with one client (the reference) and with several in parallel. It prints readings per
// second, the ratios to the ceilings, CPU seconds per million readings and peak memory, as
// a table or (with --json) as a JSON document.
//
// bench query loads a large readings table server-side, serves the production API on a
// loopback port and measures latency percentiles and throughput of consumption and load
// curve requests with 1 and 16 concurrent clients.
//
// Every database and topic a run creates is named after the run and dropped at its end
// (unless --keep), so runs never touch a deployment's data.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: bench COMMAND [flags]

Commands:
  ingest   end-to-end Kafka → ClickHouse ingest throughput against the clickhouse-client ceiling
  query    consumption API latency and throughput over a large loaded table
  day      a day of N meters: ingest, VEE, forecast and queries under ingest, phase by phase, against the product's targets
  vee      the VEE job's incremental run over one new day of N meters with D days of history
  control  a bulk disconnect and reconnect of 10 000 meters through the DAS simulator under the rate caps

Run "bench COMMAND -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

// command is one subcommand; it writes its report to stdout and progress to stderr.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	commands := map[string]command{
		"ingest":   cmdIngest,
		"query":    cmdQuery,
		"forecast": cmdForecast,
		"billing":  cmdBilling,
		"control":  cmdControl,
		"day":      cmdDay,
		"vee":      cmdVEE,
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
	return cmd(ctx, args[1:], stdout, stderr)
}
