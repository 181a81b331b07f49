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
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/broker"
	"github.com/meterhouse/meterhouse/config"
	"github.com/meterhouse/meterhouse/ingest"
	"github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
)

// ingestConfig is what bench ingest measures and how.
type ingestConfig struct {
	// Readings is how many readings to produce and ingest (per format).
	Readings int64
	// Meters is the fleet size; the readings span Readings/Meters metering intervals.
	Meters int
	// Interval is the metering interval of the simulated fleet.
	Interval time.Duration
	// Seed makes the simulated fleet reproducible.
	Seed uint64
	// Formats lists the message formats to measure, each against its own topic and
	// database: json (one reading per message) and arrow (ArrowBatch readings per message).
	Formats []string
	// ArrowBatch is the readings per Arrow message.
	ArrowBatch int
	// Ceiling measures clickhouse-client inserting the same readings from a Native file.
	Ceiling bool
	// CeilingBlockRows is the block size of the ceiling's Native file. ClickHouse's own
	// max_insert_block_size is the default; setting it to the ingest batch size shows how
	// much of the gap to the ceiling the block size explains.
	CeilingBlockRows int
	// CeilingClients lists how many concurrent clickhouse-clients to measure the ceiling
	// with, each count in its own database; the ratios are to the first one (1 client, the
	// reference), the others show what parallel inserts reach.
	CeilingClients []int
	// Client is the clickhouse-client executable.
	Client string
	// Dir holds the ceiling's Native file while it is needed.
	Dir string
	// ClickHouse says how to reach the server; its Database is ignored (every run creates
	// its own databases).
	ClickHouse schema.Config
	// Kafka says how to reach the brokers. The bench creates and deletes its own topics,
	// so its user needs those rights (the local services' admin by default).
	Kafka broker.Config
	// Ingest holds the ingest settings measured (partitions, consumers,
	// batch rows, flush interval); topics, group and database are the run's own.
	Ingest ingest.Config
	// Timeout bounds each timed ingest phase.
	Timeout time.Duration
	// CPUProfile, when set, is where the CPU profile of each ingest phase is written
	// (the format's name is inserted before the extension).
	CPUProfile string
	// Keep leaves the run's databases, topics and file in place for inspection.
	Keep bool
	// JSON prints the report as JSON on stdout (the table then goes to stderr).
	JSON bool
	// Services are the local services whose CPU time is reported per phase.
	Services []service
	// LogLevel is the level of the ingest log (written to stderr).
	LogLevel slog.Level
}

// Validate reports the first setting that cannot work, naming its flag.
func (c ingestConfig) Validate() error {
	switch {
	case c.Readings < 1:
		return errors.New("--readings: must be at least 1")
	case c.Meters < 1 || c.Meters > 999_999:
		return errors.New("--meters: must be between 1 and 999999")
	case c.Interval < time.Minute || c.Interval%time.Minute != 0:
		return errors.New("--interval: must be a whole number of minutes")
	case len(c.Formats) == 0 && !c.Ceiling:
		return fmt.Errorf("--format: name at least one of %v (or measure the ceiling alone)", wire.Formats)
	case c.ArrowBatch < 1:
		return errors.New("--arrow-batch: must be at least 1")
	case c.Ceiling && c.CeilingBlockRows < 1:
		return errors.New("--ceiling-block-rows: must be at least 1")
	case c.Ceiling && (len(c.CeilingClients) == 0 || c.CeilingClients[0] != 1):
		return errors.New("--ceiling-clients: must start with 1, the reference ceiling")
	case c.Ceiling && c.Client == "":
		return errors.New("--client: must name clickhouse-client")
	case c.Timeout <= 0:
		return errors.New("--timeout: must be positive")
	}
	seen := map[string]bool{}
	for _, f := range c.Formats {
		if _, err := wire.ParseFormat(f); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		if seen[f] {
			return fmt.Errorf("--format: %q given twice", f)
		}
		seen[f] = true
	}
	if err := c.ClickHouse.Validate(); err != nil {
		return err
	}
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	return c.Ingest.Validate()
}

