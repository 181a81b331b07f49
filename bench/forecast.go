package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/forecast"
	forecastjob "github.com/meterhouse/meterhouse/forecast/job"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
	"github.com/meterhouse/meterhouse/weather"
)

// forecastConfig is what bench forecast measures.
type forecastConfig struct {
	// Meters is the simulated fleet's size.
	Meters int
	// HistoryDays is the history before the issue day (the job's forecast.history_days).
	HistoryDays int
	// Regions is the number of regions; Weather loads observed and forecast temperatures
	// for every region when set.
	Regions int
	Weather bool
	// AccuracyMeters is how many meters the baselines are scored on (their histories are
	// read again, outside the timed run).
	AccuracyMeters int
	// Workers is forecast.workers (0: one per CPU).
	Workers int
	// Database, when set, reuses a database loaded by an earlier --keep run.
	Database   string
	Keep, JSON bool
	// CPUProfile, when set, writes a CPU profile of the timed run there.
	CPUProfile string
	ClickHouse schema.Config
}

func (c forecastConfig) Validate() error {
	switch {
	case c.Meters < 1 || c.Meters > 5_000_000:
		return errors.New("--meters: must be between 1 and 5000000")
	case c.HistoryDays < 21 || c.HistoryDays > 120:
		return errors.New("--history-days: must be between 21 and 120")
	case c.Regions < 1 || c.Regions > 100:
		return errors.New("--regions: must be between 1 and 100")
	case c.AccuracyMeters < 1:
		return errors.New("--accuracy-meters: must be at least 1")
	}
	return c.ClickHouse.Validate()
}

// forecastReport is bench forecast's result.
type forecastReport struct {
	Meters      int    `json:"meters"`
	HistoryDays int    `json:"history_days"`
	CPUs        int    `json:"cpus"`
	Database    string `json:"database"`
	// LoadSeconds is the untimed set-up: simulating the history inside ClickHouse.
	LoadSeconds float64 `json:"load_seconds"`
	// RunSeconds is the timed forecast run: registry, fitting, reading every meter's
	// recent history, forecasting, writing forecasts and models, groups (scoring excluded).
	RunSeconds   float64            `json:"run_seconds"`
	MetersPerSec float64            `json:"meters_per_second"`
	PhaseSeconds map[string]float64 `json:"phase_seconds"`
	PeakRSSBytes int64              `json:"peak_rss_bytes"`
	Methods      map[string]int     `json:"methods"`
	Failed       int                `json:"failed"`
	Models       []string           `json:"models"`
	// MASE on the held-back day: median over meters of each forecast's MAE divided by the
	// meter's in-sample seasonal-naive MAE, for the job's forecasts and the baselines.
	MASE map[string]float64 `json:"mase_median"`
	// GroupMAE compares, per group kind, the sum of the members' forecasts with the kind's
	// own model on the held-back day: mean absolute error relative to the mean actual.
	GroupMAE map[string]map[string]float64 `json:"group_relative_mae"`
	// TargetSeconds is the target for a million meters, scaled to Meters.
	TargetSeconds float64 `json:"target_seconds_scaled"`
}

func parseForecastFlags(args []string, stderr io.Writer) (forecastConfig, error) {
	cfg := forecastConfig{ClickHouse: clickHouseFromEnv()}
	fs := flag.NewFlagSet("bench forecast", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Meters, "meters", 100_000, "simulated meters")
	fs.IntVar(&cfg.HistoryDays, "history-days", 56, "days of hourly history before the issue day")
	fs.IntVar(&cfg.Regions, "regions", 4, "regions (each with its own temperatures)")
	fs.BoolVar(&cfg.Weather, "weather", true, "load observed and forecast temperatures")
	fs.IntVar(&cfg.AccuracyMeters, "accuracy-meters", 5000, "meters whose baselines are scored on the held-back day")
	fs.IntVar(&cfg.Workers, "workers", 0, "forecasting goroutines (0: one per CPU)")
	fs.StringVar(&cfg.Database, "database", "", "reuse this database, loaded by an earlier run with --keep (same --meters and --history-days)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the loaded database")
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as JSON")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the timed run to this file")
	fs.StringVar(&cfg.ClickHouse.Addr, "clickhouse", cfg.ClickHouse.Addr, "ClickHouse native address host:port (MH_CLICKHOUSE_ADDR)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("bench forecast: unexpected argument %q", fs.Arg(0))
	}
	return cfg, cfg.Validate()
}

