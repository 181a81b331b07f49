package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"golang.org/x/sync/errgroup"

	"github.com/meterhouse/meterhouse/api"
	forecastjob "github.com/meterhouse/meterhouse/forecast/job"
	"github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
	veejob "github.com/meterhouse/meterhouse/vee/job"
)

// dayConfig is what bench day measures and how.
type dayConfig struct {
	// Meters is the fleet size.
	Meters int
	// HistoryDays is how many days of readings precede the new day.
	HistoryDays int
	// Format is the message format of the new day's readings: arrow or json.
	Format string
	// QueryWarmup and QueryDuration are the unmeasured and measured time of each query
	// scenario in the query phase.
	QueryWarmup, QueryDuration time.Duration
	// QueryLog prints the VEE phase's statements from system.query_log.
	QueryLog bool
	// SetupStatements is how many of the set-up's history statements (one day of a range
	// of meters each) the server runs at a time.
	SetupStatements int
	// MergeLimit bounds the wait for background merges (untimed after the history load,
	// timed as the merges phase after the forecast).
	MergeLimit time.Duration
	// Bench holds the services, the ingest settings, the Arrow batch size, the timeout
	// of the ingest phase, --keep and --json; its Readings and Meters are set from the
	// fleet.
	Bench ingestConfig
}

// Validate reports the first setting that cannot work, naming its flag.
func (c dayConfig) Validate() error {
	switch {
	case c.Meters < 1 || c.Meters > 2_000_000:
		return errors.New("--meters: must be between 1 and 2000000")
	case c.HistoryDays < 1 || c.HistoryDays > 60:
		return errors.New("--days-history: must be between 1 and 60")
	case c.Format != string(wire.Arrow) && c.Format != string(wire.JSON):
		return fmt.Errorf("--format: %q is neither arrow nor json", c.Format)
	case c.QueryWarmup < 0 || c.QueryDuration <= 0:
		return errors.New("--query-warmup, --query-duration: want no negative warm-up and a positive duration")
	case c.SetupStatements < 1 || c.SetupStatements > 16:
		return errors.New("--setup-statements: must be between 1 and 16")
	case c.MergeLimit < 0:
		return errors.New("--merge-limit: must not be negative")
	}
	b := c.Bench
	b.Readings, b.Meters, b.Formats, b.Ceiling = 1, 1, []string{c.Format}, false
	return b.Validate()
}

func parseDayFlags(args []string, stderr io.Writer) (dayConfig, error) {
	cfg := dayConfig{Bench: ingestConfig{ClickHouse: clickHouseFromEnv(), Ingest: benchIngestDefaults(), Interval: 15 * time.Minute, Seed: 1}}
	var err error
	if cfg.Bench.Kafka, err = benchKafka(); err != nil {
		return cfg, err
	}
	fs := flag.NewFlagSet("bench day", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Meters, "meters", 100_000, "fleet size")
	fs.IntVar(&cfg.HistoryDays, "days-history", 28, "days of readings before the new day (loaded server-side and validated, untimed)")
	fs.StringVar(&cfg.Format, "format", "arrow", "message format of the new day's readings: arrow or json")
	fs.IntVar(&cfg.Bench.ArrowBatch, "arrow-batch", 10_000, "readings per Arrow message")
	fs.DurationVar(&cfg.QueryWarmup, "query-warmup", 2*time.Second, "unmeasured time before each query scenario")
	fs.DurationVar(&cfg.QueryDuration, "query-duration", 10*time.Second, "measured time of each query scenario")
	fs.DurationVar(&cfg.Bench.ClickHouse.ReadTimeout, "read-timeout", cfg.Bench.ClickHouse.ReadTimeout, "clickhouse.read_timeout of the run's connections (a longer one lets a run at a million meters finish, and --query-log shows which statements needed it)")
	fs.BoolVar(&cfg.QueryLog, "query-log", false, "print the VEE phase's statements from system.query_log (durations, rows read and written) to stderr")
	fs.IntVar(&cfg.SetupStatements, "setup-statements", 2, "history statements (one day of a range of meters each) the server runs at a time in the untimed set-up")
	fs.DurationVar(&cfg.MergeLimit, "merge-limit", 10*time.Minute, "longest wait for background merges")
	fs.BoolVar(&cfg.Bench.Keep, "keep", false, "keep the run's database and topics")
	fs.BoolVar(&cfg.Bench.JSON, "json", false, "print the report as JSON on stdout (the table goes to stderr)")
	finish := ingestFlags(fs, &cfg.Bench)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("bench day: unexpected argument %q", fs.Arg(0))
	}
	finish()
	return cfg, cfg.Validate()
}