// benchKafka returns the kafka section with its MH_KAFKA_* variables, as the server reads
// it; only the user differs by default (admin), since the benches manage their topics.
func benchKafka() (broker.Config, error) {
	all, err := config.Load("", os.Environ())
	if err != nil {
		return broker.Config{}, err
	}
	k := all.Kafka
	if _, ok := os.LookupEnv("MH_KAFKA_SASL_USERNAME"); !ok && k.SASL.Mechanism != "" {
		k.SASL.Username = "admin"
	}
	return k, nil
}

// localKafkaSecret points k at the local services' password file of its SASL user (in
// servicesDir) when k names no password.
func localKafkaSecret(k *broker.Config, servicesDir string) {
	if k.SASL.Mechanism != "" && k.SASL.Password == "" && k.SASL.PasswordFile == "" {
		k.SASL.PasswordFile = filepath.Join(servicesDir, "secrets", "kafka-"+k.SASL.Username+".password")
	}
}

// parseIngestFlags returns the configuration of args.
func parseIngestFlags(args []string, stderr io.Writer) (ingestConfig, error) {
	cfg := ingestConfig{ClickHouse: clickHouseFromEnv(), Ingest: benchIngestDefaults()}
	var err error
	if cfg.Kafka, err = benchKafka(); err != nil {
		return cfg, err
	}
	fs := flag.NewFlagSet("bench ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Int64Var(&cfg.Readings, "readings", 1_000_000, "readings to produce and ingest per format")
	fs.IntVar(&cfg.Meters, "meters", 10_000, "fleet size")
	fs.DurationVar(&cfg.Interval, "interval", 15*time.Minute, "metering interval of the fleet")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed of the fleet")
	formats := fs.String("format", "json,arrow", "message formats to measure, comma-separated: json, arrow")
	fs.IntVar(&cfg.ArrowBatch, "arrow-batch", 10_000, "readings per Arrow message")
	noCeiling := fs.Bool("no-ceiling", false, "skip the clickhouse-client ceiling")
	fs.IntVar(&cfg.CeilingBlockRows, "ceiling-block-rows", 1<<20, "rows per block of the ceiling's Native file (ClickHouse's max_insert_block_size by default)")
	ceilingClients := fs.String("ceiling-clients", "1,2", "concurrent clickhouse-clients of each ceiling measured, comma-separated, starting with 1 (e.g. 1,2)")
	fs.StringVar(&cfg.Client, "client", "clickhouse-client", "clickhouse-client executable")
	fs.StringVar(&cfg.Dir, "dir", os.TempDir(), "directory for the ceiling's Native file")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of each ingest phase to this file (format inserted before the extension)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the run's databases, topics and Native file")
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as JSON on stdout (the table goes to stderr)")
	finish := ingestFlags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("bench ingest: unexpected argument %q", fs.Arg(0))
	}
	cfg.Ceiling = !*noCeiling
	for _, item := range splitList(*ceilingClients) {
		n, err := strconv.Atoi(item)
		if err != nil || n < 1 || n > 64 {
			return cfg, fmt.Errorf("--ceiling-clients: %q is not a count from 1 to 64", item)
		}
		cfg.CeilingClients = append(cfg.CeilingClients, n)
	}
	finish()
	cfg.Formats = splitList(*formats)
	return cfg, cfg.Validate()
}

