package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/broker"
	"github.com/meterhouse/meterhouse/calendar/holidays"
	"github.com/meterhouse/meterhouse/control"
	"github.com/meterhouse/meterhouse/control/audit"
	"github.com/meterhouse/meterhouse/control/rules"
	controlservice "github.com/meterhouse/meterhouse/control/service"
	"github.com/meterhouse/meterhouse/control/wire"
	"github.com/meterhouse/meterhouse/ingest"
	meterregistry "github.com/meterhouse/meterhouse/registry"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
	"github.com/meterhouse/meterhouse/sim/das"
	"github.com/meterhouse/meterhouse/weather"
)

// controlConfig is what bench control measures.
type controlConfig struct {
	// Meters is the fleet disconnected and reconnected in one bulk request each.
	Meters int
	// Feeders is how many feeders the meters hang off, evenly.
	Feeders int
	// FleetPerMinute and FeederPerMinute are the service's rate caps (control.*).
	FleetPerMinute, FeederPerMinute int
	// ExecDelay is the DAS's time between accepting a command and executing it.
	ExecDelay time.Duration
	// Timeout bounds each phase.
	Timeout time.Duration
	// Keep leaves the run's database and topics in place; JSON prints the report as JSON.
	Keep, JSON bool
	ClickHouse schema.Config
	// Kafka reaches the brokers as a user who may create topics (admin locally); the
	// service and the DAS use it too, since the bench's topics are its own.
	Kafka broker.Config
}

// controlPhase is one bulk command of bench control, from request to every result.
type controlPhase struct {
	Action string `json:"action"`
	// RequestSeconds is the bulk request: the safety rules asked per meter, the commands
	// and their first transitions stored and audited.
	RequestSeconds float64 `json:"request_seconds"`
	// ApproveSeconds is the second principal's approval of the batch.
	ApproveSeconds float64 `json:"approve_seconds"`
	// FinalSeconds is from the approval until every command reached a final state.
	FinalSeconds float64 `json:"final_seconds"`
	// TotalSeconds is from the request until every command was final.
	TotalSeconds float64 `json:"total_seconds"`
	// States counts the commands by final state; Accounted is their sum.
	States    map[control.State]int `json:"states"`
	Accounted int                   `json:"accounted"`
	// MaxFleetPerMinute and MaxFeederPerMinute are the most sends in any minute from a
	// send on, from the stored transitions, fleet-wide and on one feeder.
	MaxFleetPerMinute  int  `json:"max_fleet_per_minute"`
	MaxFeederPerMinute int  `json:"max_feeder_per_minute"`
	CapsRespected      bool `json:"caps_respected"`
	// SendSeconds is from the first send to the last.
	SendSeconds float64 `json:"send_seconds"`
	// Waves counts the sends by stored second, as "+S s: N" from the first send.
	Waves []string `json:"waves"`
}

// controlReport is bench control's result.
type controlReport struct {
	Meters          int     `json:"meters"`
	Feeders         int     `json:"feeders"`
	FleetPerMinute  int     `json:"fleet_per_minute"`
	FeederPerMinute int     `json:"feeder_per_minute"`
	Clock           string  `json:"clock"`
	CPUs            int     `json:"cpus"`
	Database        string  `json:"database"`
	SetupSeconds    float64 `json:"setup_seconds"`
	// AuditEntries is the audit log's length at the end; AuditOK whether it verified.
	AuditEntries uint64         `json:"audit_entries"`
	AuditOK      bool           `json:"audit_ok"`
	Phases       []controlPhase `json:"phases"`
}