// historyOffset is added to every register of the fleet, so that the history computed
// backwards from the fleet's starting registers (below 50 MWh) never goes negative: 60
// days of an industrial meter at 1.5 times its class's mean take about 324 MWh.
const historyOffset = 1_000_000_000

// veeSettle is the VEE job's settle in the bench: it only waits for the bench's own
// inserts, which have returned when the job runs.
const veeSettle = time.Second

// offsetSource adds offset to every register of src.
type offsetSource struct {
	src    wire.Source
	offset int64
}

// Next implements wire.Source.
func (s offsetSource) Next(r *schema.Reading) bool {
	if !s.src.Next(r) {
		return false
	}
	r.RegisterWh += s.offset
	return true
}

// historySQL returns the INSERT that writes the readings of steps first+1 … first+count
// (counted backwards, 15-minute steps) before the starting register stamped at t0 of
// every meter of the registry, computed by the server: step k of a meter of class mean L
// Wh per interval is t0 − k·interval with the register k·L + h(k) below the start,
// h(k) a hash in [0, L/2), so that each interval takes between L/2 and 3L/2 and the
// registers rise strictly towards the start.
//
// meters is the condition on meter_id of the meters it writes (a meterRange's).
func historySQL(database string, t0 time.Time, interval time.Duration, first, count int, levels map[string]float64, meters string) string {
	level := levelSQL(levels, interval)
	return fmt.Sprintf(`INSERT INTO %[1]s.readings (meter_id, ts, register_wh, quality)
SELECT meter_id, toDateTime(%[2]d - k * %[3]d), register_wh - (k * L + toInt64(cityHash64(meter_id, k) %% intDiv(L, 2))), toUInt8(0)
FROM (
  SELECT meter_id, register_wh, L
  FROM (SELECT meter_id, register_wh FROM %[1]s.readings WHERE ts = toDateTime(%[2]d) AND (%[7]s))
  ANY INNER JOIN (SELECT meter_id, %[4]s AS L FROM %[1]s.meters WHERE %[7]s) USING meter_id
)
ARRAY JOIN arrayMap(x -> x + %[5]d, range(%[6]d)) AS k`,
		database, t0.Unix(), int64(interval/time.Second), level, first+1, count, meters)
}

// setupRows bounds the rows one set-up statement writes: half a minute or less here
// (two statements at a time wrote 0.6 to 0.87 million history readings a second at a
// million meters), inside the client's five-minute read timeout, which a day of a
// million meters' readings in one statement exceeded.
const setupRows = 10_000_000

// meterRange is a contiguous range of the registry's meter ids, which the set-up writes
// in one statement per day.
type meterRange struct {
	// Cond is the SQL condition on meter_id that selects the range ("1" for all).
	Cond string
	// Meters is how many meters it holds.
	Meters int
}

