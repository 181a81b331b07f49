package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/auth"
	"github.com/meterhouse/meterhouse/internal/app"
)

// tokenUsage names the roles from api.Roles, the one list of roles.
var tokenUsage = `usage:
  meterhouse token create --name NAME --role ROLE [--role ROLE ...] [--ttl 720h|never]
  meterhouse token list [--json]
  meterhouse token revoke TOKEN_ID

Roles: ` + api.RoleList() + `. create prints the new token
alone on its last line; it is shown only once.`

// cmdToken manages API tokens: create, list and revoke.
func cmdToken(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("token: want create, list or revoke\n%s", tokenUsage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("token "+sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(env.stderr, tokenUsage) }
	switch sub {
	case "create":
		name := fs.String("name", "", "the principal the token acts for (a person or a system)")
		var roles []api.Role
		fs.Func("role", "a role to grant (repeatable, or comma-separated)", func(s string) error {
			for r := range strings.SplitSeq(s, ",") {
				role, err := api.ParseRole(strings.TrimSpace(r)) // --role "admin, analyst"
				if err != nil {
					return err
				}
				roles = append(roles, role)
			}
			return nil
		})
		ttl := fs.String("ttl", "", "lifetime like 720h, or never (default: auth.token_ttl)")
		if err := env.parseFlags(fs, args); err != nil {
			return err
		}
		store, done, err := tokenStore(ctx, env)
		if err != nil {
			return err
		}
		defer done()
		secret, t, err := store.Create(ctx, cliActor(), auth.NewToken{Name: *name, Roles: roles, TTL: *ttl})
		if err != nil {
			return fmt.Errorf("token create: %w", err)
		}
		expires := "never"
		if !t.ExpiresAt.IsZero() {
			expires = t.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(env.stdout, "created token %s for %s with roles %s, expires %s\n", t.ID, t.Name, roleList(t.Roles), expires)
		fmt.Fprintln(env.stdout, "it is shown only once; keep it secret:")
		fmt.Fprintln(env.stdout, secret)
		return nil
	case "list":
		asJSON := fs.Bool("json", false, "print JSON instead of a table")
		if err := env.parseFlags(fs, args); err != nil {
			return err
		}
		store, done, err := tokenStore(ctx, env)
		if err != nil {
			return err
		}
		defer done()
		ts, err := store.List(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(env.stdout)
			enc.SetIndent("", "  ")
			if ts == nil {
				ts = []auth.Token{}
			}
			return enc.Encode(ts)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tROLES\tSTATUS\tCREATED\tEXPIRES\tCREATED BY")
		for _, t := range ts {
			expires := "never"
			if !t.ExpiresAt.IsZero() {
				expires = t.ExpiresAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, roleList(t.Roles), t.Status,
				t.CreatedAt.Format(time.RFC3339), expires, t.CreatedBy)
		}
		return tw.Flush()
	case "revoke":
		var id string
		if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			id, args = args[0], args[1:]
		}
		if err := env.parseFlags(fs, args); err != nil {
			return err
		}
		if id == "" {
			return fmt.Errorf("token revoke: want a token id (see meterhouse token list)")
		}
		store, done, err := tokenStore(ctx, env)
		if err != nil {
			return err
		}
		defer done()
		t, err := store.Revoke(ctx, cliActor(), id)
		if err != nil {
			return fmt.Errorf("token revoke: %w", err)
		}
		fmt.Fprintf(env.stdout, "revoked token %s of %s\n", t.ID, t.Name)
		return nil
	}
	return fmt.Errorf("token: unknown subcommand %q\n%s", sub, tokenUsage)
}

// tokenStore builds the token store (package app) and returns it with a function that
// closes its connection.
func tokenStore(ctx context.Context, env *environment) (*auth.Store, func(), error) {
	a, err := app.New(ctx, env.cfg, env.log, app.Resources{}, app.Parts{Tokens: true})
	if err != nil {
		return nil, nil, err
	}
	return a.Tokens(), func() { a.Close() }, nil
}

// cliActor names the operating-system user running the command, for the audit trail.
func cliActor() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	host, _ := os.Hostname()
	return "cli:" + name + "@" + host
}

func roleList(rs []api.Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}