func parseControlFlags(args []string, stderr io.Writer) (controlConfig, error) {
	cfg := controlConfig{ClickHouse: clickHouseFromEnv()}
	var err error
	if cfg.Kafka, err = benchKafka(); err != nil {
		return cfg, err
	}
	fs := flag.NewFlagSet("bench control", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Meters, "meters", 10_000, "meters disconnected, then reconnected, in one bulk request each")
	fs.IntVar(&cfg.Feeders, "feeders", 25, "feeders the meters hang off")
	fs.IntVar(&cfg.FleetPerMinute, "fleet-per-minute", 6000, "the fleet-wide rate cap (control.fleet_per_minute)")
	fs.IntVar(&cfg.FeederPerMinute, "feeder-per-minute", 300, "the per-feeder rate cap (control.feeder_per_minute)")
	fs.DurationVar(&cfg.ExecDelay, "exec-delay", time.Second, "the DAS's delay from accepted to executed")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Minute, "limit of each phase")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the run's database and topics")
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as JSON")
	fs.StringVar(&cfg.ClickHouse.Addr, "clickhouse", cfg.ClickHouse.Addr, "ClickHouse native address host:port (MH_CLICKHOUSE_ADDR)")
	servicesDir := fs.String("services-dir", defaultServicesDir(), "the local services' folder (MH_SERVICES_HOME), for the Kafka user's password file")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("bench control: unexpected argument %q", fs.Arg(0))
	}
	localKafkaSecret(&cfg.Kafka, *servicesDir)
	switch {
	case cfg.Meters < 1 || cfg.Meters > 100_000:
		return cfg, errors.New("--meters: must be between 1 and 100000 (control.max_bulk)")
	case cfg.Feeders < 1 || cfg.Feeders > cfg.Meters:
		return cfg, errors.New("--feeders: must be between 1 and --meters")
	case cfg.FleetPerMinute < 1 || cfg.FeederPerMinute < 1 || cfg.FeederPerMinute > cfg.FleetPerMinute:
		return cfg, errors.New("--feeder-per-minute: must be between 1 and --fleet-per-minute")
	case cfg.ExecDelay < 0 || cfg.Timeout <= 0:
		return cfg, errors.New("--exec-delay, --timeout: must not be negative, positive")
	}
	if err := cfg.ClickHouse.Validate(); err != nil {
		return cfg, err
	}
	return cfg, cfg.Kafka.Validate()
}

