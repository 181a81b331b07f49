package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/meterhouse/meterhouse/control/wire"
)

const controlUsage = `usage:
  meterhouse control keygen --key-id ID --out FILE

keygen writes a new Ed25519 signing key to FILE (mode 0600; an existing file is never
overwritten) and prints its public key line "KEY_ID BASE64" for the DAS. Point
control.key_file at FILE; the private key is never printed.`

// cmdControl runs the remote-control subcommands: keygen.
func cmdControl(_ context.Context, env *environment, args []string) error {
	if len(args) == 0 || args[0] != "keygen" {
		return fmt.Errorf("control: want keygen\n%s", controlUsage)
	}
	fs := flag.NewFlagSet("control keygen", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(env.stderr, controlUsage) }
	id := fs.String("key-id", "", "the key's id (letters, digits, '.', '_', '-'), like control-2026-12")
	out := fs.String("out", "", "the key file to write")
	if err := env.parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *id == "" || *out == "" {
		return errors.New("control keygen: --key-id and --out are required")
	}
	k, err := wire.GenerateKey(*id)
	if err != nil {
		return fmt.Errorf("--key-id: %w", err)
	}
	if err := wire.WriteKeyFile(*out, k); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, k.Public().String())
	return nil
}
