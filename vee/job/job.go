package job

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"golang.org/x/sync/errgroup"

	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/vee"
)

// The kinds of run recorded in vee_runs.
const (
	KindIncremental = "incremental"
	KindRange       = "range"
	KindEdit        = "edit"
)

// Job is the VEE job over one ClickHouse database. It is safe for concurrent use; its
// runs are serialized. A process builds one Job (internal/app), which its periodic runs
// and its edits' recomputations share.
type Job struct {
	// mu serializes the job's computations (the periodic run, range runs and edit
	// recomputations), so that each one's computed_at is above the previous one's.
	mu   sync.Mutex
	cfg  Config
	conn driver.Conn
	log  *slog.Logger
	now  func() time.Time
	// process computes one window: vee.Process, replaced by tests.
	process processFunc
	// metrics, when set, counts failed windows and tracks the open ones.
	metrics *Metrics
	// afterStep, when set (by tests), is called after each write step with its name; an
	// error aborts the run there, as a crash would.
	afterStep func(step string) error
	// private is the private database's name (control_relay), cfg.PrivateDatabase or,
	// when that is empty, found at the first run (see privateDB).
	private string
}

// New returns the job over conn, which must be connected to the platform's database.
func New(cfg Config, conn driver.Conn, log *slog.Logger) (*Job, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if conn == nil || log == nil {
		return nil, errors.New("vee job: New needs a connection and a logger")
	}
	return &Job{cfg: cfg, conn: conn, log: log, now: time.Now, process: vee.Process, private: cfg.PrivateDatabase}, nil
}

// Result says what one run did.
type Result struct {
	// Kind is incremental, range or edit.
	Kind string
	// Meters and Windows count the meters and the windows recomputed.
	Meters, Windows int
	// Intervals counts the 15-minute intervals written.
	Intervals int64
	// Watermark is the ingested_at high-water mark after the run.
	Watermark time.Time
	// ComputedAt is the version the run wrote its rows with.
	ComputedAt time.Time
	// RunID identifies the run in vee_runs and vee_failures.
	RunID string
	// Failed counts the meter windows the run could not process: it wrote nothing for
	// them, flagged them in vee_failures (retried by the next incremental run) and
	// computed every other window. Failures lists the first MaxReportedFailures of them.
	Failed   int
	Failures []Failure
	// Retried counts the failed windows of earlier runs this run retried.
	Retried int
}

// state is the job's state before a run.
type state struct {
	watermark  time.Time
	computedAt time.Time
	runs       uint64
	// open holds the windows still failed, which an incremental run retries.
	open []openFailure
}

func (j *Job) lastRun(ctx context.Context) (state, error) {
	var st state
	if err := j.conn.QueryRow(ctx, lastRunSQL).Scan(&st.watermark, &st.computedAt, &st.runs); err != nil {
		return st, fmt.Errorf("read vee_runs: %w", err)
	}
	st.watermark, st.computedAt = st.watermark.UTC(), st.computedAt.UTC()
	return st, nil
}

// Run recomputes the windows touched by readings ingested, edits made and relay changes
// recorded (control_relay) since the last run, then advances the watermark. A relay
// change reopens its meter from the change's day to now (no earlier than the lateness
// bound), as the state holds until the next change. The first run of a database, having no watermark,
// takes every reading within the lateness bound.
func (j *Job) Run(ctx context.Context) (Result, error) {
	return j.run(ctx, KindIncremental, func(ctx context.Context, st state, now, high time.Time) ([]span, error) {
		late := j.lateBound(now)
		var days []touchedDay
		var err error
		if st.runs == 0 {
			days, err = j.touchedDays(ctx, readingDaysSQL, late, schema.LatestTime, high)
		} else {
			days, err = j.touchedDays(ctx, arrivalsSQL, st.watermark, high, late)
		}
		if err != nil {
			return nil, err
		}
		for i := range days {
			days[i].lo = maxTime(days[i].lo, late)
		}
		edits, err := j.editSpans(ctx, st.watermark, high)
		if err != nil {
			return nil, err
		}
		relay, err := j.relaySpans(ctx, st.watermark, high, late)
		if err != nil {
			return nil, err
		}
		return append(append(spansOf(days), edits...), relay...), nil
	})
}

// RunRange recomputes every meter's readings stamped in [from, to], whatever the
// watermark, which it leaves unchanged. It serves backfills and re-validation after a
// change of rules.
func (j *Job) RunRange(ctx context.Context, from, to time.Time) (Result, error) {
	if err := schema.CheckTime("from", from); err != nil {
		return Result{}, err
	}
	if err := schema.CheckTime("to", to); err != nil {
		return Result{}, err
	}
	if !to.After(from) {
		return Result{}, errors.New("vee job: the range's end must be after its start")
	}
	return j.run(ctx, KindRange, func(ctx context.Context, _ state, now, _ time.Time) ([]span, error) {
		days, err := j.touchedDays(ctx, readingDaysSQL, from.UTC(), to.UTC(), now)
		if err != nil {
			return nil, err
		}
		return spansOf(days), nil
	})
}

