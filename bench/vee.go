package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
	veejob "github.com/meterhouse/meterhouse/vee/job"
)

// veeConfig is what bench vee measures.
type veeConfig struct {
	// Meters is the fleet's size; DaysHistory the days of readings and of validated
	// consumption before the new day.
	Meters, DaysHistory int
	Keep, JSON          bool
	// Workers is vee.workers (0: the job's default).
	Workers int
	// BatchMeters is vee.batch_meters (0: the job's default).
	BatchMeters int
	// QueryLog prints the timed run's statements from system.query_log.
	QueryLog bool
	// CPUProfile, when set, writes a CPU profile of the timed run there.
	CPUProfile string
	// MemProfile, when set, writes there a heap profile of the timed run taken when its
	// heap was largest.
	MemProfile string
	ClickHouse schema.Config
}

func (c veeConfig) Validate() error {
	switch {
	case c.Meters < 1 || c.Meters > 5_000_000:
		return errors.New("--meters: must be between 1 and 5000000")
	case c.BatchMeters < 0:
		return errors.New("--batch-meters: must not be negative")
	case c.Workers < 0:
		return errors.New("--workers: must be >= 0 (0: the job's default)")
	case c.DaysHistory < 1 || c.DaysHistory > 80:
		return errors.New("--days-history: must be between 1 and 80 (the job's lateness bound is 90 days)")
	}
	return c.ClickHouse.Validate()
}

// veeReport is bench vee's result.
type veeReport struct {
	Meters      int    `json:"meters"`
	DaysHistory int    `json:"days_history"`
	CPUs        int    `json:"cpus"`
	Workers     int    `json:"workers"`
	Database    string `json:"database"`
	// LoadSeconds is the untimed set-up, all generated server-side: registry, readings, the
	// history's validated 15m and 1d rows (what the job writes for a series without gaps),
	// a vee_runs row past them, the new day's readings.
	LoadSeconds float64 `json:"load_seconds"`
	// RunSeconds is the timed incremental run over the new day; MetersPerSec its rate.
	RunSeconds   float64 `json:"run_seconds"`
	MetersPerSec float64 `json:"meters_per_second"`
	Windows      int     `json:"windows"`
	Intervals    int64   `json:"intervals"`
	Failed       int     `json:"failed"`
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
}

