package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/config"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/internal/app"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
	veejob "github.com/meterhouse/meterhouse/vee/job"
)

// queryConfig is what bench query measures and how.
type queryConfig struct {
	// Readings is how many readings the loaded table holds.
	Readings int64
	// Meters is the fleet size; each meter gets Readings/Meters readings at Interval.
	Meters int
	// Interval is the metering interval of the loaded readings.
	Interval time.Duration
	// Database, when set, is an existing database loaded by an earlier --keep run: the load
	// is skipped, the fleet size read from it, and the database kept. Its feeder and fleet
	// curves exist when it was loaded with the same GroupDays.
	Database string
	// Clients lists the concurrent client counts to measure each scenario with.
	Clients []int
	// Duration is how long each scenario runs per client count, after Warmup.
	Duration, Warmup time.Duration
	// Settle bounds the wait for background merges after loading.
	Settle time.Duration
	// GroupDays, when positive, also measures the feeder and fleet load curves of one day
	// among the last GroupDays whole days, and a meter's validated month: it writes the
	// fleet's registry and runs the VEE job over those days, which fills the tables the
	// curves and the validated consumption read (a validated month has a point per hour of
	// those days, so 31 days fill all of it).
	GroupDays int
	// Seed picks the meters queried.
	Seed uint64
	// ClickHouse says how to reach the server.
	ClickHouse schema.Config
	// Keep leaves the loaded database in place (its name is printed) for later runs.
	Keep bool
	// JSON prints the report as JSON on stdout (the table then goes to stderr).
	JSON bool
	// CPUProfile, when set, is the file a CPU profile of the measured scenarios is written to.
	CPUProfile string
	// ClickHousePIDFile holds the local ClickHouse server's pid, whose CPU time is
	// reported per request when the file exists.
	ClickHousePIDFile string
}

// Validate reports the first setting that cannot work, naming its flag.
func (c queryConfig) Validate() error {
	switch {
	case c.Database == "" && c.Readings < 1:
		return errors.New("--readings: must be at least 1")
	case c.Meters < 1 || c.Meters > 999_999:
		return errors.New("--meters: must be between 1 and 999999")
	case c.Interval < time.Minute || c.Interval%time.Minute != 0 || time.Hour%c.Interval != 0:
		return errors.New("--interval: must be a whole number of minutes dividing an hour")
	case c.Database == "" && c.Readings/int64(c.Meters) < int64(monthSpan/c.Interval):
		return fmt.Errorf("--readings: %d readings of %d meters span less than the %s the month query needs", c.Readings, c.Meters, monthSpan)
	case c.GroupDays < 0 || c.GroupDays > 31:
		return errors.New("--group-days: must be between 0 and 31")
	case len(c.Clients) == 0:
		return errors.New("--clients: name at least one client count")
	case c.Duration <= 0 || c.Warmup < 0 || c.Settle < 0:
		return errors.New("--duration, --warmup, --settle: want a positive duration and no negative wait")
	}
	for _, n := range c.Clients {
		if n < 1 || n > 1024 {
			return fmt.Errorf("--clients: %d is not between 1 and 1024", n)
		}
	}
	if c.Database != "" {
		cc := c.ClickHouse
		cc.Database = c.Database
		return cc.Validate()
	}
	return c.ClickHouse.Validate()
}

// monthSpan is the history the month query needs: 30 days and the hour before them, whose
// register the first point is measured from.
const monthSpan = (30*24 + 1) * time.Hour