// ingestFlags defines on fs the flags of the services and of the ingest path that bench
// ingest and bench day share, over cfg. The returned function, called after fs.Parse,
// applies the flags that need it (brokers, Kafka secret, services, pool size).
func ingestFlags(fs *flag.FlagSet, cfg *ingestConfig) func() {
	fs.StringVar(&cfg.ClickHouse.Addr, "clickhouse", cfg.ClickHouse.Addr, "ClickHouse native address host:port (MH_CLICKHOUSE_ADDR)")
	brokers := fs.String("brokers", strings.Join(cfg.Kafka.Brokers, ","), "Kafka bootstrap brokers, comma-separated (MH_KAFKA_BROKERS)")
	fs.StringVar(&cfg.Kafka.SASL.Username, "kafka-user", cfg.Kafka.SASL.Username, "Kafka SASL user, who must be allowed to create and delete topics (MH_KAFKA_SASL_USERNAME)")
	fs.StringVar(&cfg.Kafka.SASL.PasswordFile, "kafka-password-file", cfg.Kafka.SASL.PasswordFile,
		"file holding the Kafka user's password (MH_KAFKA_SASL_PASSWORD_FILE; empty: <services-dir>/secrets/kafka-<user>.password, unless MH_KAFKA_SASL_PASSWORD is set)")
	fs.IntVar(&cfg.Ingest.Partitions, "partitions", cfg.Ingest.Partitions, "partitions of the bench topics")
	fs.IntVar(&cfg.Ingest.Consumers, "consumers", cfg.Ingest.Consumers, "ingest consumers (group members) in this process")
	fs.IntVar(&cfg.Ingest.BatchRows, "batch-rows", cfg.Ingest.BatchRows, "ingest batch size in readings")
	fs.DurationVar(&cfg.Ingest.FlushInterval, "flush-interval", cfg.Ingest.FlushInterval, "ingest flush interval")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Minute, "limit of each timed ingest phase")
	servicesDir := fs.String("services-dir", defaultServicesDir(), "the local services' folder (deploy/local; MH_SERVICES_HOME); their CPU time is reported when their pid files are there")
	fs.TextVar(&cfg.LogLevel, "log-level", slog.LevelWarn, "ingest log level: debug, info, warn or error")
	return func() {
		cfg.Kafka.Brokers = splitList(*brokers)
		localKafkaSecret(&cfg.Kafka, *servicesDir)
		cfg.ClickHouse.MaxOpenConns = cfg.Ingest.Consumers + 2
		if *servicesDir != "" {
			cfg.Services = []service{
				{name: "clickhouse", pidFile: filepath.Join(*servicesDir, "clickhouse", "clickhouse.pid")},
				{name: "kafka", pidFile: filepath.Join(*servicesDir, "kafka", "kafka.pid")},
			}
		}
	}
}

// benchIngestDefaults returns the production ingest defaults with the lag poll, which a
// bench does not need, slowed down.
func benchIngestDefaults() ingest.Config {
	c := ingest.DefaultConfig()
	c.LagInterval = time.Hour
	return c
}

// splitList splits a comma-separated list, dropping empty items and spaces.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// simSpan returns the first and last reading time of a fleet of meters that produces at
// least readings readings (and at least two intervals) at interval, ending at the last
// whole interval before now.
func simSpan(readings int64, meters int, interval time.Duration, now time.Time) (from, to time.Time) {
	steps := max(2, (readings+int64(meters)-1)/int64(meters)) // sim wants to after from
	to = now.UTC().Truncate(interval).Add(-interval)
	from = to.Add(-time.Duration(steps-1) * interval)
	return from, to
}

// profilePath inserts the format's name before the extension of path: cpu.prof becomes
// cpu.json.prof.
func profilePath(path, format string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "." + format + ext
}

// runID names a bench run's databases and topics: bench_ with the start time and the
// process id, so that concurrent runs never share them.
func runID() string {
	return fmt.Sprintf("bench_%s_%d", time.Now().UTC().Format("20060102T150405"), os.Getpid())
}

// ingestBench is one run of bench ingest.
type ingestBench struct {
	cfg    ingestConfig
	log    *slog.Logger
	stderr io.Writer
	// id names the run's databases (id_ceiling, id_json, …) and topics.
	id    string
	fleet sim.Config
	// before is how many readings the database held before the timed ingest (bench day's
	// history); the ingest is done when it holds before + cfg.Readings.
	before int64
}

func cmdIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseIngestFlags(args, stderr)
	if err != nil {
		return err
	}
	from, to := simSpan(cfg.Readings, cfg.Meters, cfg.Interval, time.Now())
	b := &ingestBench{
		cfg:    cfg,
		log:    slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel})),
		stderr: stderr,
		id:     runID(),
		fleet: sim.Config{Meters: cfg.Meters, From: from, To: to, Interval: cfg.Interval, Seed: cfg.Seed,
			IDPrefix: "MTR-", TimeZone: "Europe/Berlin"},
	}
	rep, err := b.run(ctx)
	if err != nil {
		return err
	}
	if cfg.JSON {
		if err := rep.writeTable(stderr); err != nil {
			return err
		}
		return rep.writeJSON(stdout)
	}
	return rep.writeTable(stdout)
}

