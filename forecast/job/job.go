package job

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"golang.org/x/sync/errgroup"

	"github.com/meterhouse/meterhouse/calendar/holidays"
	"github.com/meterhouse/meterhouse/forecast"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/weather"
)

// Job forecasts the fleet. Run may be called concurrently with the API's reads, but two
// runs must not overlap (Loop runs them one after the other).
type Job struct {
	cfg       Config
	conn      driver.Conn
	log       *slog.Logger
	store     *Store
	calendars *holidays.Store
	weather   *weather.Store
	issueHour int
	loc       *time.Location
}

// New returns a job over conn, reading calendars and weather from their stores; it rejects
// an invalid configuration.
func New(cfg Config, conn driver.Conn, calendars *holidays.Store, wx *weather.Store, log *slog.Logger) (*Job, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if conn == nil || calendars == nil || wx == nil || log == nil {
		return nil, errors.New("forecast job: New needs a connection, the calendar and weather stores and a logger")
	}
	store, err := NewStore(conn)
	if err != nil {
		return nil, err
	}
	h, _ := cfg.issueHour()
	loc, _ := cfg.location()
	return &Job{cfg: cfg, conn: conn, log: log, store: store, calendars: calendars, weather: wx, issueHour: h, loc: loc}, nil
}

// Store returns the job's forecast store (the analyst routes are registered on it).
func (j *Job) Store() *Store { return j.store }

// Options narrow a run.
type Options struct {
	// Group, when set, forecasts only that group's meters and the group itself.
	Group *GroupFilter
	// KeepGroups keeps both group forecasts (sum of meters and own model) in the Result,
	// for comparing the two.
	KeepGroups bool
}

// GroupForecast is one group's forecast both ways, kept when Options.KeepGroups is set.
type GroupForecast struct {
	// Start is the UTC start of the target day in Config.Zone.
	Start time.Time
	// Sum is the sum of the members' forecasts per hour; Meters counts the members in it
	// and Members all members.
	Sum            []float64
	Meters, Member int
	// Own is the group's own model's forecast, or nil (OwnErr says why).
	Own    []float64
	OwnErr string
}

// Result summarises a run.
type Result struct {
	// Issued is the issue time.
	Issued time.Time
	// Meters counts the meters forecast, by method ("model", "model-no-weather-forecast",
	// or a baseline); Failed counts meters without any forecast (no usable history).
	Meters  map[string]int
	Failed  int
	Groups  int
	Models  []ModelInfo
	Scored  ScoreResult
	Timings map[string]time.Duration
	ByGroup map[string]*GroupForecast `json:"-"`
	// ClassErrors says, per class ("residential@UTC"), why its shared model could not be
	// fitted (its meters then get baselines).
	ClassErrors map[string]string
	// FailedSample holds "meter: reason" for the first few failed meters.
	FailedSample []string
}

// errNoModel marks a class whose model could not be fitted from its data (its meters get
// baselines), as opposed to a failure to read, which stops the run.
var errNoModel = errors.New("no class model")

// classKey is a shared model's scope: a customer class in one time zone.
type classKey struct{ class, zone string }

func (k classKey) String() string { return k.class + "@" + k.zone }

// classModels are a class's fitted models.
type classModels struct {
	loc        *time.Location
	issueDay   time.Time // civil date of the issue in the class's zone
	issueHour  int
	plain      *forecast.DayAheadModel // without temperature
	warm       *forecast.DayAheadModel // with temperature, when it validated better
	plainV     string
	warmV      string
	panelFirst time.Time // day 0 of the prediction panels
}

// run is one run's state.
type run struct {
	job        *Job
	issued     time.Time
	keepGroups bool
	// calLock guards types and temp, the per-run caches of calendars and temperatures that
	// the workers share.
	calLock    sync.Mutex
	types      map[string][]forecast.DayType
	temp       map[string][]float64
	ownErr     map[string]string // "kind/id": why the group has no own-model forecast
	ownVersion map[string]string // kind: the own model's version
}