// parseQueryFlags returns the configuration of args.
func parseQueryFlags(args []string, stderr io.Writer) (queryConfig, error) {
	cfg := queryConfig{ClickHouse: clickHouseFromEnv()}
	fs := flag.NewFlagSet("bench query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Int64Var(&cfg.Readings, "readings", 100_000_000, "readings to load")
	fs.IntVar(&cfg.Meters, "meters", 34_000, "fleet size (100M readings of 34000 meters at 15m span 30.6 days)")
	fs.DurationVar(&cfg.Interval, "interval", 15*time.Minute, "metering interval of the loaded readings")
	fs.StringVar(&cfg.Database, "database", "", "query this database, loaded by an earlier run with --keep, instead of loading one")
	clients := fs.String("clients", "1,16", "concurrent client counts, comma-separated")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured time per scenario and client count")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "unmeasured time before each measurement")
	fs.DurationVar(&cfg.Settle, "settle", 3*time.Minute, "longest wait for background merges after loading")
	fs.IntVar(&cfg.GroupDays, "group-days", 2, "also measure feeder and fleet daily load curves over the last N whole days and a validated month (writes the registry and runs the VEE job over them; 0: skip)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed of the meters queried")
	fs.StringVar(&cfg.ClickHouse.Addr, "clickhouse", cfg.ClickHouse.Addr, "ClickHouse native address host:port (MH_CLICKHOUSE_ADDR)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the loaded database for later runs (--database)")
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as JSON on stdout (the table goes to stderr)")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the measured scenarios (API, query service and clients) to this file")
	servicesDir := fs.String("services-dir", defaultServicesDir(), "the local services' folder (deploy/local; MH_SERVICES_HOME); ClickHouse's CPU time is reported when its pid file is there")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("bench query: unexpected argument %q", fs.Arg(0))
	}
	if *servicesDir != "" {
		cfg.ClickHousePIDFile = filepath.Join(*servicesDir, "clickhouse", "clickhouse.pid")
	}
	for _, s := range splitList(*clients) {
		var n int
		if _, err := fmt.Sscan(s, &n); err != nil {
			return cfg, fmt.Errorf("--clients: %q is not a number", s)
		}
		cfg.Clients = append(cfg.Clients, n)
	}
	maxClients := 1
	for _, n := range cfg.Clients {
		maxClients = max(maxClients, n)
	}
	cfg.ClickHouse.MaxOpenConns = maxClients + 2
	return cfg, cfg.Validate()
}

// loadSQL returns the INSERT that writes readings offset to offset+count-1 of a synthetic
// fleet into database.readings, computed by the server from numbers(): reading n is meter
// n / steps at step n % steps, meter by meter so that the rows arrive in key order. Each
// meter's register starts at a meter-dependent value and grows by 100 to 299 Wh per
// interval plus a hash in [0, 99], so it rises strictly at every step: consecutive
// readings differ by at least 100 - 99 = 1 Wh.
func loadSQL(database string, offset, count, steps int64, from time.Time, interval time.Duration) string {
	meter := fmt.Sprintf("intDiv(number, %d)", steps)
	step := fmt.Sprintf("(number %% %d)", steps)
	return fmt.Sprintf(`INSERT INTO %s.readings (meter_id, ts, register_wh, quality)
SELECT
    concat('MTR-', toString(1000000 + %s)),
    toDateTime(%d + %s * %d),
    toInt64(intHash32(%s) %% 1000000 + %s * (100 + %s %% 200) + intHash32(number) %% 100),
    toUInt8(0)
FROM numbers(%d, %d)`,
		database, meter, from.Unix(), step, int64(interval/time.Second), meter, step, meter, offset, count)
}

// meterID is the id loadSQL gives meter i (from 0).
func meterID(i int) string { return fmt.Sprintf("MTR-%d", 1_000_000+i) }

// feederID is the id of feeder i (from 0), which holds meters i*sim.MetersPerFeeder
// onwards, as in the simulator.
func feederID(i int) string { return fmt.Sprintf("FDR-%04d", i+1) }

// registry returns the registry entries of the loaded fleet: residential meters in UTC,
// sim.MetersPerFeeder to a feeder.
func registry(meters int, updated time.Time) []schema.Meter {
	out := make([]schema.Meter, meters)
	for i := range out {
		f := i / sim.MetersPerFeeder
		out[i] = schema.Meter{
			MeterID: meterID(i), CustomerClass: "residential", Feeder: feederID(f),
			Region: fmt.Sprintf("REG-%02d", f/sim.FeedersPerRegion+1), Tariff: "RES-TOU",
			TimeZone: "UTC", Status: "active", UpdatedAt: updated.UTC().Truncate(time.Second),
		}
	}
	return out
}

// groupDaysStart returns the first of the last days whole UTC days before to.
func groupDaysStart(to time.Time, days int) time.Time {
	return to.UTC().Truncate(24*time.Hour).AddDate(0, 0, -days)
}