func parseVEEFlags(args []string, stderr io.Writer) (veeConfig, error) {
	cfg := veeConfig{ClickHouse: clickHouseFromEnv()}
	fs := flag.NewFlagSet("bench vee", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Meters, "meters", 20_000, "meters validated")
	fs.IntVar(&cfg.DaysHistory, "days-history", 28, "days of readings and validated history before the new day")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the loaded database")
	fs.IntVar(&cfg.Workers, "workers", 0, "vee.workers (0: the job's default)")
	fs.IntVar(&cfg.BatchMeters, "batch-meters", 0, "vee.batch_meters (0: the job's default)")
	fs.BoolVar(&cfg.QueryLog, "query-log", false, "print the timed run's statements from system.query_log (durations, rows read and written)")
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as JSON")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the timed run to this file")
	fs.StringVar(&cfg.MemProfile, "memprofile", "", "write a heap profile of the timed run, taken when its heap was largest (sampled every 200 ms), to this file")
	fs.StringVar(&cfg.ClickHouse.Addr, "clickhouse", cfg.ClickHouse.Addr, "ClickHouse native address host:port (MH_CLICKHOUSE_ADDR)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// veeReadingsSQL generates the readings of %[1]d meters from %[6]d at slots (%[2]d, %[3]d]
// of 15 minutes from %[4]d (Unix seconds), ingested now: a monotone register per meter, k·L + (hash mod L/2)
// at slot k with L = 100 … 299 Wh per quarter hour from the meter's hash, so that every
// interval holds between L/2 and 3L/2 Wh.
const veeReadingsSQL = `INSERT INTO readings (meter_id, ts, register_wh, quality, ingested_at)
SELECT concat('H', toString(10000000 + m)), toDateTime(%[4]d + k * 900),
  toInt64(k * l + cityHash64(m, k) %% intDiv(l, 2)), toUInt8(0), now()
FROM (
  SELECT %[6]d + intDiv(number, %[5]d) AS m, %[2]d + 1 + number %% %[5]d AS k, 100 + cityHash64(m) %% 200 AS l
  FROM numbers(%[1]d * %[5]d)
)`

// cmdVEE loads a fleet's readings of DaysHistory days and their validated consumption
// (untimed), adds one new day of readings and times the job's incremental run over it.
func cmdVEE(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseVEEFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	b := &ingestBench{cfg: ingestConfig{ClickHouse: cfg.ClickHouse, Keep: cfg.Keep}, log: log, stderr: stderr, id: runID()}
	chcfg, conn, _, cleanup, err := b.database(ctx, "vee")
	if err != nil {
		return err
	}
	defer cleanup()
	jcfg := veejob.DefaultConfig()
	jcfg.Interval, jcfg.Settle = 0, time.Second
	jcfg.PrivateDatabase = chcfg.PrivateDatabase()
	if cfg.Workers > 0 {
		jcfg.Workers = cfg.Workers
	}
	if cfg.BatchMeters > 0 {
		jcfg.BatchMeters = cfg.BatchMeters
	}
	job, err := veejob.New(jcfg, conn, log)
	if err != nil {
		return err
	}
	rep := &veeReport{Meters: cfg.Meters, DaysHistory: cfg.DaysHistory, CPUs: runtime.NumCPU(), Workers: jcfg.Workers, Database: chcfg.Database}

	start := time.Now()
	// The new day is yesterday (UTC), the history the days before it.
	today := time.Now().UTC().Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -1-cfg.DaysHistory)
	fmt.Fprintf(stderr, "loading %d meters' %d days of readings into %s …\n", cfg.Meters, cfg.DaysHistory, chcfg.Database)
	if err := (sim.History{Meters: cfg.Meters, First: first, Days: 1, Regions: 4, Seed: 1}).InsertMeters(ctx, conn); err != nil {
		return err
	}
	// Slot 0 is the history's first midnight; each day adds slots (96 d, 96 (d+1)].
	if err := insertVEEReadings(ctx, conn, cfg.Meters, first, -1, 0); err != nil {
		return err
	}
	for d := range cfg.DaysHistory {
		if err := insertVEEReadings(ctx, conn, cfg.Meters, first, 96*d, 96*(d+1)); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "writing the history's validated consumption …\n")
	if err := insertVEEHistory(ctx, conn, cfg.Meters, first, cfg.DaysHistory); err != nil {
		return err
	}
	// The job's state after validating the history: a run whose watermark is past the
	// history's readings, so that the timed run is incremental over the new day alone.
	time.Sleep(2 * jcfg.Settle)
	if err := conn.Exec(ctx, `INSERT INTO vee_runs (run_id, kind, started_at, finished_at, watermark, computed_at, meters, windows, intervals)
SELECT 'bench-history', 'incremental', now(), now(), now() - 1, now() - 1, 0, 0, 0`); err != nil {
		return fmt.Errorf("record the history's run: %w", err)
	}
	time.Sleep(2 * jcfg.Settle)
	if err := insertVEEReadings(ctx, conn, cfg.Meters, first, 96*cfg.DaysHistory, 96*(cfg.DaysHistory+1)); err != nil {
		return err
	}
	settle(ctx, conn, chcfg.Database, 3*time.Minute, stderr)
	time.Sleep(2 * jcfg.Settle)
	rep.LoadSeconds = time.Since(start).Seconds()

	fmt.Fprintf(stderr, "validating the new day of %d meters …\n", cfg.Meters)
	if err := resetPeakRSS(); err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(cfg.CPUProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	stopHeap := startPeakHeapProfile(cfg.MemProfile, 200*time.Millisecond)
	defer stopHeap() //nolint:errcheck // checked below when the run succeeds
	start = time.Now()
	// The job's statements are logged in system.query_log (log_queries), for --query-log.
	res, err := job.Run(clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"log_queries": 1})))
	rep.RunSeconds = time.Since(start).Seconds()
	stopProfile()
	if err != nil {
		return err
	}
	if err := stopHeap(); err != nil {
		return err
	}
	rep.Windows, rep.Intervals, rep.Failed = res.Windows, res.Intervals, res.Failed
	rep.MetersPerSec = float64(res.Meters) / rep.RunSeconds
	peak, err := peakRSS()
	if err != nil {
		return err
	}
	rep.PeakRSSMiB = float64(peak) / (1 << 20)
	if res.Meters != cfg.Meters {
		return fmt.Errorf("bench vee: the run validated %d meters, want %d", res.Meters, cfg.Meters)
	}
	if cfg.QueryLog {
		if err := printQueryLog(ctx, conn, chcfg.Username, start, stdout, stderr); err != nil {
			return err
		}
	}
	if cfg.JSON {
		return writeJSONDoc(stdout, rep)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "meters\t%d (%d days of history, %d CPUs, vee.workers %d)\n", rep.Meters, rep.DaysHistory, rep.CPUs, rep.Workers)
	fmt.Fprintf(tw, "set-up (untimed)\t%.1f s\n", rep.LoadSeconds)
	fmt.Fprintf(tw, "incremental run\t%.2f s, %d windows, %d intervals, %d failed\n", rep.RunSeconds, rep.Windows, rep.Intervals, rep.Failed)
	fmt.Fprintf(tw, "meters/s\t%s (target 3 300)\n", thousands(rep.MetersPerSec))
	fmt.Fprintf(tw, "peak memory of the run\t%.0f MiB\n", rep.PeakRSSMiB)
	return tw.Flush()
}