// readDays is the number of days read per meter for a forecast: the week of inputs, the
// week before it for the MASE denominator, and the issue day.
const readDays = 15

// baseSpecs are the specs tried per class (each with every ridge strength); the weather
// variants add Temp.
func baseSpecs(issueHour int) []forecast.DayAheadSpec {
	return []forecast.DayAheadSpec{
		{IssueHour: issueHour, Lags: 24, Week: true, Yesterday: true, DayType: true},
		{IssueHour: issueHour, Lags: 48, Week: true, DayType: true},
		{IssueHour: issueHour, Lags: 24, Week: true, DayType: true},
	}
}

// groupSpecs adds to baseSpecs two small specs for kinds with few groups (the fleet is one
// series: eight weeks give it about 50 samples, fewer than the 59 coefficients of the
// smallest base spec).
func groupSpecs(issueHour int) []forecast.DayAheadSpec {
	return append(baseSpecs(issueHour),
		forecast.DayAheadSpec{IssueHour: issueHour, Lags: 2, Week: true, DayType: true},
		forecast.DayAheadSpec{IssueHour: issueHour, Lags: 2, Week: true})
}

// Run forecasts the next local day of every meter and group for issue time issued, writes
// the forecasts and models (replacing an earlier run for the same issue), then scores the
// issues of the last Config.ScoreDays days. An error of one meter is counted in
// Result.Failed and logged; an error reading or writing stops the run.
func (j *Job) Run(ctx context.Context, issued time.Time, opt Options) (*Result, error) {
	issued = issued.UTC().Truncate(time.Second)
	if err := schema.CheckTime("issued", issued); err != nil {
		return nil, err
	}
	computedAt := time.Now().UTC().Truncate(time.Second)
	res := &Result{Issued: issued, Meters: map[string]int{}, ClassErrors: map[string]string{}, Timings: map[string]time.Duration{}, ByGroup: map[string]*GroupForecast{}}
	r := &run{job: j, issued: issued, keepGroups: opt.KeepGroups, types: map[string][]forecast.DayType{}, temp: map[string][]float64{},
		ownErr: map[string]string{}, ownVersion: map[string]string{}}
	t0 := time.Now()
	ms, err := j.registry(ctx, opt.Group)
	if err != nil {
		return nil, err
	}
	res.Timings["registry"] = time.Since(t0)

	t0 = time.Now()
	classes := map[classKey][]*meter{}
	for i := range ms {
		m := &ms[i]
		classes[classKey{m.class, m.zone}] = append(classes[classKey{m.class, m.zone}], m)
	}
	keys := make([]classKey, 0, len(classes))
	for k := range classes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool { return keys[a].String() < keys[b].String() })
	// Classes are fitted in parallel (each fit is one goroutine's pass over its samples).
	fits := make([]struct {
		cm    *classModels
		infos []ModelInfo
		err   error
	}, len(keys))
	var fg errgroup.Group
	fg.SetLimit(j.cfg.workers())
	for i, k := range keys {
		fg.Go(func() error {
			fits[i].cm, fits[i].infos, fits[i].err = r.fitClass(ctx, k, classes[k])
			return nil
		})
	}
	_ = fg.Wait()
	models := map[classKey]*classModels{}
	for i, k := range keys {
		cm, err := fits[i].cm, fits[i].err
		if err != nil && !errors.Is(err, errNoModel) {
			return nil, fmt.Errorf("fit class %s: %w", k, err) // reading failed: stop the run
		}
		if err != nil {
			j.log.Warn("forecast: class model not fitted; its meters get baselines", "class", k.String(), "err", err)
			res.ClassErrors[k.String()] = err.Error()
		}
		if cm == nil {
			cm = &classModels{} // baselines only, if the zone loads
			if loc, lerr := time.LoadLocation(k.zone); lerr == nil && k.zone != "" {
				cm = r.classDays(loc)
			}
		}
		models[k] = cm
		res.Models = append(res.Models, fits[i].infos...)
	}
	res.Timings["fit"] = time.Since(t0)

	t0 = time.Now()
	gr := r.groups(opt.Group)
	if err := r.forecastMeters(ctx, ms, models, gr, res, computedAt); err != nil {
		return nil, err
	}
	res.Timings["meters"] = time.Since(t0)

	t0 = time.Now()
	own, ownInfos, err := r.ownGroupModels(ctx, gr)
	if err != nil {
		return nil, err
	}
	res.Models = append(res.Models, ownInfos...)
	if err := r.writeGroups(ctx, gr, own, res, opt.KeepGroups, computedAt); err != nil {
		return nil, err
	}
	if err := j.store.WriteModels(ctx, res.Models, computedAt); err != nil {
		return nil, err
	}
	res.Timings["groups"] = time.Since(t0)

	if j.cfg.ScoreDays > 0 {
		t0 = time.Now()
		if res.Scored, err = j.store.Score(ctx, issued.AddDate(0, 0, -j.cfg.ScoreDays), issued.Add(time.Second), computedAt); err != nil {
			return nil, err
		}
		res.Timings["score"] = time.Since(t0)
	}
	if !opt.KeepGroups {
		res.ByGroup = nil
	}
	return res, nil
}