// cmdForecast simulates a fleet's validated history (the history days, the issue day and
// the held-back target day), runs the forecast job for 10:00 UTC of the issue day, and
// scores the forecasts and the baselines on the held-back day.
func cmdForecast(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseForecastFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	hist := sim.History{Meters: cfg.Meters, First: time.Date(2026, 8, 3, 0, 0, 0, 0, time.UTC), Days: cfg.HistoryDays + 2, Regions: cfg.Regions, Seed: 1}
	issueDay := hist.First.AddDate(0, 0, cfg.HistoryDays)
	issued := issueDay.Add(10 * time.Hour)
	rep := &forecastReport{Meters: cfg.Meters, HistoryDays: cfg.HistoryDays, CPUs: runtime.NumCPU(), MASE: map[string]float64{}, GroupMAE: map[string]map[string]float64{}}

	chcfg, conn, cleanup, err := benchDatabase(ctx, cfg.ClickHouse, cfg.Database, "forecast", cfg.Keep, log, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	if cfg.Database == "" {
		start := time.Now()
		fmt.Fprintf(stderr, "simulating %d meters × %d days of hourly history in %s …\n", cfg.Meters, hist.Days, chcfg.Database)
		if err := hist.Insert(ctx, conn, true); err != nil {
			return err
		}
		if cfg.Weather {
			if err := loadWeather(ctx, conn, hist, issued); err != nil {
				return err
			}
		}
		rep.LoadSeconds = time.Since(start).Seconds()
		settle(ctx, conn, chcfg.Database, 5*time.Minute, stderr)
		if cfg.Keep {
			fmt.Fprintf(stderr, "kept database %s: rerun with --database %s\n", chcfg.Database, chcfg.Database)
		}
	}
	rep.Database = chcfg.Database
	a, _, err := newApp(ctx, chcfg, conn, log)
	if err != nil {
		return err
	}
	defer a.Close()
	// The platform's default forecast configuration, with the history, workers and no
	// scoring inside the timed run (scored below).
	fcfg := forecastjob.DefaultConfig()
	fcfg.HistoryDays, fcfg.Workers, fcfg.ScoreDays = cfg.HistoryDays, cfg.Workers, 0
	j, err := forecastjob.New(fcfg, conn, a.Calendars(), a.Weather(), log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "forecasting %d meters issued %s …\n", cfg.Meters, issued.Format(time.RFC3339))
	if err := resetPeakRSS(); err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(cfg.CPUProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	start := time.Now()
	res, err := j.Run(ctx, issued, forecastjob.Options{KeepGroups: true})
	if err != nil {
		return err
	}
	rep.RunSeconds = time.Since(start).Seconds()
	stopProfile()
	peak, err := peakRSS()
	if err != nil {
		return err
	}
	rep.PeakRSSBytes = peak
	rep.MetersPerSec = float64(cfg.Meters) / rep.RunSeconds
	rep.TargetSeconds = 300 * float64(cfg.Meters) / 1e6
	rep.PhaseSeconds = map[string]float64{}
	for k, d := range res.Timings {
		rep.PhaseSeconds[k] = d.Seconds()
	}
	rep.Methods, rep.Failed = res.Meters, res.Failed
	for _, m := range res.Models {
		rep.Models = append(rep.Models, fmt.Sprintf("%s: %s, validation MAE %.4f vs seasonal naive %.4f (%d samples)", m.Class, m.Features, m.ValidationMAE, m.BaselineValidationMAE, m.Samples))
	}
	fmt.Fprintf(stderr, "forecast run %.1f s; scoring on the held-back day …\n", rep.RunSeconds)
	if err := scoreHeldBack(ctx, conn, j, hist, issued, cfg.AccuracyMeters, rep); err != nil {
		return err
	}
	scoreGroups(ctx, conn, res, rep)
	if cfg.JSON {
		return writeJSONDoc(stdout, rep)
	}
	return rep.writeTable(stdout)
}

// loadWeather loads every region's simulated temperatures: observations before the issue,
// and a forecast issued an hour before it for the rest of the issue day and the next.
func loadWeather(ctx context.Context, conn driver.Conn, h sim.History, issued time.Time) error {
	wx, err := weather.NewStore(conn)
	if err != nil {
		return err
	}
	var vals []weather.Value
	for r := range h.Regions {
		region := fmt.Sprintf("R%d", r)
		for d := range h.Days {
			for hr := range 24 {
				at := h.First.AddDate(0, 0, d).Add(time.Duration(hr) * time.Hour)
				v := weather.Value{Region: region, ValidTime: at, IssuedAt: at, Kind: weather.Observed, Source: "sim", TemperatureC: h.Temperature(d, hr)}
				if at.Before(issued) {
					vals = append(vals, v)
				} else if at.Before(issued.Add(48 * time.Hour)) {
					v.Kind, v.IssuedAt = weather.Forecast, issued.Add(-time.Hour)
					vals = append(vals, v)
				}
			}
		}
	}
	_, err = wx.Load(ctx, vals)
	return err
}

// scoreHeldBack scores every meter's forecast on the held-back day (Store.Score) and
// reports the median MASE, then scores the baselines on the first n meters.
func scoreHeldBack(ctx context.Context, conn driver.Conn, j *forecastjob.Job, h sim.History, issued time.Time, n int, rep *forecastReport) error {
	if _, err := j.Store().Score(ctx, issued, issued.Add(time.Second), time.Now()); err != nil {
		return err
	}
	rows, err := conn.Query(ctx, `SELECT method, mase FROM forecast_accuracy FINAL WHERE scope = 'meter' AND issued = ?`, issued)
	if err != nil {
		return fmt.Errorf("read accuracy: %w", err)
	}
	byMethod := map[string][]float64{}
	for rows.Next() {
		var m string
		var x float64
		if err := rows.Scan(&m, &x); err != nil {
			rows.Close()
			return err
		}
		if i := strings.IndexByte(m, ':'); i >= 0 {
			m = m[:i]
		}
		if !math.IsNaN(x) {
			byMethod["job: "+m] = append(byMethod["job: "+m], x)
			byMethod["job: all"] = append(byMethod["job: all"], x)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// Baselines on n meters: their last 15 days and the held-back day, read again.
	n = min(n, h.Meters)
	issueDay := h.First.AddDate(0, 0, h.Days-2)
	first := issueDay.AddDate(0, 0, -14)
	load := map[string][]float64{}
	rows, err = conn.Query(ctx, `SELECT meter_id, day, wh FROM consumption_profiles FINAL
WHERE day >= toDate(?) AND day <= toDate(?) AND meter_id >= ? AND meter_id <= ?`,
		first.Format(time.DateOnly), issueDay.AddDate(0, 0, 1).Format(time.DateOnly), h.MeterID(0), h.MeterID(n-1))
	if err != nil {
		return fmt.Errorf("read histories: %w", err)
	}
	for rows.Next() {
		var id string
		var day time.Time
		var wh []int64
		if err := rows.Scan(&id, &day, &wh); err != nil {
			rows.Close()
			return err
		}
		l := load[id]
		if l == nil {
			l = make([]float64, 16*24)
			load[id] = l
		}
		k := int(day.Sub(first) / (24 * time.Hour))
		for i, v := range wh {
			if k >= 0 && k < 16 && i < 24 {
				l[k*24+i] = float64(v)
			}
		}
	}
	rows.Close()
	for _, l := range load {
		s := &forecast.DaySeries{Load: l[:15*24]}
		scale := forecast.NaiveMAE(s, 14, 10)
		if !(scale > 0) {
			continue
		}
		for _, b := range forecast.Baselines() {
			f, err := forecast.PredictBaseline(s, 14, 10, b)
			if err != nil {
				continue
			}
			var mae float64
			for hr := range 24 {
				mae += math.Abs(f[hr] - l[15*24+hr])
			}
			byMethod[string(b)] = append(byMethod[string(b)], mae/24/scale)
		}
	}
	for m, xs := range byMethod {
		sort.Float64s(xs)
		rep.MASE[m] = xs[len(xs)/2]
	}
	return nil
}

// scoreGroups compares the two group methods on the held-back day.
func scoreGroups(ctx context.Context, conn driver.Conn, res *forecastjob.Result, rep *forecastReport) {
	type acc struct{ sumErr, ownErr, actual float64 }
	kinds := map[string]*acc{}
	for key, g := range res.ByGroup {
		kind, id, _ := strings.Cut(key, "/")
		if g.Own == nil {
			continue
		}
		rows, err := conn.Query(ctx, `SELECT start, wh FROM group_consumption FINAL WHERE resolution = '1h' AND group_kind = ? AND group_id = ? AND start >= ? AND start < ?`,
			kind, id, g.Start, g.Start.Add(time.Duration(len(g.Sum))*time.Hour))
		if err != nil {
			continue
		}
		a := kinds[kind]
		if a == nil {
			a = &acc{}
			kinds[kind] = a
		}
		for rows.Next() {
			var t time.Time
			var wh int64
			if rows.Scan(&t, &wh) != nil {
				break
			}
			i := int(t.Sub(g.Start) / time.Hour)
			a.sumErr += math.Abs(g.Sum[i] - float64(wh))
			a.ownErr += math.Abs(g.Own[i] - float64(wh))
			a.actual += float64(wh)
		}
		rows.Close()
	}
	for k, a := range kinds {
		if a.actual > 0 {
			rep.GroupMAE[k] = map[string]float64{"sum": a.sumErr / a.actual, "own": a.ownErr / a.actual}
		}
	}
}

func (rp *forecastReport) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "meters\t%d\n", rp.Meters)
	fmt.Fprintf(tw, "history\t%d days hourly (+ issue day, + held-back day)\n", rp.HistoryDays)
	fmt.Fprintf(tw, "set-up (untimed)\t%.1f s\n", rp.LoadSeconds)
	fmt.Fprintf(tw, "forecast run\t%.1f s (target %.0f s at this size: 5 min per million meters)\n", rp.RunSeconds, rp.TargetSeconds)
	fmt.Fprintf(tw, "meters/s\t%s\n", thousands(rp.MetersPerSec))
	var phases []string
	for _, k := range []string{"registry", "fit", "meters", "groups"} {
		phases = append(phases, fmt.Sprintf("%s %.1f s", k, rp.PhaseSeconds[k]))
	}
	fmt.Fprintf(tw, "phases\t%s\n", strings.Join(phases, ", "))
	fmt.Fprintf(tw, "peak resident memory\t%.0f MB\n", float64(rp.PeakRSSBytes)/1e6)
	fmt.Fprintf(tw, "methods\t%v (failed %d)\n", rp.Methods, rp.Failed)
	for _, m := range rp.Models {
		fmt.Fprintf(tw, "model\t%s\n", m)
	}
	var names []string
	for m := range rp.MASE {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		fmt.Fprintf(tw, "MASE (median, held-back day)\t%s %.3f\n", m, rp.MASE[m])
	}
	var kinds []string
	for k := range rp.GroupMAE {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(tw, "group relative MAE\t%s: sum of meters %.4f, own model %.4f\n", k, rp.GroupMAE[k]["sum"], rp.GroupMAE[k]["own"])
	}
	return tw.Flush()
}