// run measures the ceiling, then each format, and returns the report.
func (b *ingestBench) run(ctx context.Context) (*report, error) {
	rep := &report{
		Readings: b.cfg.Readings, Meters: b.cfg.Meters,
		Partitions: b.cfg.Ingest.Partitions, Consumers: b.cfg.Ingest.Consumers, BatchRows: b.cfg.Ingest.BatchRows,
		CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Started: time.Now().UTC().Truncate(time.Second),
	}
	for _, f := range b.cfg.Formats {
		if f == "arrow" {
			rep.ArrowBatch = b.cfg.ArrowBatch
		}
	}
	fmt.Fprintf(b.stderr, "bench %s: %d readings of %d meters from %s to %s\n", b.id, b.cfg.Readings, b.cfg.Meters,
		b.fleet.From.Format(time.RFC3339), b.fleet.To.Format(time.RFC3339))
	if b.cfg.Ceiling {
		for _, n := range b.cfg.CeilingClients {
			r, version, err := b.ceiling(ctx, n)
			if err != nil {
				return nil, err
			}
			rep.ClickHouse = version
			rep.add(r)
		}
	}
	for _, name := range b.cfg.Formats {
		f, err := wire.ParseFormat(name)
		if err != nil {
			return nil, err
		}
		r, version, err := b.format(ctx, f)
		if err != nil {
			return nil, err
		}
		rep.ClickHouse = version
		rep.add(r)
	}
	if b.cfg.Keep {
		fmt.Fprintf(b.stderr, "kept databases %s_*, topics %s-*, file %s/%s-*.native\n",
			b.id, strings.ReplaceAll(b.id, "_", "-"), b.cfg.Dir, b.id)
	}
	return rep, nil
}