// fitClass fits the shared models of one class on its sampled meters' history.
func (r *run) fitClass(ctx context.Context, k classKey, members []*meter) (*classModels, []ModelInfo, error) {
	loc, err := time.LoadLocation(k.zone)
	if err != nil || k.zone == "" {
		return nil, nil, fmt.Errorf("%w: time zone %q: %w", errNoModel, k.zone, err)
	}
	cm := r.classDays(loc)
	cfg := r.job.cfg
	first := cm.issueDay.AddDate(0, 0, -cfg.HistoryDays)
	ids, ranges := sample(members, cfg.TrainMeters)
	byID := map[string]*meter{}
	for _, m := range members {
		byID[m.id] = m
	}
	p := &forecast.Panel{First: first, Days: cfg.HistoryDays}
	series := map[string]*forecast.DaySeries{}
	var wh []float64
	var known []bool
	err = r.job.readProfiles(ctx, ranges, first, cm.issueDay.AddDate(0, 0, -1), func(id string, row *dayProfile) error {
		if !ids[id] {
			return nil // another class's meter inside the range
		}
		s := series[id]
		if s == nil {
			s = &forecast.DaySeries{Load: nanLoad(cfg.HistoryDays)}
			series[id] = s
		}
		addProfile(s.Load, first, loc, row, r.issued, &wh, &known)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	withTemp := false
	sorted := make([]string, 0, len(series))
	for id := range series {
		sorted = append(sorted, id)
	}
	sort.Strings(sorted) // the panel's order, hence the fit, is the same on a replay
	for _, id := range sorted {
		s := series[id]
		m := byID[id]
		r.calLock.Lock()
		s.Types, err = r.dayTypes(ctx, m.region, first, cfg.HistoryDays+1)
		if err == nil {
			s.Temp, err = r.temps(ctx, m.region, loc, first, cfg.HistoryDays+1)
		}
		r.calLock.Unlock()
		if err != nil {
			return nil, nil, err
		}
		withTemp = withTemp || s.Temp != nil
		p.Series = append(p.Series, s)
	}
	if len(p.Series) == 0 {
		return cm, nil, fmt.Errorf("%w: no history for the %d sampled meters", errNoModel, len(ids))
	}
	var infos []ModelInfo
	sel, err := forecast.SelectDayAhead(p, baseSpecs(cm.issueHour), cfg.Lambdas, cfg.ValidationDays)
	if err != nil {
		return cm, nil, fmt.Errorf("%w: %w", errNoModel, err)
	}
	cm.plain = sel.Model
	info := r.modelInfo(k.String(), sel, first, cm.issueDay)
	cm.plainV = info.ModelVersion
	infos = append(infos, info)
	if withTemp {
		var specs []forecast.DayAheadSpec
		for _, s := range baseSpecs(cm.issueHour) {
			s.Temp = true
			specs = append(specs, s)
		}
		ws, werr := forecast.SelectDayAhead(p, specs, cfg.Lambdas, cfg.ValidationDays)
		switch {
		case werr != nil:
			r.job.log.Warn("forecast: no temperature model", "class", k.String(), "err", werr)
		case ws.ValidationMAE < sel.ValidationMAE:
			cm.warm = ws.Model
			wi := r.modelInfo(k.String(), ws, first, cm.issueDay)
			cm.warmV = wi.ModelVersion
			infos = append(infos, wi)
		}
	}
	return cm, infos, nil
}

// classDays returns a class's issue day and hour in loc, without models.
func (r *run) classDays(loc *time.Location) *classModels {
	local := r.issued.In(loc)
	cm := &classModels{loc: loc, issueDay: date(local), issueHour: local.Hour()}
	cm.panelFirst = cm.issueDay.AddDate(0, 0, -(readDays - 1))
	return cm
}

// modelInfo describes a selected model; its version hashes the issue, class, spec and
// training window, so a re-run for the same issue on the same data gets the same version.
func (r *run) modelInfo(class string, sel *forecast.DaySelection, from, to time.Time) ModelInfo {
	m := sel.Model
	h := fnv.New64a()
	fmt.Fprintf(h, "%d|%s|%s|%s|%s", r.issued.Unix(), class, m.Spec, from.Format(time.DateOnly), to.Format(time.DateOnly))
	return ModelInfo{
		Issued: r.issued, ModelVersion: fmt.Sprintf("%s/%s/%012x", r.issued.Format("20060102T1504Z"), class, h.Sum64()&0xffffffffffff),
		Class: class, Features: m.Spec.String(), Lambda: m.Spec.Lambda,
		TrainedFrom: from, TrainedTo: to, ValidationDays: sel.ValidationDays,
		Samples: m.Samples, Series: m.Series, FitMAE: m.FitMAE,
		ValidationMAE: sel.ValidationMAE, BaselineValidationMAE: sel.BaselineMAE,
	}
}

// groupAcc accumulates one group's sum of member forecasts over its target day.
type groupAcc struct {
	kind           schema.GroupKind
	id             string
	start          time.Time
	sum            []float64
	meters, member int
}

// groupSet is the run's groups, keyed "kind/id".
type groupSet struct {
	start time.Time // the target day in Config.Zone
	hours int
	accs  map[string]*groupAcc
	only  *GroupFilter
}

// groups returns the run's empty group sums over the target day in Config.Zone.
func (r *run) groups(only *GroupFilter) *groupSet {
	day := date(r.issued.In(r.job.loc)).AddDate(0, 0, 1)
	start, hours := localDay(day, r.job.loc)
	return &groupSet{start: start, hours: hours, accs: map[string]*groupAcc{}, only: only}
}

// add adds a meter's forecast (hours from start) to its groups.
func (g *groupSet) add(m *meter, start time.Time, wh []float64) {
	for _, k := range schema.GroupKinds {
		if g.only != nil && k != g.only.Kind {
			continue
		}
		key := string(k) + "/" + m.group(k)
		a := g.accs[key]
		if a == nil {
			a = &groupAcc{kind: k, id: m.group(k), start: g.start, sum: make([]float64, g.hours)}
			g.accs[key] = a
		}
		a.member++
		if wh == nil {
			continue
		}
		a.meters++
		off := int(start.Sub(g.start) / time.Hour)
		for i, v := range wh {
			if j := off + i; j >= 0 && j < len(a.sum) {
				a.sum[j] += v
			}
		}
	}
}

// meterJob is one meter's history handed to a worker.
type meterJob struct {
	m    *meter
	load []float64
}

// meterOut is a worker's result.
type meterOut struct {
	m   *meter
	f   *Forecast
	err error
}

// forecastMeters reads the meters' recent history chunk by chunk, forecasts them on
// Config.Workers goroutines and writes the forecasts, adding each to its groups' sums.
// Memory: the rows stream from ClickHouse and each meter's 15 days (2.9 KB) go to the
// workers as soon as its last row is read, so a run holds the channels' few hundred meters
// in flight, besides the registry and the groups' sums.
func (r *run) forecastMeters(ctx context.Context, ms []meter, models map[classKey]*classModels, gr *groupSet, res *Result, computedAt time.Time) error {
	batch, err := r.job.store.NewForecastBatch(ctx, computedAt)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan meterJob, 256)
	outs := make(chan meterOut, 256)
	g.Go(func() error {
		defer close(jobs)
		return r.readChunks(gctx, ms, models, jobs)
	})
	workers := r.job.cfg.workers()
	done := make(chan struct{}, workers)
	for range workers {
		g.Go(func() error {
			defer func() { done <- struct{}{} }()
			buf := make([]float64, 256)
			for mj := range jobs {
				f, err := r.forecastMeter(gctx, mj, models[classKey{mj.m.class, mj.m.zone}], buf)
				select {
				case outs <- meterOut{mj.m, f, err}:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		for range workers {
			<-done
		}
		close(outs)
		return nil
	})
	g.Go(func() error {
		for o := range outs {
			if o.err != nil {
				res.Failed++
				if len(res.FailedSample) < 10 {
					r.job.log.Warn("forecast: meter not forecast", "meter", o.m.id, "err", o.err)
					res.FailedSample = append(res.FailedSample, o.m.id+": "+o.err.Error())
				}
				gr.add(o.m, time.Time{}, nil)
				continue
			}
			res.Meters[methodKind(o.f.Method)]++
			gr.add(o.m, o.f.Start, o.f.Wh)
			if err := batch.Append(o.f); err != nil {
				return err
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return errors.Join(err, batch.Close())
	}
	return batch.Close()
}

// methodKind is a method without its reason, for counting.
func methodKind(m string) string {
	if i := strings.IndexByte(m, ':'); i >= 0 {
		return m[:i]
	}
	return m
}

// readChunks reads the meters' last readDays days of profiles, ChunkMeters at a time, and
// hands each meter with its clock-hour load (NaN where unknown) to jobs.
func (r *run) readChunks(ctx context.Context, ms []meter, models map[classKey]*classModels, jobs chan<- meterJob) error {
	chunk := r.job.cfg.ChunkMeters
	var wh []float64
	var known []bool
	for lo := 0; lo < len(ms); lo += chunk {
		part := ms[lo:min(lo+chunk, len(ms))]
		// The window of local dates covers every zone's issue day.
		var from, to time.Time
		for i := range part {
			cm := models[classKey{part[i].class, part[i].zone}]
			if cm == nil {
				continue
			}
			if from.IsZero() || cm.panelFirst.Before(from) {
				from = cm.panelFirst
			}
			if cm.issueDay.After(to) {
				to = cm.issueDay
			}
		}
		idx := 0
		var cur *meterJob
		flush := func() error {
			if cur == nil {
				return nil
			}
			select {
			case jobs <- *cur:
			case <-ctx.Done():
				return ctx.Err()
			}
			cur = nil
			return nil
		}
		// next advances to meter id, handing over the meters before it (with no rows).
		next := func(id string) (*meterJob, error) {
			for idx < len(part) && part[idx].id < id {
				if cur == nil || cur.m != &part[idx] {
					cur = &meterJob{m: &part[idx], load: nanLoad(readDays)}
				}
				if err := flush(); err != nil {
					return nil, err
				}
				idx++
			}
			if idx < len(part) && part[idx].id == id {
				if cur == nil || cur.m != &part[idx] {
					cur = &meterJob{m: &part[idx], load: nanLoad(readDays)}
				}
				return cur, nil
			}
			return nil, nil
		}
		if !from.IsZero() {
			err := r.job.readProfiles(ctx, []idRange{{part[0].id, part[len(part)-1].id}}, from, to, func(id string, row *dayProfile) error {
				mj, err := next(id)
				if err != nil || mj == nil {
					return err
				}
				cm := models[classKey{mj.m.class, mj.m.zone}]
				if cm != nil {
					addProfile(mj.load, cm.panelFirst, cm.loc, row, r.issued, &wh, &known)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		// The meters after the last row.
		for ; idx < len(part); idx++ {
			if cur == nil || cur.m != &part[idx] {
				cur = &meterJob{m: &part[idx], load: nanLoad(readDays)}
			}
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// forecastMeter forecasts one meter with its class model, or a baseline.
func (r *run) forecastMeter(ctx context.Context, mj meterJob, cm *classModels, buf []float64) (*Forecast, error) {
	if cm == nil || cm.loc == nil {
		return nil, fmt.Errorf("time zone %q: not an IANA time zone", mj.m.zone)
	}
	s := &forecast.DaySeries{Load: mj.load}
	var err error
	r.calLock.Lock()
	s.Types, err = r.dayTypes(ctx, mj.m.region, cm.panelFirst, readDays+1)
	if err == nil {
		s.Temp, err = r.temps(ctx, mj.m.region, cm.loc, cm.panelFirst, readDays+1)
	}
	r.calLock.Unlock()
	if err != nil {
		return nil, err
	}
	p := &forecast.Panel{First: cm.panelFirst, Days: readDays}
	d := readDays - 1
	target := cm.issueDay.AddDate(0, 0, 1)
	start, hours := localDay(target, cm.loc)
	f := &Forecast{Scope: "meter", ID: mj.m.id, Issued: r.issued, Start: start, NaiveMAE: forecast.NaiveMAE(s, d, cm.issueHour)}
	var out [forecast.HoursPerDay]float64
	var perr error
	switch {
	case cm.plain == nil:
		perr = errors.New("no class model")
	case cm.warm != nil && hasTemps(s.Temp, d+1):
		out, perr = cm.warm.Predict(p, s, d, buf)
		f.Method, f.ModelVersion = "model", cm.warmV
	default:
		out, perr = cm.plain.Predict(p, s, d, buf)
		f.Method, f.ModelVersion = "model", cm.plainV
		if cm.warm != nil {
			f.Method = "model-no-weather-forecast"
		}
	}
	if perr == nil {
		f.Scale, _ = s.Level(d)
	} else {
		b, bf, berr := forecast.FallbackBaseline(s, d, cm.issueHour)
		if berr != nil {
			return nil, fmt.Errorf("no model forecast (%v) and no baseline: %w", perr, berr)
		}
		out = bf
		f.Method, f.ModelVersion, f.Scale = fmt.Sprintf("%s: %v", b, perr), "", 0
	}
	for h, v := range out {
		out[h] = max(v, 0) // consumption is never negative
	}
	f.Wh = forecast.UTCHours(make([]float64, 0, hours), start, cm.loc, hours, &out)
	return f, nil
}

// hasTemps reports whether temps holds all 24 hours of day d.
func hasTemps(temps []float64, d int) bool {
	if len(temps) < (d+1)*forecast.HoursPerDay {
		return false
	}
	for _, v := range temps[d*forecast.HoursPerDay : (d+1)*forecast.HoursPerDay] {
		if math.IsNaN(v) {
			return false
		}
	}
	return true
}

// ownGroupModels fits, per group kind whose method is "own" (or for every kind when the
// result keeps both), a model shared by the kind's groups and forecasts each group.
func (r *run) ownGroupModels(ctx context.Context, gr *groupSet) (map[string][]float64, []ModelInfo, error) {
	out := map[string][]float64{}
	var infos []ModelInfo
	cfg := r.job.cfg
	loc := r.job.loc
	issueDay := date(r.issued.In(loc))
	first := issueDay.AddDate(0, 0, -cfg.HistoryDays)
	n := cfg.HistoryDays + 1 // the training days and the issue day
	for _, k := range schema.GroupKinds {
		if gr.only != nil && k != gr.only.Kind {
			continue
		}
		if cfg.groupMethod(k) != GroupOwn && !r.keepGroups {
			continue
		}
		series, err := r.groupSeries(ctx, k, loc, first, n)
		if err != nil {
			return nil, nil, err
		}
		ids := make([]string, 0, len(series))
		for id := range series {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		p := &forecast.Panel{First: first, Days: cfg.HistoryDays}
		pp := &forecast.Panel{First: first, Days: n}
		var train []*forecast.DaySeries
		for _, id := range ids {
			s := series[id]
			region := cfg.Region
			if k == schema.KindRegion {
				region = id
			}
			types, err := r.dayTypes(ctx, region, first, n+1)
			if err != nil {
				return nil, nil, err
			}
			s.Types = types
			train = append(train, &forecast.DaySeries{Load: s.Load[:cfg.HistoryDays*forecast.HoursPerDay], Types: types})
		}
		p.Series = train
		if len(train) == 0 {
			continue
		}
		sel, err := forecast.SelectDayAhead(p, groupSpecs(r.issued.In(loc).Hour()), cfg.Lambdas, cfg.ValidationDays)
		if err != nil {
			for _, id := range ids {
				r.ownErr[string(k)+"/"+id] = err.Error()
			}
			continue
		}
		info := r.modelInfo("group:"+string(k), sel, first, issueDay)
		infos = append(infos, info)
		r.ownVersion[string(k)] = info.ModelVersion
		buf := make([]float64, sel.Model.Spec.Width())
		for _, id := range ids {
			f, err := sel.Model.Predict(pp, series[id], n-1, buf)
			if err != nil {
				r.ownErr[string(k)+"/"+id] = err.Error()
				continue
			}
			for h := range f {
				f[h] = max(f[h], 0)
			}
			out[string(k)+"/"+id] = forecast.UTCHours(nil, gr.start, loc, gr.hours, &f)
		}
	}
	return out, infos, nil
}

// writeGroups writes each group's forecast by its kind's method, falling back to the sum
// when the own model has none.
func (r *run) writeGroups(ctx context.Context, gr *groupSet, own map[string][]float64, res *Result, keep bool, computedAt time.Time) error {
	batch, err := r.job.store.NewForecastBatch(ctx, computedAt)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(gr.accs))
	for k := range gr.accs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		a := gr.accs[key]
		if gr.only != nil && (a.kind != gr.only.Kind || a.id != gr.only.ID) {
			continue
		}
		f := &Forecast{Scope: string(a.kind), ID: a.id, Issued: r.issued, Start: a.start, NaiveMAE: math.NaN()}
		f.Wh = a.sum
		f.Method = fmt.Sprintf("sum: %d of %d meters", a.meters, a.member)
		if o, ok := own[key]; ok && r.job.cfg.groupMethod(a.kind) == GroupOwn {
			f.Wh, f.Method, f.ModelVersion = o, "group-model", r.ownVersion[string(a.kind)]
		} else if r.job.cfg.groupMethod(a.kind) == GroupOwn {
			f.Method += fmt.Sprintf(" (own model: %s)", r.ownErr[key])
		}
		if keep {
			res.ByGroup[key] = &GroupForecast{Start: a.start, Sum: a.sum, Meters: a.meters, Member: a.member, Own: own[key], OwnErr: r.ownErr[key]}
		}
		if a.meters == 0 && f.Method != "group-model" {
			continue // nothing to sum
		}
		if err := batch.Append(f); err != nil {
			return errors.Join(err, batch.Close())
		}
		res.Groups++
	}
	return batch.Close()
}
