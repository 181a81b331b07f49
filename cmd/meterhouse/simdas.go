package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/meterhouse/meterhouse/sim/das"
)

// cmdSimDAS runs the simulated head-end (meterhouse sim das) until interrupted.
func cmdSimDAS(ctx context.Context, env *environment, args []string) error {
	def := das.DefaultConfig()
	fs := flag.NewFlagSet("sim das", flag.ContinueOnError)
	meters := fs.Int("meters", def.Fleet.Meters, "fleet size (the ids of `meterhouse sim` with the same --meters, --prefix and --seed)")
	interval := fs.Duration("interval", def.Fleet.Interval, "metering interval")
	seed := fs.Uint64("seed", def.Fleet.Seed, "random seed of the fleet and of the faults' shares")
	prefix := fs.String("prefix", def.Fleet.IDPrefix, "meter id prefix")
	tz := fs.String("tz", def.Fleet.TimeZone, "IANA time zone of the fleet")
	speed := fs.Float64("speed", def.Speed, "simulated seconds per wall second (3600: an hour a second); commands expire in simulated time")
	start := fs.String("start", "", "simulated time at start, RFC 3339 (default: now)")
	keys := fs.String("public-keys", "", `file of the public keys to accept, lines "key_id base64" (required)`)
	execDelay := fs.Duration("exec-delay", def.ExecDelay, "simulated time from accepted to executed")
	commands := fs.String("commands-topic", def.CommandsTopic, "Kafka topic of the signed commands")
	acks := fs.String("acks-topic", def.AcksTopic, "Kafka topic of the acks and relay events")
	group := fs.String("group", def.Group, "Kafka consumer group of the commands topic")
	var faults []das.Fault
	fs.Func("fault", "inject a fault, KIND=TARGET[@DELAY][>RELAY] (repeatable): KIND silent, late, fail, duplicate or onsite; TARGET meter ids separated by commas or a share like 5%", func(s string) error {
		f, err := das.ParseFault(s)
		if err != nil {
			return err
		}
		faults = append(faults, f)
		return nil
	})
	if err := env.parseFlags(fs, args); err != nil {
		return err
	}
	if *keys == "" {
		return errors.New("sim das: --public-keys FILE is required")
	}
	cfg := def
	cfg.Kafka, cfg.ReadingsTopic = env.cfg.Kafka, env.cfg.Ingest.Topic
	cfg.CommandsTopic, cfg.AcksTopic, cfg.Group = *commands, *acks, *group
	cfg.Fleet.Meters, cfg.Fleet.Interval, cfg.Fleet.Seed, cfg.Fleet.IDPrefix, cfg.Fleet.TimeZone = *meters, *interval, *seed, *prefix, *tz
	cfg.Speed, cfg.ExecDelay, cfg.Faults, cfg.Log = *speed, *execDelay, faults, env.log
	if *start != "" {
		t, err := time.Parse(time.RFC3339, *start)
		if err != nil {
			return fmt.Errorf("--start: %w", err)
		}
		cfg.Start = t
	}
	var err error
	if cfg.Keys, err = das.ReadPublicKeys(*keys); err != nil {
		return fmt.Errorf("--public-keys: %w", err)
	}
	d, err := das.New(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "das: %d meters, %d public key(s), speed %g; readings to %s, commands from %s (group %s), acks to %s, as Kafka user %q; Ctrl-C stops\n",
		*meters, len(cfg.Keys), *speed, cfg.ReadingsTopic, cfg.CommandsTopic, cfg.Group, cfg.AcksTopic, cfg.Kafka.SASL.Username)
	return d.Run(ctx)
}