// Recompute recomputes one meter's windows around [from, to), as an edit does.
func (j *Job) Recompute(ctx context.Context, meterID string, from, to time.Time) (Result, error) {
	return j.run(ctx, KindEdit, func(context.Context, state, time.Time, time.Time) ([]span, error) {
		return []span{{meter: meterID, lo: from.UTC(), hi: to.UTC()}}, nil
	})
}

// Loop runs the job every cfg.Interval until ctx ends. A failed run is logged and retried
// at the next tick; its watermark was not advanced, so nothing is lost.
func (j *Job) Loop(ctx context.Context) error {
	if j.cfg.Interval <= 0 {
		return nil
	}
	t := time.NewTicker(j.cfg.Interval)
	defer t.Stop()
	for {
		res, err := j.Run(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			j.log.Error("vee run failed; retrying at the next interval", "err", err)
		default:
			j.log.Info("vee run", "meters", res.Meters, "windows", res.Windows, "intervals", res.Intervals,
				"watermark", res.Watermark, "failed_windows", res.Failed, "retried_windows", res.Retried)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (j *Job) lateBound(now time.Time) time.Time {
	if j.cfg.Lateness <= 0 {
		return schema.MinDateTime
	}
	return now.Add(-j.cfg.Lateness).Truncate(time.Second)
}

type finder func(ctx context.Context, st state, now, high time.Time) ([]span, error)

func (j *Job) run(ctx context.Context, kind string, find finder) (Result, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	started := j.now().UTC().Truncate(time.Second)
	st, err := j.lastRun(ctx)
	if err != nil {
		return Result{}, err
	}
	res := Result{Kind: kind, Watermark: st.watermark, RunID: newID()}
	res.ComputedAt = maxTime(started, st.computedAt.Add(time.Second))
	high := started.Add(-j.cfg.Settle)
	if kind == KindIncremental {
		if !high.After(st.watermark) {
			return res, nil
		}
		res.Watermark = high
	}
	if st.open, err = j.openFailures(ctx); err != nil {
		return res, err
	}
	var retry []openFailure
	if kind == KindIncremental { // range and edit runs leave the retries to the next one
		retry = st.open
	}
	res.Retried = len(retry)
	spans, err := find(ctx, st, started, high)
	if err != nil {
		return res, err
	}
	fails, err := j.compute(ctx, spans, retry, started, &res)
	if err != nil {
		return res, err
	}
	if err := j.step("groups"); err != nil {
		return res, err
	}
	// Failed windows are recorded before the run: a crash in between makes the rerun
	// compute and record the same failures again.
	res.Failed = len(fails)
	res.Failures = fails[:min(len(fails), MaxReportedFailures)]
	if err := j.writeFailures(ctx, res.RunID, fails, st.open, retry, started, res.ComputedAt); err != nil {
		return res, err
	}
	if j.metrics != nil {
		for _, f := range fails {
			j.metrics.failed.WithLabelValues(f.Reason).Inc()
		}
		j.metrics.open.Set(float64(openAfter(st.open, retry, fails)))
	}
	if err := j.step("failures"); err != nil {
		return res, err
	}
	// A range or edit run that computed nothing leaves no trace in vee_runs, unless it
	// wrote vee_failures rows: those are versioned by computed_at, and recording the run
	// makes the next run's computed_at, and so its versions of the same windows, strictly
	// later (argMax over equal versions would pick between failed and resolved at random).
	if kind != KindIncremental && res.Windows == 0 && res.Failed == 0 {
		return res, nil
	}
	return res, j.recordRun(ctx, res, started)
}

func (j *Job) step(name string) error {
	if j.afterStep != nil {
		return j.afterStep(name)
	}
	return nil
}

func (j *Job) recordRun(ctx context.Context, res Result, started time.Time) error {
	bctx, sent := schema.BatchContext(ctx)
	defer sent()
	b, err := j.conn.PrepareBatch(bctx, insertRun)
	if err != nil {
		return fmt.Errorf("record vee run: %w", err)
	}
	defer b.Abort() //nolint:errcheck // a no-op once sent
	finished := maxTime(j.now().UTC().Truncate(time.Second), started)
	if err := b.Append(res.RunID, res.Kind, started, finished, res.Watermark, res.ComputedAt,
		uint32(res.Meters), uint32(res.Windows), uint64(res.Intervals)); err != nil {
		return fmt.Errorf("record vee run: %w", err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("record vee run: %w", err)
	}
	return nil
}

// touchedDays runs a query returning (meter, day, first ts, last ts) rows.
func (j *Job) touchedDays(ctx context.Context, sql string, args ...any) ([]touchedDay, error) {
	rows, err := j.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("find touched days: %w", err)
	}
	defer rows.Close()
	var out []touchedDay
	for rows.Next() {
		var d touchedDay
		if err := rows.Scan(&d.meter, &d.day, &d.lo, &d.hi); err != nil {
			return nil, fmt.Errorf("find touched days: %w", err)
		}
		d.day, d.lo, d.hi = d.day.UTC(), d.lo.UTC(), d.hi.UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find touched days: %w", err)
	}
	return out, nil
}

// editSpans returns the ranges of edits created in (from, to].
func (j *Job) editSpans(ctx context.Context, from, to time.Time) ([]span, error) {
	rows, err := j.conn.Query(ctx, editsSinceSQL, from, to)
	if err != nil {
		return nil, fmt.Errorf("find new edits: %w", err)
	}
	defer rows.Close()
	var out []span
	for rows.Next() {
		var s span
		if err := rows.Scan(&s.meter, &s.lo, &s.hi); err != nil {
			return nil, fmt.Errorf("find new edits: %w", err)
		}
		s.lo, s.hi = s.lo.UTC(), s.hi.UTC()
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find new edits: %w", err)
	}
	return out, nil
}

// compute recomputes the windows around spans, and the failed windows retry as they
// were, then the group roll-ups they touch. It returns the windows that failed (see
// processWindow), which it skipped.
func (j *Job) compute(ctx context.Context, spans []span, retry []openFailure, now time.Time, res *Result) ([]Failure, error) {
	if len(spans) == 0 && len(retry) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(spans)+len(retry))
	for _, s := range spans {
		ids = append(ids, s.meter)
	}
	for _, o := range retry {
		ids = append(ids, o.key.meter)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	reg, err := j.registry(ctx, ids)
	if err != nil {
		return nil, err
	}

	// Phase 1: the readings around each span decide which local days it touches, a chunk
	// of spans per statement, cfg.Workers chunks at once.
	slices.SortFunc(spans, func(a, b span) int { return a.lo.Compare(b.lo) })
	chunks := chunksOf(spans, j.cfg.BatchMeters, maxListBytes, func(s span) string { return s.meter })
	found := make([][]window, len(chunks))
	ag, actx := errgroup.WithContext(ctx)
	ag.SetLimit(j.cfg.Workers)
	for c, chunk := range chunks {
		ag.Go(func() error {
			as, err := j.anchors(actx, chunk)
			if err != nil {
				return err
			}
			for i, s := range chunk {
				found[c] = append(found[c], windowOf(s, as[i], reg[s.meter].loc))
			}
			return nil
		})
	}
	if err := ag.Wait(); err != nil {
		return nil, err
	}
	var ws []window
	for _, f := range found {
		ws = append(ws, f...)
	}
	// A failed window is retried as it was, not widened to its anchors' days again.
	for _, o := range retry {
		ws = append(ws, window{meter: o.key.meter, from: time.Unix(o.key.from, 0).UTC(), to: time.Unix(o.key.to, 0).UTC(), loc: reg[o.key.meter].loc})
	}
	ws = mergeWindows(ws)

	// A window whose bounds, or those of the days and months it rolls up into, lie outside
	// what ClickHouse reads back fails here, before any query is bound with them: one such
	// bound would make its whole batch's queries match nothing.
	var fails []Failure
	inRange := ws[:0]
	for _, w := range ws {
		if f := rangeFailure(w); f != nil {
			j.logFailure(*f, nil)
			fails = append(fails, *f)
			continue
		}
		inRange = append(inRange, w)
	}
	ws = inRange

	// Phase 2: per batch of windows, load, process and write, cfg.Workers batches at once.
	slices.SortFunc(ws, func(a, b window) int { return a.from.Compare(b.from) })
	batches := batchesOf(ws, j.cfg.BatchMeters)
	type outcome struct {
		done   []window
		failed []Failure
		n      int64
	}
	outs := make([]outcome, len(batches))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(j.cfg.Workers)
	for i, b := range batches {
		g.Go(func() error {
			got, failed, n, err := j.processBatch(gctx, b, reg, now, res.ComputedAt)
			outs[i] = outcome{got, failed, n}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var done []window
	for _, o := range outs {
		done, fails = append(done, o.done...), append(fails, o.failed...)
		res.Intervals += o.n
	}
	res.Windows = len(done)
	meters := make([]string, len(done))
	for i, w := range done {
		meters[i] = w.meter
	}
	slices.Sort(meters)
	res.Meters = len(slices.Compact(meters))
	if len(done) == 0 {
		return fails, nil
	}
	if err := j.step("meters"); err != nil {
		return nil, err
	}
	return fails, j.writeGroups(ctx, done, reg, res.ComputedAt)
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