// meterRanges splits ids into ranges of at most per meters in their sorted order. Each
// statement over a range reads only its part of the tables ordered by meter, and the
// ranges together select every id once. The ids are valid meter ids
// (schema.ValidMeterID), which need no quoting.
func meterRanges(ids []string, per int) []meterRange {
	per = max(1, per)
	if len(ids) <= per {
		return []meterRange{{Cond: "1", Meters: len(ids)}}
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	var out []meterRange
	for lo := 0; lo < len(sorted); lo += per {
		hi := min(lo+per, len(sorted))
		var conds []string
		if lo > 0 {
			conds = append(conds, "meter_id >= '"+sorted[lo]+"'")
		}
		if hi < len(sorted) {
			conds = append(conds, "meter_id < '"+sorted[hi]+"'")
		}
		out = append(out, meterRange{Cond: strings.Join(conds, " AND "), Meters: hi - lo})
	}
	return out
}

// levelSQL returns the expression of a meter's mean energy per interval L in Wh (at
// least 2), from its customer_class and the classes' mean power levels in W.
func levelSQL(levels map[string]float64, interval time.Duration) string {
	names := make([]string, 0, len(levels))
	for n := range levels {
		names = append(names, n)
	}
	sort.Strings(names)
	var cases []string
	for _, n := range names {
		cases = append(cases, fmt.Sprintf("customer_class = '%s', %d", n, max(2, int64(levels[n]*interval.Hours()))))
	}
	return fmt.Sprintf("toInt64(multiIf(%s, %d))", strings.Join(cases, ", "), max(2, int64(levels[names[0]]*interval.Hours())))
}

// dayTarget is one of the targets beside its measured figure.
type dayTarget struct {
	Name     string `json:"name"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// dayReport is the outcome of one bench day run.
type dayReport struct {
	Meters      int    `json:"meters"`
	HistoryDays int    `json:"history_days"`
	Format      string `json:"format"`
	// Day is the new day (UTC) and Readings its readings.
	Day      string `json:"day"`
	Readings int64  `json:"readings"`
	CPUs     int    `json:"cpus"`
	Database string `json:"database"`
	// SetupSeconds is the untimed set-up: registry, history readings, the VEE job over
	// them, producing the day and the query phase's load.
	SetupSeconds float64 `json:"setup_seconds"`
	// HistorySeconds is the part of the set-up the server took to write the history's
	// validated consumption.
	HistorySeconds float64 `json:"history_validated_seconds"`
	// Phases are the timed phases of the day: ingest, vee, forecast, merges; their rates
	// and CPU per million are per reading of the new day.
	Phases []result `json:"phases"`
	// Total sums the phases (peak memory: the largest).
	Total result `json:"total"`
	// VEEMeters and VEEWindows are what the VEE phase validated; ForecastMeters what the
	// forecast phase forecast (by method).
	VEEMeters       int            `json:"vee_meters"`
	VEEWindows      int            `json:"vee_windows"`
	VEEMetersPerSec float64        `json:"vee_meters_per_second"`
	ForecastMethods map[string]int `json:"forecast_methods"`
	ForecastFailed  int            `json:"forecast_failed"`
	// Query is the separately timed query phase: ingest of another fleet's readings paced
	// at IngestTarget readings/s (half the ingest phase's rate) while the scenarios run.
	Query         result        `json:"query_phase"`
	IngestTarget  float64       `json:"query_ingest_target_per_second"`
	QueryResults  []queryResult `json:"query_results"`
	Targets       []dayTarget   `json:"targets"`
	ClickHouseVer string        `json:"clickhouse"`
	// MemoryLimitMiB is the Go runtime's soft memory limit of the run (GOMEMLIMIT), 0
	// when there is none.
	MemoryLimitMiB int64 `json:"go_memory_limit_mib"`
}

// sumMeasurements adds up the wall and CPU times of ms, keeps the largest peak memory,
// and counts readings readings.
func sumMeasurements(ms []measurement, readings int64) measurement {
	total := measurement{Readings: readings}
	for _, m := range ms {
		total.Elapsed += m.Elapsed
		total.CPU += m.CPU
		total.PeakRSS = max(total.PeakRSS, m.PeakRSS)
		for k, v := range m.Services {
			if total.Services == nil {
				total.Services = map[string]time.Duration{}
			}
			total.Services[k] += v
		}
	}
	return total
}

// The targets on the reference machine at a million meters.
const (
	targetVEEMetersPerSec = 3300
	targetDaySeconds      = 15 * 60
	targetDayMeters       = 1_000_000
	targetPeakRSS         = 2 << 30
	targetQueryP99        = 15 * time.Millisecond
)

// judge sets rp.Targets from its figures. The whole day's 15 minutes are for a million
// meters; at other sizes the bound is scaled linearly, and the report says so. Peak
// memory is that of the day's phases (the query phase also holds its load's simulated
// fleet); it includes the simulated fleet of the day, about 270 bytes a meter, which a
// meterhouse process does not hold.
func (rp *dayReport) judge() {
	peak := rp.Total.PeakRSSBytes
	dayBound := targetDaySeconds * float64(rp.Meters) / targetDayMeters
	rp.Targets = []dayTarget{
		{Name: "VEE", Target: fmt.Sprintf(">= %d meters/s", targetVEEMetersPerSec),
			Measured: thousands(rp.VEEMetersPerSec) + " meters/s", Met: rp.VEEMetersPerSec >= targetVEEMetersPerSec},
		{Name: "whole day", Target: fmt.Sprintf("<= %d s at %s meters (%.1f s scaled linearly to %s)", targetDaySeconds, thousands(targetDayMeters), dayBound, thousands(float64(rp.Meters))),
			Measured: fmt.Sprintf("%.1f s", rp.Total.Seconds), Met: rp.Total.Seconds <= dayBound},
		{Name: "peak memory (day phases)", Target: "<= 2048 MiB", Measured: fmt.Sprintf("%.0f MiB", float64(peak)/(1<<20)), Met: peak <= targetPeakRSS},
	}
	for _, q := range rp.QueryResults {
		if q.Scenario == "meter-month-1h" && q.Clients == 1 {
			rp.Targets = append(rp.Targets, dayTarget{Name: "meter-month-1h p99 under ingest", Target: fmt.Sprintf("<= %s", targetQueryP99),
				Measured: fmt.Sprintf("%.2f ms", q.P99), Met: q.Requests > 0 && q.P99 <= float64(targetQueryP99)/float64(time.Millisecond)})
		}
	}
}

// writeTable writes rp as aligned text tables: the phases, the query phase, the targets.
func (rp *dayReport) writeTable(w io.Writer) error {
	limit := "none"
	if rp.MemoryLimitMiB > 0 {
		limit = fmt.Sprintf("%d MiB", rp.MemoryLimitMiB)
	}
	fmt.Fprintf(w, "bench day %s: %d meters × 96 readings (%s), %d days of history; %d CPUs, ClickHouse %s, GOMEMLIMIT %s; database %s; set-up (untimed) %.1f s, of which writing the validated history %.1f s\n",
		rp.Day, rp.Meters, rp.Format, rp.HistoryDays, rp.CPUs, rp.ClickHouseVer, limit, rp.Database, rp.SetupSeconds, rp.HistorySeconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\treadings\tseconds\treadings/s\tCPU s/M\tClickHouse CPU s/M\tKafka CPU s/M\tpeak RSS MiB\t")
	for _, r := range append(append(append([]result{}, rp.Phases...), rp.Total), rp.Query) {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%s\t%.2f\t%s\t%s\t%.0f\t\n", r.Name, r.Readings, r.Seconds, thousands(r.ReadingsPerSecond),
			r.CPUSecondsPerMillion, serviceCPU(r, "clickhouse"), serviceCPU(r, "kafka"), float64(r.PeakRSSBytes)/(1<<20))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "VEE: %d meters, %d windows, %s meters/s; forecast: %v (failed %d)\n", rp.VEEMeters, rp.VEEWindows, thousands(rp.VEEMetersPerSec), rp.ForecastMethods, rp.ForecastFailed)
	fmt.Fprintf(w, "query phase: ingest paced at %s readings/s (half the ingest phase), reached %s readings/s; the process's CPU includes the paced producer\n",
		thousands(rp.IngestTarget), thousands(rp.Query.ReadingsPerSecond))
	q := &queryReport{Database: rp.Database, Readings: rp.Readings, Meters: rp.Meters, CPUs: rp.CPUs, Results: rp.QueryResults}
	if err := q.writeTable(w); err != nil {
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tbound\tmeasured\tverdict")
	for _, t := range rp.Targets {
		verdict := "missed"
		if t.Met {
			verdict = "met"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Target, t.Measured, verdict)
	}
	return tw.Flush()
}

// dayBench is one run of bench day.
type dayBench struct {
	cfg    dayConfig
	ib     *ingestBench
	log    *slog.Logger
	stderr io.Writer
	// day is the new day (00:00 UTC); its readings are stamped day+15m … day+24h.
	day   time.Time
	chcfg schema.Config
	conn  driver.Conn
	rep   *dayReport
}

func cmdDay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseDayFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.Bench.LogLevel}))
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	bc := cfg.Bench
	bc.Meters, bc.Readings = cfg.Meters, int64(cfg.Meters)*96
	ib := &ingestBench{cfg: bc, log: log, stderr: stderr, id: runID(),
		fleet: sim.Config{Meters: cfg.Meters, From: day, To: day.Add(24 * time.Hour), Interval: 15 * time.Minute, Seed: bc.Seed,
			IDPrefix: "MTR-", TimeZone: "UTC"}}
	b := &dayBench{cfg: cfg, ib: ib, log: log, stderr: stderr, day: day, rep: &dayReport{Meters: cfg.Meters, HistoryDays: cfg.HistoryDays,
		Format: cfg.Format, Day: day.Format(time.DateOnly), Readings: bc.Readings, CPUs: runtime.NumCPU(),
		MemoryLimitMiB: memoryLimitMiB()}}
	if err := b.run(ctx); err != nil {
		return err
	}
	if cfg.Bench.Keep {
		fmt.Fprintf(stderr, "kept database %s and topics %s-day, %s-load (and their -dlq)\n", b.rep.Database,
			strings.ReplaceAll(ib.id, "_", "-"), strings.ReplaceAll(ib.id, "_", "-"))
	}
	b.rep.judge()
	if cfg.Bench.JSON {
		if err := b.rep.writeTable(stderr); err != nil {
			return err
		}
		return writeJSONDoc(stdout, b.rep)
	}
	return b.rep.writeTable(stdout)
}

// run sets up the day, then times its phases and the query phase.
func (b *dayBench) run(ctx context.Context) error {
	setup := time.Now()
	chcfg, conn, version, cleanup, err := b.ib.database(ctx, "day")
	if err != nil {
		return err
	}
	defer cleanup()
	b.chcfg, b.conn, b.rep.Database, b.rep.ClickHouseVer = chcfg, conn, chcfg.Database, version
	a, token, err := newApp(ctx, chcfg, conn, b.log)
	if err != nil {
		return err
	}
	defer a.Close()
	vcfg := veejob.DefaultConfig()
	vcfg.Interval, vcfg.Settle = 0, veeSettle
	vj, err := veejob.New(vcfg, conn, b.log.With("component", "vee"))
	if err != nil {
		return err
	}

	fleet, err := sim.New(b.ib.fleet)
	if err != nil {
		return err
	}
	if err := b.loadHistory(ctx, fleet); err != nil {
		return err
	}
	dayCfg, dropDay, err := b.ib.topic(ctx, "day")
	if err != nil {
		return err
	}
	defer dropDay()
	if err := b.produceDay(ctx, fleet, dayCfg.Topic, dayCfg.Partitions); err != nil {
		return err
	}
	settle(ctx, conn, chcfg.Database, b.cfg.MergeLimit, b.stderr)
	b.rep.SetupSeconds = time.Since(setup).Seconds()

	// Timed: ingest until stored.
	if b.ib.before, err = stored(ctx, conn, chcfg.Database); err != nil {
		return err
	}
	ingestM, err := b.ib.timeIngest(ctx, dayCfg, chcfg, conn, b.cfg.Format)
	if err != nil {
		return err
	}
	if ingestM.Readings != b.rep.Readings {
		return fmt.Errorf("ingest stored %d readings, want %d", ingestM.Readings, b.rep.Readings)
	}
	phases := []measurement{ingestM}
	names := []string{"ingest"}

	// Timed: the VEE job's incremental run over the new day.
	time.Sleep(veeSettle + time.Second) // untimed: the readings settle for the job
	fmt.Fprintln(b.stderr, "day: VEE job (incremental) …")
	clock, err := startPhase(b.ib.cfg.Services, b.log)
	if err != nil {
		return err
	}
	veeStart := time.Now()
	// The job's statements are logged in system.query_log (log_queries: one row each),
	// for --query-log.
	res, err := vj.Run(clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"log_queries": 1})))
	if err != nil {
		return fmt.Errorf("VEE job: %w", err)
	}
	m, err := clock.stop(b.rep.Readings)
	if err != nil {
		return err
	}
	if b.cfg.QueryLog {
		if err := printQueryLog(ctx, conn, chcfg.Username, veeStart, b.stderr, b.stderr); err != nil {
			return err
		}
	}
	if res.Windows == 0 {
		return errors.New("VEE job: the incremental run found no new window")
	}
	b.rep.VEEMeters, b.rep.VEEWindows = res.Meters, res.Windows
	b.rep.VEEMetersPerSec = float64(res.Meters) / m.Elapsed.Seconds()
	phases, names = append(phases, m), append(names, "vee")

	// Timed: the forecast of the next day, issued at the end of the new day.
	fcfg := forecastjob.DefaultConfig()
	fcfg.ValidationDays = max(1, min(fcfg.ValidationDays, b.cfg.HistoryDays-10))
	fcfg.HistoryDays = max(b.cfg.HistoryDays, 10+fcfg.ValidationDays)
	fcfg.ScoreDays = 0
	fj, err := forecastjob.New(fcfg, conn, a.Calendars(), a.Weather(), b.log.With("component", "forecast"))
	if err != nil {
		return err
	}
	fmt.Fprintln(b.stderr, "day: forecast job …")
	if clock, err = startPhase(b.ib.cfg.Services, b.log); err != nil {
		return err
	}
	fres, err := fj.Run(ctx, b.day.Add(24*time.Hour), forecastjob.Options{})
	if err != nil {
		return fmt.Errorf("forecast job: %w", err)
	}
	if m, err = clock.stop(b.rep.Readings); err != nil {
		return err
	}
	b.rep.ForecastMethods, b.rep.ForecastFailed = fres.Meters, fres.Failed
	phases, names = append(phases, m), append(names, "forecast")

	// Timed: until the day's merges have settled.
	if clock, err = startPhase(b.ib.cfg.Services, b.log); err != nil {
		return err
	}
	settle(ctx, conn, chcfg.Database, b.cfg.MergeLimit, b.stderr)
	if m, err = clock.stop(b.rep.Readings); err != nil {
		return err
	}
	phases, names = append(phases, m), append(names, "merges")

	for i, m := range phases {
		b.rep.Phases = append(b.rep.Phases, newResult(names[i], "bench (in-process)", m))
	}
	b.rep.Total = newResult("total", "bench (in-process)", sumMeasurements(phases, b.rep.Readings))
	return b.queryPhase(ctx, a.Server(), token, fleet.Meters(), b.rep.Phases[0].ReadingsPerSecond/2)
}

// loadHistory writes the registry and the history: the fleet's starting registers
// (stamped at the start of the new day, raised by historyOffset) and, computed by the
// server from them, the HistoryDays days of readings before; then the history's validated
// consumption (15m and 1d rows and the day profiles, as the VEE job writes a series
// without gaps), also computed by the server, and a VEE run record whose watermark is
// past the history's readings, so that the timed VEE run is the incremental one over the
// new day alone. Running the VEE job itself over 28 days of 100 000 meters would take
// longer than the day it prepares.
func (b *dayBench) loadHistory(ctx context.Context, fleet *sim.Fleet) error {
	fmt.Fprintf(b.stderr, "day: registry and %d days of history of %d meters in %s …\n", b.cfg.HistoryDays, b.cfg.Meters, b.chcfg.Database)
	if err := schema.InsertMeters(ctx, b.conn, fleet.Meters()); err != nil {
		return err
	}
	if err := insertFirst(ctx, b.conn, offsetSource{src: fleet, offset: historyOffset}, b.cfg.Meters); err != nil {
		return fmt.Errorf("insert the starting registers: %w", err)
	}
	steps := int(24 * time.Hour / b.ib.fleet.Interval)
	ids := make([]string, 0, b.cfg.Meters)
	for _, m := range fleet.Meters() {
		ids = append(ids, m.MeterID)
	}
	ranges := meterRanges(ids, setupRows/steps)
	bar := sim.NewProgress(b.stderr, "day: history readings", int64(b.cfg.HistoryDays*steps*b.cfg.Meters))
	var written atomic.Int64
	err := eachStatement(ctx, b.cfg.HistoryDays*len(ranges), b.cfg.SetupStatements, func(ctx context.Context, i int) error {
		d, r := i/len(ranges), ranges[i%len(ranges)]
		if err := b.conn.Exec(ctx, historySQL(b.chcfg.Database, b.day, b.ib.fleet.Interval, d*steps, steps, sim.MeanPower(), r.Cond)); err != nil {
			return fmt.Errorf("load the history: %w", err)
		}
		bar.Set(written.Add(int64(steps * r.Meters)))
		return nil
	})
	bar.Done()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := writeValidatedHistory(ctx, b.conn, b.chcfg.Database, b.day, b.cfg.HistoryDays, ranges, b.cfg.SetupStatements); err != nil {
		return err
	}
	b.rep.HistorySeconds = time.Since(start).Seconds()
	fmt.Fprintf(b.stderr, "day: validated history written in %s\n", time.Since(start).Round(time.Second))
	time.Sleep(veeSettle + time.Second)
	if err := b.conn.Exec(ctx, `INSERT INTO vee_runs (run_id, kind, started_at, finished_at, watermark, computed_at, meters, windows, intervals)
SELECT 'bench-history', 'incremental', now(), now(), now() - 1, now() - 1, 0, 0, 0`); err != nil {
		return fmt.Errorf("record the history's VEE run: %w", err)
	}
	time.Sleep(veeSettle + time.Second)
	return nil
}

// validatedHistorySQL returns the INSERT that writes the validated 15m rows of the
// readings historySQL writes at steps first+1 … first+count before t0 (15 minutes each)
// of the meters that match the condition meters: the row of step k starts at
// t0 − k·15 min and holds the register's advance to step k − 1, L + h(k) − h(k − 1) with
// h(0) = 0 (the starting register is the fleet's own), measured and valid, as the job
// writes a series without gaps.
func validatedHistorySQL(database string, t0 time.Time, first, count int, levels map[string]float64, meters string) string {
	level := levelSQL(levels, 15*time.Minute)
	return fmt.Sprintf(`INSERT INTO %[1]s.consumption (resolution, meter_id, start, wh, quality, intervals, expected_intervals, estimated, edited, questionable, flags, reasons, computed_at)
SELECT '15m', meter_id, toDateTime(%[2]d - k * 900),
  L + toInt64(cityHash64(meter_id, k) %% intDiv(L, 2)) - if(k = 1, 0, toInt64(cityHash64(meter_id, k - 1) %% intDiv(L, 2))),
  toUInt8(0), toUInt32(1), toUInt32(1), toUInt32(0), toUInt32(0), toUInt32(0), emptyArrayString(), emptyArrayString(), now() - 10
FROM (SELECT meter_id, %[3]s AS L FROM %[1]s.meters WHERE %[6]s)
ARRAY JOIN arrayMap(x -> x + %[4]d, range(%[5]d)) AS k`, database, t0.Unix(), level, first+1, count, meters)
}

// writeValidatedHistory writes the validated 15m rows, 1d rows and profiles of the days
// UTC days before t0, one statement of each per day and meter range, parallel (day,
// range) pairs at a time; a pair's three statements run in order, as its 1d rows and
// profiles are computed from its 15m rows.
func writeValidatedHistory(ctx context.Context, conn driver.Conn, database string, t0 time.Time, days int, ranges []meterRange, parallel int) error {
	const steps = 96
	return eachStatement(ctx, days*len(ranges), parallel, func(ctx context.Context, i int) error {
		d, r := i/len(ranges), ranges[i%len(ranges)]
		if err := conn.Exec(ctx, validatedHistorySQL(database, t0, d*steps, steps, sim.MeanPower(), r.Cond)); err != nil {
			return fmt.Errorf("write the history's 15m rows: %w", err)
		}
		day := t0.AddDate(0, 0, -1-d).Format(time.DateTime)
		if err := conn.Exec(ctx, fmt.Sprintf(veeDailySQL, day, r.Cond)); err != nil {
			return fmt.Errorf("write the history's 1d rows: %w", err)
		}
		if err := conn.Exec(ctx, fmt.Sprintf(veeProfilesSQL, day, r.Cond)); err != nil {
			return fmt.Errorf("write the history's profiles: %w", err)
		}
		return nil
	})
}

// eachStatement calls fn for 0 … n−1, at most parallel at a time, and returns the first
// error (the other calls' context is then cancelled). Two history statements at a time
// wrote 1.09 million readings a second here, one at a time 0.72 million (100 000
// meters, one run each).
func eachStatement(ctx context.Context, n, parallel int, fn func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, parallel))
	for i := range n {
		g.Go(func() error { return fn(ctx, i) })
	}
	return g.Wait()
}

// insertFirst inserts the next n readings of src (a fleet's first timestamp: every
// meter's starting register) into the connection's readings table, in one batch.
func insertFirst(ctx context.Context, conn driver.Conn, src wire.Source, n int) error {
	bctx, sent := schema.BatchContext(ctx)
	defer sent()
	batch, err := conn.PrepareBatch(bctx, "INSERT INTO readings (meter_id, ts, register_wh, quality)")
	if err != nil {
		return err
	}
	defer batch.Abort() //nolint:errcheck // a no-op once sent
	var r schema.Reading
	for i := range n {
		if !src.Next(&r) {
			return fmt.Errorf("the source ran out after %d of %d readings", i, n)
		}
		if err := batch.Append(r.MeterID, r.TS, r.RegisterWh, uint8(0)); err != nil {
			return err
		}
	}
	return batch.Send()
}

// produceDay produces the rest of the fleet's day (every meter's 96 readings after its
// starting register) to topic.
func (b *dayBench) produceDay(ctx context.Context, fleet *sim.Fleet, topic string, partitions int) error {
	w, err := newProducer(b.ib.cfg.Kafka, topic)
	if err != nil {
		return err
	}
	bar := sim.NewProgress(b.stderr, "day: produce", b.rep.Readings)
	err = produce(ctx, w, offsetSource{src: fleet, offset: historyOffset}, b.rep.Readings, wire.Format(b.cfg.Format), b.ib.cfg.ArrowBatch, partitions, chunkReadings, 0, bar.Set)
	bar.Done()
	if cerr := w.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("produce the day: %w", cerr)
	}
	return err
}

// queryPhase serves the API and measures meter-month-1h and feeder-day-15m with one
// client each while the ingest path consumes another fleet's readings (ids MTQ-…,
// stamped before the history) produced at rate readings a second by the producer's own
// rate limit, in this process, and records the phase: its readings are those ingested
// meanwhile.
func (b *dayBench) queryPhase(ctx context.Context, srv *api.Server, token string, meters []schema.Meter, rate float64) error {
	b.rep.IngestTarget = rate
	icfg, drop, err := b.ib.topic(ctx, "load")
	if err != nil {
		return err
	}
	defer drop()
	// Enough readings for both scenarios and a minute of joining and catching up.
	span := 2*(b.cfg.QueryWarmup+b.cfg.QueryDuration) + time.Minute
	need := int64(rate*span.Seconds()) + 1
	interval := b.ib.fleet.Interval
	steps := need/int64(b.cfg.Meters) + 2
	to := b.day.AddDate(0, 0, -b.cfg.HistoryDays).Add(-interval)
	load, err := sim.New(sim.Config{Meters: b.cfg.Meters, From: to.Add(-time.Duration(steps-1) * interval), To: to, Interval: interval,
		Seed: b.ib.cfg.Seed + 1, IDPrefix: "MTQ-", TimeZone: "UTC"})
	if err != nil {
		return err
	}
	need = min(need, load.Total())
	w, err := newProducer(b.ib.cfg.Kafka, icfg.Topic)
	if err != nil {
		return err
	}
	defer w.Close()
	in, closeIngester, err := b.ib.newIngester(ctx, icfg, b.chcfg)
	if err != nil {
		return err
	}
	defer closeIngester()
	base, stopAPI, err := serveAPI(ctx, srv)
	if err != nil {
		return err
	}
	defer stopAPI()

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	before, err := stored(ctx, b.conn, b.chcfg.Database)
	if err != nil {
		return err
	}
	ingestErr, produceErr := make(chan error, 1), make(chan error, 1)
	go func() { ingestErr <- in.Run(runCtx) }()
	var produced atomic.Int64
	chunk := pacedChunk(rate)
	go func() {
		produceErr <- produce(runCtx, w, load, need, wire.Format(b.cfg.Format), min(b.ib.cfg.ArrowBatch, chunk), icfg.Partitions, chunk, rate, produced.Store)
	}()
	// stop ends the producer and the ingest and returns their errors; it runs before the
	// writer and the ingester's connections close.
	var stopped bool
	var ingestRes, produceRes error
	stop := func() (error, error) {
		if !stopped {
			stopped = true
			stopRun()
			ingestRes, produceRes = <-ingestErr, <-produceErr
		}
		return ingestRes, produceRes
	}
	defer stop()
	fmt.Fprintf(b.stderr, "day: query phase, ingest paced at %s readings/s …\n", thousands(rate))
	if err := b.awaitCaughtUp(runCtx, before, &produced, rate+float64(chunk)); err != nil {
		return err
	}
	clock, err := startPhase(b.ib.cfg.Services, b.log)
	if err != nil {
		return err
	}
	start, err := stored(ctx, b.conn, b.chcfg.Database)
	if err != nil {
		return err
	}
	qcfg := queryConfig{Warmup: b.cfg.QueryWarmup, Duration: b.cfg.QueryDuration, Seed: 1}
	for _, s := range b.ib.cfg.Services {
		if s.name == "clickhouse" {
			qcfg.ClickHousePIDFile = s.pidFile
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}
	id := func(i int) string { return meters[i].MeterID }
	month := monthScenario(b.day.Add(24*time.Hour), len(meters), id, "")
	month.target = queryTarget{P99: targetQueryP99} // the bound under ingest
	for _, sc := range []scenario{month, feederDayScenario(b.day, 1, len(meters))} {
		r, err := measureScenario(runCtx, client, base, token, sc, 1, qcfg, b.stderr)
		if err != nil {
			return err
		}
		b.rep.QueryResults = append(b.rep.QueryResults, r)
	}
	end, err := stored(ctx, b.conn, b.chcfg.Database)
	if err != nil {
		return err
	}
	m, err := clock.stop(end - start)
	if err != nil {
		return err
	}
	b.rep.Query = newResult("query (under ingest)", "bench (API, ingest, paced producer)", m)
	ingestRes, produceRes = stop()
	if ingestRes != nil {
		return fmt.Errorf("query phase: ingest: %w", ingestRes)
	}
	if produceRes != nil && !errors.Is(produceRes, context.Canceled) {
		return fmt.Errorf("query phase: produce: %w", produceRes)
	}
	if produced.Load() >= need {
		fmt.Fprintln(b.stderr, "day: the paced load ran out before the query phase ended; its ingest rate is an underestimate")
	}
	return nil
}

// pacedChunk is how many readings the paced producer hands its writer at once (and puts
// in one Arrow message at most): a tenth of a second's worth, at least 100 and at most
// chunkReadings.
func pacedChunk(rate float64) int {
	return min(chunkReadings, max(100, int(rate/10)))
}

// awaitCaughtUp waits, at most a minute, until the ingest path has joined its group and
// stores the paced readings as they come: the readings stored since before lag what was
// produced by at most lag.
func (b *dayBench) awaitCaughtUp(ctx context.Context, before int64, produced *atomic.Int64, lag float64) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		n, err := stored(ctx, b.conn, b.chcfg.Database)
		if err == nil && n > before && float64(produced.Load()-(n-before)) <= lag {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("query phase: the ingest did not catch up with the paced load within a minute")
}