// database creates and migrates the run's database called id_suffix, exactly as
// meterhouse migrate would, and returns its settings, a connection, the server version
// and a function that drops it (unless --keep) and closes the connection.
func (b *ingestBench) database(ctx context.Context, suffix string) (schema.Config, driver.Conn, string, func(), error) {
	cfg := b.cfg.ClickHouse
	cfg.Database = b.id + "_" + suffix
	if err := schema.EnsureDatabase(ctx, cfg); err != nil {
		return cfg, nil, "", nil, err
	}
	drop := func() {
		if b.cfg.Keep {
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := schema.DropDatabase(ctx, cfg); err != nil {
			b.log.Warn("drop bench database", "database", cfg.Database, "err", err)
		}
	}
	conn, err := schema.Connect(ctx, cfg)
	if err != nil {
		drop()
		return cfg, nil, "", nil, err
	}
	cleanup := func() {
		conn.Close()
		drop()
	}
	m, err := schema.NewMigrator(ctx, conn, b.log)
	if err == nil {
		_, err = m.Up(ctx)
	}
	if err != nil {
		cleanup()
		return cfg, nil, "", nil, err
	}
	return cfg, conn, m.Capabilities().Version.String(), cleanup, nil
}

// benchDatabase opens the database of a bench run: reuse, when set, is one an earlier run
// kept (brought up to the current migrations, never dropped); otherwise a fresh one named
// after suffix (dropped by cleanup unless keep).
func benchDatabase(ctx context.Context, ch schema.Config, reuse, suffix string, keep bool, log *slog.Logger, stderr io.Writer) (schema.Config, driver.Conn, func(), error) {
	if reuse == "" {
		b := &ingestBench{cfg: ingestConfig{ClickHouse: ch, Keep: keep}, log: log, stderr: stderr, id: runID()}
		cfg, conn, _, cleanup, err := b.database(ctx, suffix)
		return cfg, conn, cleanup, err
	}
	ch.Database = reuse
	conn, err := schema.Connect(ctx, ch)
	if err != nil {
		return ch, nil, nil, err
	}
	// A database kept by an older build may lack the newer migrations.
	m, err := schema.NewMigrator(ctx, conn, log)
	if err == nil {
		_, err = m.Up(ctx)
	}
	if err != nil {
		conn.Close()
		return ch, nil, nil, err
	}
	return ch, conn, func() { conn.Close() }, nil
}

// ceilingLabel names the ceiling measured with clients concurrent clickhouse-clients: the
// reference "ceiling" for one, "ceiling-N" for more.
func ceilingLabel(clients int) string {
	if clients == 1 {
		return ceilingName
	}
	return fmt.Sprintf("%s-%d", ceilingName, clients)
}

// ceiling measures clients concurrent clickhouse-clients inserting the run's readings,
// split between them by meter, from Native files into a fresh database.
func (b *ingestBench) ceiling(ctx context.Context, clients int) (result, string, error) {
	name := ceilingLabel(clients)
	cfg, conn, version, cleanup, err := b.database(ctx, strings.ReplaceAll(name, "-", "_"))
	if err != nil {
		return result{}, "", err
	}
	defer cleanup()
	fleet, err := sim.New(b.fleet)
	if err != nil {
		return result{}, "", err
	}
	bar := sim.NewProgress(b.stderr, name+": write Native file", b.cfg.Readings)
	paths, err := writeNativeFiles(b.cfg.Dir, b.id+"-*.native", fleet, b.cfg.Readings, b.cfg.CeilingBlockRows, clients, bar)
	bar.Done()
	if !b.cfg.Keep {
		defer func() {
			for _, p := range paths {
				os.Remove(p)
			}
		}()
	}
	if err != nil {
		return result{}, "", err
	}
	args, err := clientArgs(cfg, cfg.Database, b.cfg.Dir)
	if err != nil {
		return result{}, "", err
	}
	fmt.Fprintf(b.stderr, "%s: %s --query %q < %s\n", name, b.cfg.Client, ceilingQuery(cfg.Database), strings.Join(paths, ", "))
	bar = sim.NewProgress(b.stderr, name+": clickhouse-client", b.cfg.Readings)
	stop := b.watch(ctx, conn, cfg.Database, bar)
	svc0 := servicesCPU(b.cfg.Services)
	m, err := runClients(ctx, b.cfg.Client, args, paths)
	m.Services = cpuSince(svc0, servicesCPU(b.cfg.Services))
	stop()
	if err == nil {
		m.Readings, err = count(ctx, conn)
		bar.Set(m.Readings)
	}
	bar.Done()
	if err != nil {
		return result{}, "", err
	}
	if m.Readings != b.cfg.Readings {
		return result{}, "", fmt.Errorf("%s: %d readings stored, want %d", name, m.Readings, b.cfg.Readings)
	}
	return newResult(name, fmt.Sprintf("clickhouse-client x%d", clients), m), version, nil
}

// watch shows the readings stored in database on bar until the returned function is
// called.
func (b *ingestBench) watch(ctx context.Context, conn driver.Conn, database string, bar *sim.Progress) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if n, err := stored(ctx, conn, database); err == nil {
					bar.Set(n)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// stored returns how many rows the active parts of database.readings hold: cheap, from
// the parts' metadata, so polling it does not load the server. It counts a reading twice
// until a merge removes a duplicate; the bench produces none.
func stored(ctx context.Context, conn driver.Conn, database string) (int64, error) {
	var n uint64
	err := conn.QueryRow(ctx, "SELECT sum(rows) FROM system.parts WHERE database = ? AND table = 'readings' AND active", database).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count stored readings: %w", err)
	}
	return int64(n), nil
}

// count returns the number of distinct readings in the connection's readings table.
func count(ctx context.Context, conn driver.Conn) (int64, error) {
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM readings FINAL").Scan(&n); err != nil {
		return 0, fmt.Errorf("count readings: %w", err)
	}
	return int64(n), nil
}

