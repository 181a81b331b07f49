// Command meterhouse is the one Meterhouse binary. Its subcommands parse flags and
// validate the configuration; package internal/app builds the components and runs them
// together. All logic lives in the component packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/meterhouse/meterhouse/config"
)

const usage = `usage: meterhouse [--config FILE] COMMAND [flags]

Commands:
  serve     run the HTTP API and the Kafka ingest together
  ingest    run the Kafka ingest alone
  migrate   create or upgrade the ClickHouse schema
  sim       simulate a fleet of meters and produce its readings to Kafka; sim das runs a
            simulated head-end (live readings, signed commands, acks)
  config    check or print the effective configuration (config check | config print)
  token     create, list or revoke API tokens (token create --name N --role R)
  vee       validate stored readings into consumption (vee run [--from T --to T])
  calendar  load holiday calendars (calendar load --file F | --country C --region R --years Y-Y)
  weather   load observed and forecast temperatures (weather load --file F)
  forecast  run the day-ahead forecast job (forecast run [--issued T | --from T] [--group kind/id]) or evaluate models on a CSV file (forecast eval; needs no services)
  registry  import meters and service agreements (registry import --meters F | --agreements F; registry refresh)
  tariff    check, load or import tariff documents (tariff check|load --file F | import-urdb FILE --tz Z)
  audit     verify the remote-control audit log's hash chain and anchors (audit verify [--json])
  control   make a key that signs remote commands (control keygen --key-id ID --out FILE)
  bill      run a billing cycle (bill run --cycle DAY --period YYYY-MM) or preview a bill from files without services (bill preview --tariff F --intervals CSV --from D --to D [--json])

Configuration: defaults, then the YAML file given by --config (or MH_CONFIG), then MH_*
environment variables (MH_CLICKHOUSE_ADDR, MH_API_LISTEN, ...), then flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "meterhouse:", err)
		}
		os.Exit(1)
	}
}

// command is one subcommand: it gets the loaded configuration and its own arguments.
type command func(ctx context.Context, env *environment, args []string) error

// environment is what every subcommand shares.
type environment struct {
	cfg    config.Config
	log    *slog.Logger
	stdout io.Writer
	stderr io.Writer
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	global := flag.NewFlagSet("meterhouse", flag.ContinueOnError)
	global.SetOutput(stderr)
	global.Usage = func() { fmt.Fprint(stderr, usage) }
	cfgPath := global.String("config", os.Getenv("MH_CONFIG"), "YAML configuration file")
	if err := global.Parse(args); err != nil {
		return err
	}
	if global.NArg() == 0 {
		global.Usage()
		return flag.ErrHelp
	}
	commands := map[string]command{
		"serve":    cmdServe,
		"ingest":   cmdIngest,
		"migrate":  cmdMigrate,
		"sim":      cmdSim,
		"config":   cmdConfig,
		"token":    cmdToken,
		"vee":      cmdVEE,
		"calendar": cmdCalendar,
		"weather":  cmdWeather,
		"forecast": cmdForecast,
		"registry": cmdRegistry,
		"tariff":   cmdTariff,
		"bill":     cmdBill,
		"audit":    cmdAudit,
		"control":  cmdControl,
	}
	name, rest := global.Arg(0), global.Args()[1:]
	cmd, ok := commands[name]
	if !ok {
		global.Usage()
		return fmt.Errorf("unknown command %q", name)
	}
	cfg, err := config.Load(*cfgPath, os.Environ())
	if err != nil {
		return err
	}
	h, err := cfg.Log.Handler(os.Stderr)
	if err != nil {
		return err
	}
	return cmd(ctx, &environment{cfg: cfg, log: slog.New(h), stdout: stdout, stderr: stderr}, rest)
}

// parseFlags parses a subcommand's flags, then applies --set overrides and validates the
// whole configuration, so that every subcommand rejects bad settings before starting.
func (env *environment) parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(env.stderr)
	var sets []string
	fs.Func("set", "override one configuration key, like --set api.listen=127.0.0.1:9090 (repeatable)", func(s string) error {
		sets = append(sets, s)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	for _, s := range sets {
		k, v, ok := cutSet(s)
		if !ok {
			return fmt.Errorf("--set %q: want key=value", s)
		}
		if err := env.cfg.Set(k, v); err != nil {
			return err
		}
	}
	return env.cfg.Validate()
}

func cutSet(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == '=' {
			return s[:i], s[i+1:], i > 0
		}
	}
	return "", "", false
}