// validateDays writes the fleet's registry and runs job, the process's VEE job, over the
// readings from an hour before from (the registers the first intervals start from) to
// to, which fills the validated consumption and the group load curves of those days.
func validateDays(ctx context.Context, conn driver.Conn, job *veejob.Job, meters int, from, to time.Time, stderr io.Writer) error {
	if err := schema.InsertMeters(ctx, conn, registry(meters, time.Now())); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "query: running the VEE job from %s (fills the group load curves)\n", from.Format(time.RFC3339))
	start := time.Now()
	res, err := job.RunRange(ctx, from.Add(-time.Hour), to)
	if err != nil {
		return fmt.Errorf("VEE job: %w", err)
	}
	fmt.Fprintf(stderr, "query: VEE job: %d meters, %d intervals in %s\n", res.Meters, res.Intervals, time.Since(start).Round(time.Second))
	return nil
}

// scenario is one kind of request bench query measures.
type scenario struct {
	// name is how the report names it.
	name string
	// target is the latency and throughput it should reach.
	target queryTarget
	// path returns the request path and query for one request; rng picks its meter or
	// group.
	path func(rng *rand.Rand) string
}

// monthTarget is what a meter's month hourly should reach, raw and validated.
var monthTarget = queryTarget{P99: 8 * time.Millisecond, QPS: 600}

// queryTarget is what a scenario should reach (issue 5).
type queryTarget struct {
	// P99 bounds the 99th percentile latency with one client; 0 sets no bound.
	P99 time.Duration
	// QPS is the throughput to reach with 16 clients; 0 sets none.
	QPS float64
}

// queryResult is one row of the bench query report.
type queryResult struct {
	// Scenario names the request measured.
	Scenario string `json:"scenario"`
	// Clients is the number of concurrent clients.
	Clients int `json:"clients"`
	// Requests is how many requests completed in the measured time.
	Requests int `json:"requests"`
	// QPS is Requests per second.
	QPS float64 `json:"queries_per_second"`
	// P50, P95 and P99 are latency percentiles in milliseconds.
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
	// CPUMillisPerRequest is the CPU time of this process (API server, query service and
	// clients) per request, warm-up included.
	CPUMillisPerRequest float64 `json:"cpu_ms_per_request"`
	// ClickHouseCPUMillisPerRequest is the ClickHouse server's CPU time per request, when
	// its pid file is known.
	ClickHouseCPUMillisPerRequest float64 `json:"clickhouse_cpu_ms_per_request,omitempty"`
	// Target describes the target that applies to this row, or is empty.
	Target string `json:"target,omitempty"`
	// TargetMet says whether the row reached it.
	TargetMet bool `json:"target_met,omitempty"`
}

// newQueryResult summarises latencies measured over elapsed with clients clients, and
// judges the target that applies: the p99 bound with one client, the throughput with 16.
func newQueryResult(name string, clients int, latencies []time.Duration, elapsed time.Duration, t queryTarget) queryResult {
	r := queryResult{Scenario: name, Clients: clients, Requests: len(latencies)}
	if elapsed > 0 {
		r.QPS = float64(len(latencies)) / elapsed.Seconds()
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	r.P50, r.P95, r.P99 = ms(percentile(latencies, 50)), ms(percentile(latencies, 95)), ms(percentile(latencies, 99))
	switch {
	case clients == 1 && t.P99 > 0:
		r.Target = fmt.Sprintf("p99 <= %s", t.P99)
		r.TargetMet = len(latencies) > 0 && percentile(latencies, 99) <= t.P99
	case clients == 16 && t.QPS > 0:
		r.Target = fmt.Sprintf(">= %.0f q/s", t.QPS)
		r.TargetMet = r.QPS >= t.QPS
	}
	return r
}

// percentile returns the p-th percentile of ds by the nearest-rank method: the smallest
// value with at least p percent of the values at or below it. It sorts ds in place and
// returns 0 for no values.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := int(float64(len(ds))*p/100+0.999999999) - 1
	return ds[min(max(rank, 0), len(ds)-1)]
}

// queryReport is the outcome of one bench query run.
type queryReport struct {
	// Database is the database queried; Readings and Meters its content.
	Database string `json:"database"`
	Readings int64  `json:"readings"`
	Meters   int    `json:"meters"`
	// LoadSeconds is how long loading took, 0 when an existing database was used.
	LoadSeconds float64 `json:"load_seconds,omitempty"`
	// CPUs is the machine's logical CPU count.
	CPUs int `json:"cpus"`
	// Results holds one row per scenario and client count.
	Results []queryResult `json:"results"`
}