// format measures one message format: it produces the readings to a fresh topic (not
// timed), then times the production ingest path until every reading is stored.
func (b *ingestBench) format(ctx context.Context, mf wire.Format) (result, string, error) {
	name := string(mf)
	cfg, conn, version, cleanup, err := b.database(ctx, name)
	if err != nil {
		return result{}, "", err
	}
	defer cleanup()

	icfg, drop, err := b.topic(ctx, name)
	if err != nil {
		return result{}, "", err
	}
	defer drop()

	fleet, err := sim.New(b.fleet)
	if err != nil {
		return result{}, "", err
	}
	w, err := newProducer(b.cfg.Kafka, icfg.Topic)
	if err != nil {
		return result{}, "", err
	}
	bar := sim.NewProgress(b.stderr, name+": produce", b.cfg.Readings)
	err = produce(ctx, w, fleet, b.cfg.Readings, mf, b.cfg.ArrowBatch, icfg.Partitions, chunkReadings, 0, bar.Set)
	bar.Done()
	if cerr := w.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("produce %s: %w", name, cerr)
	}
	if err != nil {
		return result{}, "", err
	}

	m, err := b.timeIngest(ctx, icfg, cfg, conn, name)
	if err != nil {
		return result{}, "", err
	}
	n, err := count(ctx, conn)
	if err != nil {
		return result{}, "", err
	}
	if n != b.cfg.Readings {
		return result{}, "", fmt.Errorf("%s: %d distinct readings stored, want %d", name, n, b.cfg.Readings)
	}
	return newResult(name, "bench (in-process ingest)", m), version, nil
}

// topic creates the run's topic named after name (and its dead-letter topic), waits until
// it can be produced to, and returns the ingest settings that consume it with a group of
// its own and a function that deletes both topics (unless --keep).
func (b *ingestBench) topic(ctx context.Context, name string) (ingest.Config, func(), error) {
	icfg := b.cfg.Ingest
	icfg.Topic = strings.ReplaceAll(b.id, "_", "-") + "-" + name
	icfg.DLQTopic = icfg.Topic + "-dlq"
	icfg.GroupID = icfg.Topic
	if err := ingest.EnsureTopics(ctx, b.cfg.Kafka, icfg.Topics()...); err != nil {
		return icfg, nil, err
	}
	drop := func() {
		if !b.cfg.Keep {
			b.deleteTopics(ctx, icfg.Topic, icfg.DLQTopic)
		}
	}
	if err := b.waitTopic(ctx, icfg.Topic, icfg.Partitions); err != nil {
		drop()
		return icfg, nil, err
	}
	return icfg, drop, nil
}

// newIngester builds the production ingest path of icfg writing into the database of
// chcfg, with its own connection pool (one connection per consumer), and returns it with
// a function that closes the pool.
func (b *ingestBench) newIngester(ctx context.Context, icfg ingest.Config, chcfg schema.Config) (*ingest.Ingester, func(), error) {
	chcfg.MaxOpenConns = icfg.Consumers
	wconn, err := schema.Connect(ctx, chcfg)
	if err != nil {
		return nil, nil, err
	}
	closeConn := func() { wconn.Close() }
	w, err := ingest.NewClickHouseWriter(wconn)
	if err != nil {
		closeConn()
		return nil, nil, err
	}
	metrics, err := ingest.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		closeConn()
		return nil, nil, err
	}
	in, err := ingest.New(icfg, b.cfg.Kafka, w, b.log.With("component", "ingest"), metrics)
	if err != nil {
		closeConn()
		return nil, nil, err
	}
	return in, closeConn, nil
}

// phaseClock measures one timed phase: wall time, this process's CPU time and peak
// memory, and the local services' CPU time.
type phaseClock struct {
	services []service
	cpu0     time.Duration
	svc0     map[string]time.Duration
	start    time.Time
}

// startPhase collects the garbage of what came before (so that it stays out of the
// phase's peak memory), restarts the peak memory count and starts the clocks.
func startPhase(services []service, log *slog.Logger) (phaseClock, error) {
	runtime.GC()
	debug.FreeOSMemory()
	if err := resetPeakRSS(); err != nil {
		log.Warn("peak memory will include what came before the phase", "err", err)
	}
	cpu0, err := selfCPU()
	if err != nil {
		return phaseClock{}, err
	}
	return phaseClock{services: services, cpu0: cpu0, svc0: servicesCPU(services), start: time.Now()}, nil
}

// stop returns the phase's measurement so far, with readings as its readings.
func (c phaseClock) stop(readings int64) (measurement, error) {
	m := measurement{Readings: readings, Elapsed: time.Since(c.start)}
	m.Services = cpuSince(c.svc0, servicesCPU(c.services))
	cpu1, err := selfCPU()
	if err != nil {
		return m, err
	}
	m.CPU = cpu1 - c.cpu0
	m.PeakRSS, err = peakRSS()
	return m, err
}

