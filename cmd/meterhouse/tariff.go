package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/meterhouse/meterhouse/billing/tariff"
	"github.com/meterhouse/meterhouse/internal/app"
)

const tariffUsage = `usage:
  meterhouse tariff check --file F                    validate a tariff document (no services)
  meterhouse tariff load --file F                     validate and store it as a new version
  meterhouse tariff import-urdb FILE --tz ZONE [--id LABEL]
                                                      convert a URDB rate to a document (stdout, YAML)

F is a tariff document, YAML or JSON (see the README's Tariffs section). FILE is one URDB
rate object or the URDB API's {"items": [...]} answer; --id picks an item by its label.`

// cmdTariff checks, loads and imports tariff documents.
func cmdTariff(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("tariff: want check, load or import-urdb\n%s", tariffUsage)
	}
	switch args[0] {
	case "check", "load":
		fs := flag.NewFlagSet("tariff "+args[0], flag.ContinueOnError)
		fs.Usage = func() { fmt.Fprintln(env.stderr, tariffUsage) }
		file := fs.String("file", "", "a tariff document, YAML or JSON")
		if err := env.parseFlags(fs, args[1:]); err != nil {
			return err
		}
		if *file == "" {
			return fmt.Errorf("tariff %s: give --file\n%s", args[0], tariffUsage)
		}
		d, err := readTariff(*file)
		if err != nil {
			return err
		}
		if args[0] == "check" {
			fmt.Fprintf(env.stdout, "tariff %s (effective from %s) is valid\n", d.ID, d.EffectiveFrom)
			return nil
		}
		a, err := app.New(ctx, env.cfg, env.log, app.Resources{}, app.Parts{})
		if err != nil {
			return err
		}
		defer a.Close()
		v, err := a.Tariffs().Load(ctx, d)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "tariff %s: version effective from %s stored\n", v.ID, v.EffectiveFrom)
		return nil
	case "import-urdb":
		return tariffImportURDB(env, args[1:])
	}
	return fmt.Errorf("tariff: unknown subcommand %q\n%s", args[0], tariffUsage)
}

func readTariff(path string) (*tariff.Document, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d, err := tariff.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// tariffImportURDB runs tariff import-urdb FILE [--tz ZONE] [--id LABEL]; FILE may come
// before or after the flags.
func tariffImportURDB(env *environment, args []string) error {
	fs := flag.NewFlagSet("tariff import-urdb", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(env.stderr, tariffUsage) }
	tz := fs.String("tz", "", "the IANA time zone of the rate's schedules (required: the URDB has none)")
	label := fs.String("id", "", "the label of the rate to convert in an items answer (default: the first)")
	var file string
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case !strings.HasPrefix(a, "-") && file == "":
			file = a
		default:
			rest = append(rest, a)
			if strings.HasPrefix(a, "-") && !strings.Contains(a, "=") && i+1 < len(args) {
				i++
				rest = append(rest, args[i])
			}
		}
	}
	if err := env.parseFlags(fs, rest); err != nil {
		return err
	}
	if file == "" {
		return fmt.Errorf("tariff import-urdb: give the URDB JSON file\n%s", tariffUsage)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := tariff.ImportURDB(f, tariff.URDBOptions{TimeZone: *tz, Label: *label})
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	y, err := d.YAML()
	if err != nil {
		return err
	}
	_, err = env.stdout.Write(y)
	return err
}