// writeTable writes rp as an aligned text table preceded by a line naming the data.
func (rp *queryReport) writeTable(w io.Writer) error {
	fmt.Fprintf(w, "database %s: %d readings, %d meters; %d CPUs", rp.Database, rp.Readings, rp.Meters, rp.CPUs)
	if rp.LoadSeconds > 0 {
		fmt.Fprintf(w, "; loaded in %.0f s", rp.LoadSeconds)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tclients\trequests\tq/s\tp50 ms\tp95 ms\tp99 ms\tCPU ms/req\tClickHouse CPU ms/req\ttarget\t")
	for _, r := range rp.Results {
		target := "-"
		if r.Target != "" {
			verdict := "missed"
			if r.TargetMet {
				verdict = "met"
			}
			target = r.Target + " " + verdict
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t\n", r.Scenario, r.Clients, r.Requests, r.QPS,
			r.P50, r.P95, r.P99, r.CPUMillisPerRequest, r.ClickHouseCPUMillisPerRequest, target)
	}
	return tw.Flush()
}

func cmdQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseQueryFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rep := &queryReport{Readings: cfg.Readings, Meters: cfg.Meters, CPUs: runtime.NumCPU()}
	chcfg := cfg.ClickHouse
	var conn driver.Conn
	var to time.Time
	if cfg.Database != "" {
		chcfg.Database = cfg.Database
		if conn, err = schema.Connect(ctx, chcfg); err != nil {
			return err
		}
		defer conn.Close()
		if to, rep.Readings, cfg.Meters, err = loadedSpan(ctx, conn); err != nil {
			return err
		}
		rep.Meters = cfg.Meters
	} else {
		b := &ingestBench{cfg: ingestConfig{ClickHouse: cfg.ClickHouse, Keep: cfg.Keep}, log: log, stderr: stderr, id: runID()}
		var cleanup func()
		chcfg, conn, _, cleanup, err = b.database(ctx, "query")
		if err != nil {
			return err
		}
		defer cleanup()
	}
	rep.Database = chcfg.Database
	a, token, err := newApp(ctx, chcfg, conn, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if cfg.Database == "" {
		start := time.Now()
		if to, err = load(ctx, conn, chcfg.Database, cfg, stderr); err != nil {
			return err
		}
		if cfg.GroupDays > 0 {
			if err := validateDays(ctx, conn, a.VEE(), cfg.Meters, groupDaysStart(to, cfg.GroupDays), to, stderr); err != nil {
				return err
			}
		}
		rep.LoadSeconds = time.Since(start).Seconds()
		settle(ctx, conn, chcfg.Database, cfg.Settle, stderr)
		if cfg.Keep {
			fmt.Fprintf(stderr, "kept database %s: rerun with --database %s\n", chcfg.Database, chcfg.Database)
		}
	}

	base, stop, err := serveAPI(ctx, a.Server())
	if err != nil {
		return err
	}
	defer stop()
	scenarios := []scenario{monthScenario(to, cfg.Meters, meterID, "")}
	if cfg.GroupDays > 0 {
		scenarios = append(scenarios, monthScenario(to, cfg.Meters, meterID, "validated"))
		first := groupDaysStart(to, cfg.GroupDays)
		scenarios = append(scenarios, feederDayScenario(first, cfg.GroupDays, cfg.Meters),
			scenario{name: "fleet-day-1h", path: func(rng *rand.Rand) string {
				q := randomDay(rng, first, cfg.GroupDays)
				q.Set("step", "1h")
				return "/v1/fleet/load?" + q.Encode()
			}})
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 1024}, Timeout: 30 * time.Second}
	stopProfile, err := startCPUProfile(cfg.CPUProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	for _, sc := range scenarios {
		for _, n := range cfg.Clients {
			r, err := measureScenario(ctx, client, base, token, sc, n, cfg, stderr)
			if err != nil {
				return err
			}
			rep.Results = append(rep.Results, r)
		}
	}
	if cfg.JSON {
		if err := rep.writeTable(stderr); err != nil {
			return err
		}
		return writeJSONDoc(stdout, rep)
	}
	return rep.writeTable(stdout)
}

// monthScenario is meter-month-1h (meter-month-1h-validated with source validated): one
// random meter's hourly consumption over the 30 days
// before the hour of to, among meters meters whose ids id gives.
func monthScenario(to time.Time, meters int, id func(int) string, source string) scenario {
	monthEnd := to.Truncate(time.Hour)
	monthStart := monthEnd.Add(-30 * 24 * time.Hour)
	name := "meter-month-1h"
	if source != "" {
		name += "-" + source
	}
	return scenario{
		name:   name,
		target: monthTarget,
		path: func(rng *rand.Rand) string {
			q := url.Values{"from": {monthStart.Format(time.RFC3339)}, "to": {monthEnd.Format(time.RFC3339)}, "step": {"1h"}}
			if source != "" {
				q.Set("source", source)
			}
			return "/v1/meters/" + id(rng.IntN(meters)) + "/consumption?" + q.Encode()
		},
	}
}

// feederDayScenario is feeder-day-15m: the 15-minute load curve of one random feeder of
// a fleet of meters meters (sim.MetersPerFeeder to a feeder, ids feederID), on one of the
// days days from first.
func feederDayScenario(first time.Time, days, meters int) scenario {
	feeders := (meters + sim.MetersPerFeeder - 1) / sim.MetersPerFeeder
	return scenario{name: "feeder-day-15m", path: func(rng *rand.Rand) string {
		q := randomDay(rng, first, days)
		q.Set("step", "15m")
		return "/v1/groups/feeder/" + feederID(rng.IntN(feeders)) + "/load?" + q.Encode()
	}}
}

// randomDay returns the from and to parameters of one of the days days from first.
func randomDay(rng *rand.Rand, first time.Time, days int) url.Values {
	start := first.AddDate(0, 0, rng.IntN(days))
	return url.Values{"from": {start.Format(time.RFC3339)}, "to": {start.Add(24 * time.Hour).Format(time.RFC3339)}}
}

// load fills database.readings with cfg's synthetic fleet, server-side, and returns the
// last reading time.
func load(ctx context.Context, conn driver.Conn, database string, cfg queryConfig, stderr io.Writer) (time.Time, error) {
	steps := cfg.Readings / int64(cfg.Meters)
	total := steps * int64(cfg.Meters)
	_, to := simSpan(total, cfg.Meters, cfg.Interval, time.Now())
	from := to.Add(-time.Duration(steps-1) * cfg.Interval)
	bar := sim.NewProgress(stderr, "query: load readings", total)
	defer bar.Done()
	// Chunks of whole meters, so that each INSERT writes rows in key order.
	chunk := max(1, 10_000_000/steps) * steps
	for off := int64(0); off < total; off += chunk {
		n := min(chunk, total-off)
		if err := conn.Exec(ctx, loadSQL(database, off, n, steps, from, cfg.Interval)); err != nil {
			return to, fmt.Errorf("load readings: %w", err)
		}
		bar.Set(off + n)
	}
	return to, nil
}

// settle waits, at most limit, until the server runs no merge in database, so that the
// measurement does not compete with the load's merges.
func settle(ctx context.Context, conn driver.Conn, database string, limit time.Duration, stderr io.Writer) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.merges WHERE database = ?", database).Scan(&n); err != nil || n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	fmt.Fprintf(stderr, "query: merges still running after %s; measuring anyway\n", limit)
}

