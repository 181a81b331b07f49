package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/meterhouse/meterhouse/calendar/holidays"
	"github.com/meterhouse/meterhouse/internal/app"
	"github.com/meterhouse/meterhouse/weather"
)

const calendarUsage = `usage:
  meterhouse calendar load --file F [--region R]
  meterhouse calendar load --country C --region R --years 2024-2030

--file loads the calendar CSV format (region,date,kind,name; see the README); with
--region every row must be of that region. --country fills a region's public holidays
from the rules of github.com/rickar/cal/v2 (countries: ` + "%s" + `).
Substituted working days always come from a file.`

// cmdCalendar loads holiday calendars.
func cmdCalendar(ctx context.Context, env *environment, args []string) error {
	usage := fmt.Sprintf(calendarUsage, strings.Join(holidays.Countries(), ", "))
	if len(args) == 0 || args[0] != "load" {
		return fmt.Errorf("calendar: want load\n%s", usage)
	}
	fs := flag.NewFlagSet("calendar load", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(env.stderr, usage) }
	file := fs.String("file", "", "a calendar CSV file")
	region := fs.String("region", "", "the region (required with --country)")
	country := fs.String("country", "", "fill public holidays from a country's rules")
	years := fs.String("years", "", "with --country: the years, like 2024-2030 or 2026")
	if err := env.parseFlags(fs, args[1:]); err != nil {
		return err
	}
	var (
		entries []holidays.Entry
		source  string
	)
	switch {
	case *file != "" && *country != "":
		return fmt.Errorf("calendar load: give --file or --country, not both")
	case *file != "":
		f, err := os.Open(*file)
		if err != nil {
			return err
		}
		defer f.Close()
		if entries, err = holidays.ParseCSV(f, *region); err != nil {
			return fmt.Errorf("%s: %w", *file, err)
		}
		source = "file"
	case *country != "":
		if *region == "" {
			return fmt.Errorf("calendar load: --country needs --region")
		}
		from, to, err := yearRange(*years)
		if err != nil {
			return err
		}
		if entries, err = holidays.CountryHolidays(*country, *region, from, to); err != nil {
			return err
		}
		source = "rules:" + *country
	default:
		return fmt.Errorf("calendar load: give --file or --country\n%s", usage)
	}
	a, err := app.New(ctx, env.cfg, env.log, app.Resources{}, app.Parts{})
	if err != nil {
		return err
	}
	defer a.Close()
	n, err := a.Calendars().Load(ctx, entries, source)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "calendar: %d entries stored (source %s)\n", n, source)
	return nil
}

// yearRange parses --years: "2026" or "2024-2030".
func yearRange(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		b = a
	}
	from, err1 := strconv.Atoi(a)
	to, err2 := strconv.Atoi(b)
	if s == "" || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("--years %q: want a year like 2026 or a range like 2024-2030", s)
	}
	return from, to, nil
}

// cmdWeather loads weather values.
func cmdWeather(ctx context.Context, env *environment, args []string) error {
	const usage = "usage: meterhouse weather load --file F   (the weather CSV format; see the README)"
	if len(args) == 0 || args[0] != "load" {
		return fmt.Errorf("weather: want load\n%s", usage)
	}
	fs := flag.NewFlagSet("weather load", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(env.stderr, usage) }
	file := fs.String("file", "", "a weather CSV file")
	if err := env.parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *file == "" {
		return fmt.Errorf("weather load: give --file\n%s", usage)
	}
	f, err := os.Open(*file)
	if err != nil {
		return err
	}
	defer f.Close()
	values, err := weather.ParseCSV(f)
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	a, err := app.New(ctx, env.cfg, env.log, app.Resources{}, app.Parts{})
	if err != nil {
		return err
	}
	defer a.Close()
	n, err := a.Weather().Load(ctx, values)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "weather: %d values stored\n", n)
	return nil
}
