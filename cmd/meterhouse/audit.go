package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"github.com/meterhouse/meterhouse/control/audit"
	"github.com/meterhouse/meterhouse/schema"
)

const auditUsage = `usage:
  meterhouse audit verify [--json]

verify reads the remote-control audit log (table control_audit of the private database)
and checks its hash chain against the latest anchors on audit.anchor_topic. It prints OK
with the head, or each problem (the entry's seq, its kind and what is wrong), and exits
with status 1 when there is one.`

// cmdAudit verifies the remote-control audit log.
func cmdAudit(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("audit: want verify\n%s", auditUsage)
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(env.stderr, auditUsage) }
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := env.parseFlags(fs, args[1:]); err != nil {
		return err
	}
	conn, err := schema.Connect(ctx, env.cfg.ClickHouse)
	if err != nil {
		return err
	}
	defer conn.Close()
	anchor, err := audit.NewKafkaAnchor(env.cfg.Kafka, env.cfg.Audit.AnchorTopic)
	if err != nil {
		return err
	}
	defer anchor.Close()
	rep, err := audit.Verify(ctx, conn, env.cfg.ClickHouse.PrivateDatabase(), anchor)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReport(env, rep)
	}
	if !rep.OK() {
		return fmt.Errorf("audit verify: %d problem(s) in %s", len(rep.Problems)+rep.Omitted, rep.Head.Log)
	}
	return nil
}

func printReport(env *environment, rep audit.Report) {
	anchored := "no anchor found"
	if a := rep.Anchor; a != nil {
		anchored = fmt.Sprintf("latest anchor seq %d at %s, %d anchor(s) compared", a.Seq, a.At.Format(time.RFC3339), rep.Anchors)
	}
	if rep.OK() {
		fmt.Fprintf(env.stdout, "OK: %s: %d entries, head seq %d hash %s (%s)\n", rep.Head.Log, rep.Entries, rep.Head.Seq, rep.Head.Hash, anchored)
		return
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(env.stdout, p)
	}
	if rep.Omitted > 0 {
		fmt.Fprintf(env.stdout, "… and %d more problem(s)\n", rep.Omitted)
	}
	fmt.Fprintf(env.stdout, "FAILED: %s: %d entries read, last seq %d (%s)\n", rep.Head.Log, rep.Entries, rep.Head.Seq, anchored)
}