// loadedSpan returns the last reading time, the reading count and the fleet size of a
// database loaded by an earlier run.
func loadedSpan(ctx context.Context, conn driver.Conn) (time.Time, int64, int, error) {
	var to time.Time
	var n uint64
	var last string
	if err := conn.QueryRow(ctx, "SELECT max(ts), count(), max(meter_id) FROM readings").Scan(&to, &n, &last); err != nil {
		return to, 0, 0, fmt.Errorf("inspect the loaded database: %w", err)
	}
	if n == 0 {
		return to, 0, 0, errors.New("--database: its readings table is empty")
	}
	var i int
	if _, err := fmt.Sscanf(last, "MTR-%d", &i); err != nil || i < 1_000_000 {
		return to, 0, 0, fmt.Errorf("--database: meter %q was not loaded by bench query", last)
	}
	return to.UTC(), int64(n), i - 1_000_000 + 1, nil
}

// benchAuth authenticates the one token of a bench run as an analyst.
type benchAuth struct{ token string }

// Authenticate implements api.Authenticator.
func (a benchAuth) Authenticate(_ context.Context, token string) (api.Principal, error) {
	if token != a.token {
		return api.Principal{}, fmt.Errorf("%w: not the bench token", fault.ErrUnauthenticated)
	}
	return api.Principal{Name: "bench", TokenID: "bench", Roles: []api.Role{api.RoleAnalyst}}, nil
}