// insertVEEReadings writes slots (from, to] of every meter, one statement per 500 000
// meters so that each insert stays bounded.
func insertVEEReadings(ctx context.Context, conn driver.Conn, meters int, first time.Time, from, to int) error {
	const chunk = 500_000
	for off := 0; off < meters; off += chunk {
		n := min(chunk, meters-off)
		q := fmt.Sprintf(veeReadingsSQL, n, from, to, first.Unix(), to-from, off)
		if err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("load readings: %w", err)
		}
	}
	return nil
}

// veeHistorySQL writes the validated 15m rows of the readings of veeReadingsSQL at slots
// (%[2]d, %[3]d] (each slot's energy is its register's advance over the slot, stored at
// the slot's start), for %[1]d meters from %[5]d, as the job writes a series without gaps.
const veeHistorySQL = `INSERT INTO consumption (resolution, meter_id, start, wh, quality, intervals, expected_intervals, estimated, edited, questionable, flags, reasons, computed_at)
SELECT '15m', concat('H', toString(10000000 + m)), toDateTime(%[4]d + (k - 1) * 900),
  toInt64(k * l + cityHash64(m, k) %% intDiv(l, 2)) - toInt64((k - 1) * l + cityHash64(m, k - 1) %% intDiv(l, 2)),
  toUInt8(0), toUInt32(1), toUInt32(1), toUInt32(0), toUInt32(0), toUInt32(0), emptyArrayString(), emptyArrayString(), now() - 10
FROM (
  SELECT %[5]d + intDiv(number, %[6]d) AS m, %[2]d + 1 + number %% %[6]d AS k, 100 + cityHash64(m) %% 200 AS l
  FROM numbers(%[1]d * %[6]d)
)`

// veeDailySQL rolls the 15m rows of one UTC day [%[1]s, +1 day) of the meters that match
// the condition %[2]s up into their 1d rows.
const veeDailySQL = `INSERT INTO consumption (resolution, meter_id, start, wh, quality, intervals, expected_intervals, estimated, edited, questionable, flags, reasons, computed_at)
SELECT '1d', meter_id, toStartOfDay(start) AS d, sum(wh), toUInt8(0), toUInt32(count()), toUInt32(96), toUInt32(0), toUInt32(0), toUInt32(0),
  emptyArrayString(), emptyArrayString(), max(computed_at)
FROM consumption
WHERE resolution = '15m' AND start >= toDateTime('%[1]s') AND start < toDateTime('%[1]s') + 86400 AND (%[2]s)
GROUP BY meter_id, d`