// cmdControl registers a fleet on feeders, runs the command service and the DAS
// simulator on real Kafka in-process, and times a bulk disconnect of every meter
// (approved by a second principal) until every command is final, then the reconnect of
// them all (cold-load pickup); both under the rate caps, on the wall clock.
func cmdControl(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseControlFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b := &ingestBench{cfg: ingestConfig{ClickHouse: cfg.ClickHouse, Kafka: cfg.Kafka, Keep: cfg.Keep}, log: log, stderr: stderr, id: runID()}
	chcfg, conn, _, cleanup, err := b.database(ctx, "control")
	if err != nil {
		return err
	}
	defer cleanup()
	rep := &controlReport{Meters: cfg.Meters, Feeders: cfg.Feeders, FleetPerMinute: cfg.FleetPerMinute, FeederPerMinute: cfg.FeederPerMinute,
		Clock: "wall clock in the service and the DAS (DAS speed 1); caps raised instead of accelerating time", CPUs: runtime.NumCPU(), Database: chcfg.Database}
	start := time.Now()
	prefix := strings.ReplaceAll(b.id, "_", "-")
	topics := []string{prefix + "-readings", prefix + "-commands", prefix + "-command-acks", prefix + "-audit-anchors"}
	var specs []ingest.TopicSpec
	for _, t := range topics {
		specs = append(specs, ingest.TopicSpec{Name: t, Partitions: 4})
	}
	if err := ingest.EnsureTopics(ctx, cfg.Kafka, specs...); err != nil {
		return err
	}
	if !cfg.Keep {
		defer b.deleteTopics(ctx, topics...)
	}
	for _, t := range topics {
		if err := b.waitTopic(ctx, t, 4); err != nil {
			return err
		}
	}
	private := chcfg.PrivateDatabase()
	meters, err := registerControlFleet(ctx, conn, private, cfg)
	if err != nil {
		return err
	}
	checker, err := controlRules(conn, private)
	if err != nil {
		return err
	}
	anchor, err := audit.NewKafkaAnchor(cfg.Kafka, topics[3])
	if err != nil {
		return err
	}
	defer anchor.Close()
	alog, err := audit.Open(ctx, conn, private, anchor)
	if err != nil {
		return err
	}
	key, err := wire.GenerateKey("bench-1")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-control-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	keyFile := filepath.Join(dir, "control.key")
	if err := wire.WriteKeyFile(keyFile, key); err != nil {
		return err
	}
	dcfg := das.DefaultConfig()
	dcfg.Kafka = cfg.Kafka
	dcfg.ReadingsTopic, dcfg.CommandsTopic, dcfg.AcksTopic, dcfg.Group = topics[0], topics[1], topics[2], prefix+"-das"
	dcfg.Fleet = sim.Config{Meters: cfg.Meters, Interval: 15 * time.Minute, Seed: 1, IDPrefix: "MTR-", TimeZone: "Europe/Berlin"}
	dcfg.Keys, dcfg.ExecDelay, dcfg.Log = wire.NewKeyring(key.Public()), cfg.ExecDelay, log
	d, err := das.New(dcfg)
	if err != nil {
		return err
	}
	scfg := controlservice.DefaultConfig()
	scfg.Enabled, scfg.KeyFile = true, keyFile
	scfg.CommandsTopic, scfg.AcksTopic, scfg.GroupID = topics[1], topics[2], prefix+"-control"
	scfg.FleetPerMinute, scfg.FeederPerMinute = cfg.FleetPerMinute, cfg.FeederPerMinute
	svc, err := controlservice.New(ctx, scfg, controlservice.Deps{ClickHouse: conn, PrivateDB: private, Kafka: cfg.Kafka, Checker: checker, Auditor: alog,
		Log: log, Tick: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 2)
	go func() { errc <- d.Run(runCtx) }()
	go func() { errc <- svc.Run(runCtx) }()
	running := 2
	defer func() {
		stop()
		for ; running > 0; running-- {
			if err := <-errc; err != nil {
				log.Error("bench control: stopped with an error", "err", err)
			}
		}
	}()
	stopped := func() error {
		select {
		case err := <-errc:
			running--
			return fmt.Errorf("the service or the DAS stopped: %w", errors.Join(err, errors.New("before the end")))
		default:
			return nil
		}
	}
	rep.SetupSeconds = time.Since(start).Seconds()

	for _, action := range []string{wire.ActionDisconnect, wire.ActionReconnect} {
		p, err := controlBulk(ctx, conn, private, svc, action, meters, cfg, stderr, stopped)
		if err != nil {
			return err
		}
		rep.Phases = append(rep.Phases, p)
	}
	vrep, err := audit.Verify(ctx, conn, private, anchor)
	if err != nil {
		return err
	}
	rep.AuditEntries, rep.AuditOK = vrep.Entries, vrep.OK()
	var failed []string
	for _, p := range rep.Phases {
		if p.Accounted != cfg.Meters || !p.CapsRespected {
			failed = append(failed, fmt.Sprintf("%s: %d of %d results accounted, caps respected %v", p.Action, p.Accounted, cfg.Meters, p.CapsRespected))
		}
	}
	if !rep.AuditOK {
		failed = append(failed, fmt.Sprintf("the audit log does not verify: %v", vrep.Problems))
	}
	if cfg.JSON {
		err = writeJSONDoc(stdout, rep)
	} else {
		err = rep.writeTable(stdout)
	}
	if err == nil && len(failed) > 0 {
		err = errors.New(strings.Join(failed, "; "))
	}
	return err
}

// registerControlFleet writes the DAS fleet's meters to the registry, on cfg.Feeders
// feeders of one region, and returns their ids.
func registerControlFleet(ctx context.Context, conn driver.Conn, private string, cfg controlConfig) ([]string, error) {
	reg, err := meterregistry.NewStore(conn, private)
	if err != nil {
		return nil, err
	}
	since := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	vs := make([]meterregistry.MeterVersion, cfg.Meters)
	ids := make([]string, cfg.Meters)
	for i := range vs {
		ids[i] = fmt.Sprintf("MTR-%06d", i+1)
		vs[i] = meterregistry.MeterVersion{MeterID: ids[i], ValidFrom: since, Feeder: fmt.Sprintf("FDR-%03d", i%cfg.Feeders+1), Region: "REG-01",
			TimeZone: "Europe/Berlin", Status: meterregistry.StatusActive}
	}
	if _, err := reg.PutMeters(ctx, "bench", vs); err != nil {
		return nil, err
	}
	return ids, nil
}

// controlRules returns the real safety rules over the run's registry, with the rules that
// depend on the day and hour (calendar, cut-off, moratorium, notice) off, so that the
// bench passes whenever it runs; the life-support rule stays, and every check still
// reads the registry (meter and agreement) per meter.
func controlRules(conn driver.Conn, private string) (*rules.Rules, error) {
	reg, err := meterregistry.NewStore(conn, private)
	if err != nil {
		return nil, err
	}
	cal, err := holidays.NewStore(conn)
	if err != nil {
		return nil, err
	}
	ws, err := weather.NewStore(conn)
	if err != nil {
		return nil, err
	}
	return rules.New(rules.Config{Default: rules.Region{CutoffHour: 24}}, rules.Deps{Meters: reg, Agreements: reg, Calendars: cal, Weather: ws})
}

// controlBulk requests action for every meter as one batch, approves it as a second
// principal and waits until every command is final.
func controlBulk(ctx context.Context, conn driver.Conn, private string, svc *controlservice.Service, action string, meters []string,
	cfg controlConfig, stderr io.Writer, stopped func() error) (controlPhase, error) {
	p := controlPhase{Action: action}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	fmt.Fprintf(stderr, "control: bulk %s of %d meters …\n", action, len(meters))
	start := time.Now()
	b, _, err := svc.Bulk(ctx, "bench-operator", "bench-"+action, control.Request{Action: action, Reason: "bench control"}, controlservice.Selector{Meters: meters})
	if err != nil {
		return p, err
	}
	p.RequestSeconds = time.Since(start).Seconds()
	t := time.Now()
	if _, err := svc.ApproveBatch(ctx, "bench-supervisor", true, b.ID); err != nil {
		return p, err
	}
	p.ApproveSeconds = time.Since(t).Seconds()
	t = time.Now()
	bar := sim.NewProgress(stderr, "control: "+action+" final", int64(len(meters)))
	for {
		n, err := finalCount(ctx, conn, private, b.ID)
		if err == nil {
			bar.Set(int64(n))
			if n >= len(meters) {
				break
			}
		}
		if err := stopped(); err != nil {
			bar.Done()
			return p, fmt.Errorf("bulk %s: %w", action, err)
		}
		select {
		case <-ctx.Done():
			bar.Done()
			return p, fmt.Errorf("bulk %s: %d of %d commands final after %s: %w", action, n, len(meters), cfg.Timeout, ctx.Err())
		case <-time.After(time.Second):
		}
	}
	bar.Done()
	p.FinalSeconds, p.TotalSeconds = time.Since(t).Seconds(), time.Since(start).Seconds()
	got, err := svc.Batch(ctx, b.ID)
	if err != nil {
		return p, err
	}
	p.States = got.States
	for st, n := range got.States {
		if st.Final() {
			p.Accounted += n
		}
	}
	sends, err := sendTimes(ctx, conn, private, b.ID)
	if err != nil {
		return p, err
	}
	p.MaxFleetPerMinute, p.MaxFeederPerMinute = busiestMinute(sends)
	p.CapsRespected = p.MaxFleetPerMinute <= cfg.FleetPerMinute && p.MaxFeederPerMinute <= cfg.FeederPerMinute
	if len(sends) > 0 {
		p.SendSeconds = sends[len(sends)-1].at.Sub(sends[0].at).Seconds()
	}
	for i := 0; i < len(sends); {
		j := i
		for j < len(sends) && sends[j].at.Equal(sends[i].at) {
			j++
		}
		p.Waves = append(p.Waves, fmt.Sprintf("+%.0f s: %d", sends[i].at.Sub(sends[0].at).Seconds(), j-i))
		i = j
	}
	return p, nil
}

// finalCount counts a batch's commands with a final transition stored.
func finalCount(ctx context.Context, conn driver.Conn, private, batch string) (int, error) {
	var finals []string
	for _, s := range control.FinalStates {
		finals = append(finals, string(s))
	}
	var n uint64
	err := conn.QueryRow(ctx, `SELECT uniqExact(command_id) FROM `+private+`.control_transitions WHERE state IN (SELECT arrayJoin(?))
AND command_id IN (SELECT command_id FROM `+private+`.control_commands WHERE batch_id = ?)`, finals, batch).Scan(&n)
	return int(n), err
}

// send is one stored send: its time and the command's feeder.
type send struct {
	at     time.Time
	feeder string
}

// sendTimes returns the stored sends of a batch's commands, by time.
func sendTimes(ctx context.Context, conn driver.Conn, private, batch string) ([]send, error) {
	rows, err := conn.Query(ctx, `SELECT t.at, c.feeder FROM (SELECT command_id, at FROM `+private+`.control_transitions FINAL WHERE state = 'sent') AS t
ANY INNER JOIN (SELECT command_id, feeder FROM `+private+`.control_commands FINAL WHERE batch_id = ?) AS c USING command_id`, batch)
	if err != nil {
		return nil, fmt.Errorf("read the sends: %w", err)
	}
	defer rows.Close()
	var out []send
	for rows.Next() {
		var s send
		if err := rows.Scan(&s.at, &s.feeder); err != nil {
			return nil, fmt.Errorf("read the sends: %w", err)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out, rows.Err()
}

// busiestMinute returns the most sends in any minute [t, t+1m) from a send at t,
// fleet-wide and on one feeder; sends are by time.
func busiestMinute(sends []send) (fleet, feeder int) {
	window := func(ts []time.Time) int {
		most, j := 0, 0
		for i := range ts {
			for j < len(ts) && ts[j].Before(ts[i].Add(time.Minute)) {
				j++
			}
			most = max(most, j-i)
		}
		return most
	}
	all := make([]time.Time, len(sends))
	per := map[string][]time.Time{}
	for i, s := range sends {
		all[i] = s.at
		per[s.feeder] = append(per[s.feeder], s.at)
	}
	fleet = window(all)
	for _, ts := range per {
		feeder = max(feeder, window(ts))
	}
	return fleet, feeder
}

func (rp *controlReport) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "meters\t%d on %d feeders\n", rp.Meters, rp.Feeders)
	fmt.Fprintf(tw, "rate caps\t%d/min fleet, %d/min per feeder (%s)\n", rp.FleetPerMinute, rp.FeederPerMinute, rp.Clock)
	fmt.Fprintf(tw, "set-up (untimed)\t%.1f s\n", rp.SetupSeconds)
	for _, p := range rp.Phases {
		fmt.Fprintf(tw, "%s\t%.1f s in all: request %.1f s, approval %.1f s, to every result %.1f s (sends over %.0f s)\n",
			p.Action, p.TotalSeconds, p.RequestSeconds, p.ApproveSeconds, p.FinalSeconds, p.SendSeconds)
		var states []string
		for st, n := range p.States {
			states = append(states, fmt.Sprintf("%s %d", st, n))
		}
		sort.Strings(states)
		fmt.Fprintf(tw, "  results\t%s (accounted %d of %d)\n", strings.Join(states, ", "), p.Accounted, rp.Meters)
		fmt.Fprintf(tw, "  sends by second\t%s\n", strings.Join(p.Waves, ", "))
		fmt.Fprintf(tw, "  busiest minute\t%d sends fleet-wide, %d on one feeder (caps respected: %v)\n", p.MaxFleetPerMinute, p.MaxFeederPerMinute, p.CapsRespected)
	}
	fmt.Fprintf(tw, "audit log\t%d entries, verifies: %v\n", rp.AuditEntries, rp.AuditOK)
	return tw.Flush()
}