// newApp builds the production components (package app, as serve does) over conn, the
// bench's database, with the configuration the server reads from its defaults and MH_*
// environment (the local services' Kafka secret by default, as bench ingest). Only the
// authentication differs: the API accepts one random token, as an
// analyst, and nothing else (the token store is built with a random secret and issues
// no token). The analyst SQL endpoint runs on conn too, since the analyst user may read
// the platform database only, not the bench's; bench does not measure it.
func newApp(ctx context.Context, ch schema.Config, conn driver.Conn, log *slog.Logger) (*app.App, string, error) {
	cfg, err := config.Load("", os.Environ())
	if err != nil {
		return nil, "", err
	}
	cfg.ClickHouse = ch
	localKafkaSecret(&cfg.Kafka, defaultServicesDir())
	cfg.API.AccessLog = false
	cfg.Auth.Secret, cfg.Auth.SecretFile = randomHex(), ""
	token := randomHex()
	a, err := app.New(ctx, cfg, log, app.Resources{ClickHouse: conn, AnalystSQL: conn},
		app.Parts{API: true, Authenticator: benchAuth{token: token}})
	if err != nil {
		return nil, "", err
	}
	return a, token, nil
}

// randomHex returns 16 random bytes in hex.
func randomHex() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// serveAPI serves srv on a free port of 127.0.0.1 and returns its base URL and a
// function that stops it, draining in-flight requests.
func serveAPI(ctx context.Context, srv *api.Server) (string, func(), error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("bench query: listen: %w", err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	stop := func() {
		cancel()
		<-done // best effort at the end of a run
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// measureScenario runs sc with n concurrent clients for cfg.Warmup and then cfg.Duration,
// and summarises the latencies of the requests that completed in the measured time. Any
// response but 200 fails the run.
func measureScenario(ctx context.Context, client *http.Client, base, token string, sc scenario, n int, cfg queryConfig, stderr io.Writer) (queryResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	measureFrom := time.Now().Add(cfg.Warmup)
	end := measureFrom.Add(cfg.Duration)
	type outcome struct {
		lat  []time.Duration
		reqs int
		err  error
	}
	cpu0, err := selfCPU()
	if err != nil {
		return queryResult{}, err
	}
	ch0, chErr := processCPU(cfg.ClickHousePIDFile)
	out := make(chan outcome, n)
	bar := sim.NewProgress(stderr, fmt.Sprintf("query: %s, %d clients", sc.name, n), int64((cfg.Warmup+cfg.Duration)/time.Millisecond))
	started := time.Now()
	for i := range n {
		go func() {
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
			var lat []time.Duration
			reqs := 0
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					out <- outcome{lat: lat, reqs: reqs}
					return
				}
				reqs++
				if err := get(ctx, client, base+sc.path(rng), token); err != nil {
					cancel()
					out <- outcome{err: err}
					return
				}
				if t0.After(measureFrom) && time.Now().Before(end) {
					lat = append(lat, time.Since(t0))
				}
				bar.Set(int64(time.Since(started) / time.Millisecond))
			}
		}()
	}
	var all []time.Duration
	reqs := 0
	for range n {
		o := <-out
		all = append(all, o.lat...)
		reqs += o.reqs
		if o.err != nil && err == nil {
			err = o.err
		}
	}
	bar.Done()
	if err != nil {
		return queryResult{}, fmt.Errorf("%s with %d clients: %w", sc.name, n, err)
	}
	r := newQueryResult(sc.name, n, all, cfg.Duration, sc.target)
	if cpu1, err := selfCPU(); err == nil && reqs > 0 {
		r.CPUMillisPerRequest = float64(cpu1-cpu0) / float64(time.Millisecond) / float64(reqs)
	}
	if ch1, err := processCPU(cfg.ClickHousePIDFile); err == nil && chErr == nil && reqs > 0 {
		r.ClickHouseCPUMillisPerRequest = float64(ch1-ch0) / float64(time.Millisecond) / float64(reqs)
	}
	return r, nil
}

// get requests url and reads the whole response, which must be a 200.
func get(ctx context.Context, client *http.Client, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