// timeIngest runs the ingest of icfg into the database of chcfg until its readings table
// holds every reading, and measures that phase: wall time, this process's CPU time and
// peak memory.
func (b *ingestBench) timeIngest(ctx context.Context, icfg ingest.Config, chcfg schema.Config, conn driver.Conn, name string) (measurement, error) {
	// The writers get their own pool; conn serves the polls.
	in, closeIngester, err := b.newIngester(ctx, icfg, chcfg)
	if err != nil {
		return measurement{}, err
	}
	defer closeIngester()
	profile := ""
	if b.cfg.CPUProfile != "" {
		profile = profilePath(b.cfg.CPUProfile, name)
	}
	stopProfile, err := startCPUProfile(profile)
	if err != nil {
		return measurement{}, err
	}
	defer stopProfile()

	tctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	runCtx, stopRun := context.WithCancel(tctx)
	defer stopRun()
	// Leave the production phase's garbage out of the measured memory.
	clock, err := startPhase(b.cfg.Services, b.log)
	if err != nil {
		return measurement{}, err
	}
	runErr := make(chan error, 1)
	go func() { runErr <- in.Run(runCtx) }()

	bar := sim.NewProgress(b.stderr, name+": ingest", b.cfg.Readings)
	m, err := b.await(tctx, conn, chcfg.Database, clock.start, bar, runErr)
	bar.Done()
	if err == nil {
		var phase measurement
		phase, err = clock.stop(m.Readings)
		m.CPU, m.PeakRSS, m.Services = phase.CPU, phase.PeakRSS, phase.Services
	}
	stopRun()
	if rerr := <-runErr; err == nil && rerr != nil {
		err = fmt.Errorf("%s: ingest: %w", name, rerr)
	}
	return m, err
}

// await polls database until its readings table holds every reading (b.before and
// b.cfg.Readings more), and returns the wall time since start and the readings added. It fails when ctx ends or ingest stops first.
func (b *ingestBench) await(ctx context.Context, conn driver.Conn, database string, start time.Time, bar *sim.Progress, runErr <-chan error) (measurement, error) {
	var m measurement
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return m, fmt.Errorf("ingest did not store %d readings in %s (dead letters? see the topic's -dlq): %w",
				b.cfg.Readings, b.cfg.Timeout, ctx.Err())
		case err := <-runErr:
			return m, fmt.Errorf("ingest stopped early: %w", err)
		case <-t.C:
		}
		n, err := stored(ctx, conn, database)
		if err != nil {
			continue // the next poll retries; ctx bounds the wait
		}
		n -= b.before
		bar.Set(n)
		if n > 0 && m.FirstRow == 0 {
			m.FirstRow = time.Since(start)
		}
		if n >= b.cfg.Readings {
			m.Elapsed = time.Since(start)
			m.Readings = n
			return m, nil
		}
	}
}

// deleteTopics removes the run's topics.
func (b *ingestBench) deleteTopics(ctx context.Context, topics ...string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	client, err := b.cfg.Kafka.Client(30 * time.Second)
	if err != nil {
		b.log.Warn("delete bench topics", "topics", topics, "err", err)
		return
	}
	res, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
	if err == nil {
		for _, e := range res.Errors {
			err = errors.Join(err, e)
		}
	}
	if err != nil {
		b.log.Warn("delete bench topics", "topics", topics, "err", err)
	}
}

// waitTopic waits until every partition of a new topic has a leader, so that producing
// to it succeeds right away.
func (b *ingestBench) waitTopic(ctx context.Context, topic string, partitions int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client, err := b.cfg.Kafka.Client(10 * time.Second)
	if err != nil {
		return err
	}
	for {
		meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err == nil && len(meta.Topics) == 1 && meta.Topics[0].Error == nil && len(meta.Topics[0].Partitions) == partitions {
			ready := true
			for _, p := range meta.Topics[0].Partitions {
				ready = ready && p.Error == nil && p.Leader.ID >= 0
			}
			if ready {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s not ready: %w", topic, errors.Join(ctx.Err(), err))
		case <-time.After(100 * time.Millisecond):
		}
	}
}