// veeProfilesSQL writes the consumption_profiles of the UTC day [%[1]s, +1 day) of the
// meters that match the condition %[2]s (the bench's meters are in UTC) from its 15m
// rows, as the job writes a day without gaps: 96 quarters, whose hours and clock-aligned
// half hours give the hourly arrays, and the quarters themselves as the slot arrays the
// job reads its history from.
const veeProfilesSQL = `INSERT INTO consumption_profiles (day, meter_id, time_zone, start, wh, intervals, max15_wh, max30_wh,
  estimated, edited, substituted, substituted_wh, slot, slot_wh, slot_quality, computed_at)
SELECT toDate(d), meter_id, 'UTC', d,
  arrayMap(h -> arraySum(arraySlice(ws, 4 * h + 1, 4)), range(24)),
  arrayMap(h -> toUInt8(4), range(24)),
  arrayMap(h -> arrayReduce('max', arraySlice(ws, 4 * h + 1, 4)), range(24)),
  arrayMap(h -> greatest(ws[4 * h + 1] + ws[4 * h + 2], ws[4 * h + 3] + ws[4 * h + 4]), range(24)),
  arrayMap(h -> toUInt8(0), range(24)), arrayMap(h -> toUInt8(0), range(24)), arrayMap(h -> toUInt8(0), range(24)),
  arrayMap(h -> toInt64(0), range(24)),
  arrayMap(q -> toUInt8(q), range(96)), ws, arrayMap(q -> toUInt8(0), range(96)), at
FROM (
  SELECT meter_id, toStartOfDay(start) AS d, arrayMap(x -> tupleElement(x, 2), arraySort(groupArray((start, wh)))) AS ws,
    max(computed_at) AS at
  FROM consumption
  WHERE resolution = '15m' AND start >= toDateTime('%[1]s') AND start < toDateTime('%[1]s') + 86400 AND (%[2]s)
  GROUP BY meter_id, d
  HAVING length(ws) = 96
)`

// insertVEEHistory writes the validated 15m and 1d rows and the profiles of the
// history's days.
func insertVEEHistory(ctx context.Context, conn driver.Conn, meters int, first time.Time, days int) error {
	const chunk = 500_000
	for d := range days {
		for off := 0; off < meters; off += chunk {
			n := min(chunk, meters-off)
			if err := conn.Exec(ctx, fmt.Sprintf(veeHistorySQL, n, 96*d, 96*(d+1), first.Unix(), off, 96)); err != nil {
				return fmt.Errorf("load the history's 15m rows: %w", err)
			}
		}
		day := first.AddDate(0, 0, d).Format(time.DateTime)
		if err := conn.Exec(ctx, fmt.Sprintf(veeDailySQL, day, "1")); err != nil {
			return fmt.Errorf("load the history's 1d rows: %w", err)
		}
		if err := conn.Exec(ctx, fmt.Sprintf(veeProfilesSQL, day, "1")); err != nil {
			return fmt.Errorf("load the history's profiles: %w", err)
		}
	}
	return nil
}

// printQueryLog prints the statements this connection's user ran since start, grouped by
// their first line, from system.query_log (flushed every few seconds).
func printQueryLog(ctx context.Context, conn driver.Conn, user string, start time.Time, stdout, stderr io.Writer) error {
	fmt.Fprintln(stderr, "waiting for system.query_log to be flushed …")
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Second):
	}
	rows, err := conn.Query(ctx, `SELECT substring(replaceRegexpAll(query, '\\s+', ' '), 1, 72) AS q, count(), sum(query_duration_ms),
    sum(read_rows), sum(written_rows)
FROM system.query_log
WHERE type = 2 AND event_time >= ? AND user = ? AND query NOT LIKE '%system.query_log%'
GROUP BY q ORDER BY sum(query_duration_ms) DESC LIMIT 15`, start.Add(-time.Second), user)
	if err != nil {
		return fmt.Errorf("read system.query_log: %w", err)
	}
	defer rows.Close()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "statement\tcount\tseconds\tread rows\twritten rows")
	for rows.Next() {
		var q string
		var n, ms, read, written uint64
		if err := rows.Scan(&q, &n, &ms, &read, &written); err != nil {
			return fmt.Errorf("read system.query_log: %w", err)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%d\t%d\n", q, n, float64(ms)/1000, read, written)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read system.query_log: %w", err)
	}
	return tw.Flush()
}
