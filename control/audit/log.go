package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/schema"
)

// Log is the audit log of one private database (table control_audit). Append numbers the
// entries consecutively and chains them; Anchor publishes the head. It is safe for
// concurrent use. One process appends to a log: two writers would both number entries
// from the same head, and Verify reports the fork as duplicates.
type Log struct {
	conn   driver.Conn
	name   string // the private database
	table  string
	anchor Anchor
	log    *slog.Logger
	now    func() time.Time

	// writer is held by the one goroutine that writes (a channel, so that waiting for
	// it can end with the caller's context). It guards head and stale.
	writer chan struct{}
	head   Head
	// stale means an insert failed: whether its rows are stored is not known, so the
	// head is read again before the next write.
	stale bool

	// mu guards queue: the batches waiting to be written, written together by whichever
	// caller holds writer next.
	mu    sync.Mutex
	queue []*batch

	// anchored and anchoredAt are the seq and time of the last head Anchor published
	// (guarded by anchorMu).
	anchorMu   sync.Mutex
	anchored   uint64
	anchoredAt time.Time
}

// batch is one Append call's entries and its result.
type batch struct {
	entries []Entry
	done    chan error // receives the result once
}

// Option adjusts a Log that Open returns.
type Option func(*Log)

// WithLogger makes the log report anchors (and anchoring failures) to l.
func WithLogger(l *slog.Logger) Option { return func(g *Log) { g.log = l } }

// WithClock makes the log stamp anchors with now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(g *Log) { g.now = now } }

// Open returns the audit log of privateDB (the migrated private database,
// schema.Config.PrivateDatabase) over conn, which continues the stored chain: the next
// entry is numbered after the stored head and chained to its hash. anchor is where the
// head is published (a *KafkaAnchor in production, a *MemoryAnchor in tests).
func Open(ctx context.Context, conn driver.Conn, privateDB string, anchor Anchor, opts ...Option) (*Log, error) {
	if conn == nil {
		return nil, errors.New("audit: Open needs a ClickHouse connection")
	}
	if !schema.ValidMeterID([]byte(privateDB)) {
		return nil, fmt.Errorf("audit: Open: %q is not a private database name", privateDB)
	}
	if anchor == nil {
		return nil, errors.New("audit: Open needs an anchor")
	}
	l := &Log{conn: conn, name: privateDB, table: privateDB + ".control_audit", anchor: anchor,
		log: slog.New(slog.DiscardHandler), now: time.Now, writer: make(chan struct{}, 1)}
	for _, o := range opts {
		o(l)
	}
	var err error
	if l.head, err = storedHead(ctx, conn, l.table, privateDB); err != nil {
		return nil, err
	}
	return l, nil
}

// storedHead returns the stored entry with the largest seq.
func storedHead(ctx context.Context, conn driver.Conn, table, name string) (Head, error) {
	rows, err := conn.Query(ctx, "SELECT seq, hash, at, at_ns FROM "+table+" WHERE seq = (SELECT max(seq) FROM "+table+") LIMIT 1")
	if err != nil {
		return Head{}, fmt.Errorf("audit: read the head of %s: %w", table, err)
	}
	defer rows.Close()
	h := Head{Log: name, Hash: ZeroHash}
	if rows.Next() {
		var at time.Time
		var ns uint32
		if err := rows.Scan(&h.Seq, &h.Hash, &at, &ns); err != nil {
			return Head{}, fmt.Errorf("audit: read the head of %s: %w", table, err)
		}
		h.At = time.Unix(at.Unix(), int64(ns)).UTC()
		if err := CheckHash(h.Hash); err != nil {
			return Head{}, fmt.Errorf("audit: the head of %s, entry %d: %w", table, h.Seq, err)
		}
	}
	return h, rows.Err()
}

// Name returns the log's name, its private database.
func (l *Log) Name() string { return l.name }

// Append stores entries as the next entries of the chain, in order and consecutively
// numbered, and returns once they are stored. Entries of concurrent calls are written
// together in one insert; each call's entries stay together. A call whose context ends
// before its entries were taken up for writing stores nothing; once taken up, they are
// written (within 30 seconds) and the call returns the outcome. After a failed insert,
// whose rows may or may not be stored, the next write first reads the stored head again.
func (l *Log) Append(ctx context.Context, entries ...Entry) error {
	for i, e := range entries {
		if err := e.Check(); err != nil {
			return fmt.Errorf("audit: entry %d: %w", i, err)
		}
	}
	if len(entries) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b := &batch{entries: entries, done: make(chan error, 1)}
	l.mu.Lock()
	l.queue = append(l.queue, b)
	l.mu.Unlock()
	select {
	case l.writer <- struct{}{}:
	case err := <-b.done:
		return err
	case <-ctx.Done():
		l.mu.Lock()
		i := slices.Index(l.queue, b)
		if i >= 0 {
			l.queue = slices.Delete(l.queue, i, i+1)
		}
		l.mu.Unlock()
		if i >= 0 {
			return ctx.Err()
		}
		return <-b.done // taken up: being written
	}
	defer func() { <-l.writer }()
	select {
	case err := <-b.done: // an earlier writer wrote it
		return err
	default:
	}
	l.mu.Lock()
	q := l.queue
	l.queue = nil
	l.mu.Unlock()
	// The insert carries other callers' entries too: this caller's context ending must
	// not fail theirs, so it is bounded by writeTimeout instead.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	err := l.write(wctx, q)
	cancel()
	for _, o := range q {
		o.done <- err
	}
	return <-b.done
}

// writeTimeout bounds one insert of Append.
const writeTimeout = 30 * time.Second

// write stores the batches' entries in one insert; the caller holds writer.
func (l *Log) write(ctx context.Context, q []*batch) error {
	if l.stale {
		h, err := storedHead(ctx, l.conn, l.table, l.name)
		if err != nil {
			return err
		}
		l.head, l.stale = h, false
	}
	var entries []Entry
	for _, b := range q {
		entries = append(entries, b.entries...)
	}
	if len(entries) == 0 {
		return nil
	}
	recs := chain(l.head.Seq, l.head.Hash, entries)
	if err := l.insert(ctx, recs); err != nil {
		l.stale = true
		return err
	}
	last := recs[len(recs)-1]
	l.head = Head{Log: l.name, Seq: last.Seq, Hash: last.Hash, At: last.At}
	return nil
}

func (l *Log) insert(ctx context.Context, recs []Record) error {
	bctx, sent := schema.BatchContext(ctx)
	defer sent()
	b, err := l.conn.PrepareBatch(bctx, "INSERT INTO "+l.table+" (seq, at, at_ns, actor, event, command_id, meter_id, detail, prev_hash, hash)")
	if err != nil {
		return fmt.Errorf("audit: prepare insert: %w", err)
	}
	defer b.Abort() //nolint:errcheck // a no-op once sent
	for _, r := range recs {
		if err := b.Append(r.Seq, time.Unix(r.At.Unix(), 0).UTC(), uint32(r.At.Nanosecond()), r.Actor, r.Event,
			r.CommandID, r.MeterID, r.Detail, r.PrevHash, r.Hash); err != nil {
			return fmt.Errorf("audit: entry %d: %w", r.Seq, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("audit: insert entries %d to %d: %w", recs[0].Seq, recs[len(recs)-1].Seq, err)
	}
	return nil
}

// Head returns the head of the chain as this log last wrote or read it.
func (l *Log) Head(ctx context.Context) (Head, error) {
	select {
	case l.writer <- struct{}{}:
	case <-ctx.Done():
		return Head{}, ctx.Err()
	}
	defer func() { <-l.writer }()
	if l.stale {
		h, err := storedHead(ctx, l.conn, l.table, l.name)
		if err != nil {
			return Head{}, err
		}
		l.head, l.stale = h, false
	}
	return l.head, nil
}

// Anchor publishes the chain's head now, stamped with the current time, to the anchor and
// to the process's log, and returns it.
func (l *Log) Anchor(ctx context.Context) (Head, error) {
	h, err := l.Head(ctx)
	if err != nil {
		return Head{}, err
	}
	h.At = l.now().UTC()
	if err := l.anchor.Publish(ctx, h); err != nil {
		return Head{}, err
	}
	l.anchorMu.Lock()
	l.anchored, l.anchoredAt = max(l.anchored, h.Seq), h.At
	l.anchorMu.Unlock()
	l.log.Info("audit: anchored the chain's head", "log", h.Log, "seq", h.Seq, "hash", h.Hash, "at", h.At.Format(time.RFC3339Nano))
	return h, nil
}

// RunAnchors publishes the head every interval when entries were appended since the last
// anchor, and at least once every KeepAnchor even when none were (so that an idle log's
// latest anchor stays within the topic's retention; the first time at its first
// interval), until ctx ends (then it returns nil).
// A failure is logged and retried at the next interval.
func (l *Log) RunAnchors(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return fmt.Errorf("audit: RunAnchors: interval %s must be positive", every)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		h, err := l.Head(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			l.log.Error("audit: cannot read the chain's head to anchor it", "log", l.name, "err", err)
			continue
		}
		l.anchorMu.Lock()
		due := h.Seq > l.anchored || (h.Seq > 0 && l.now().Sub(l.anchoredAt) >= KeepAnchor)
		l.anchorMu.Unlock()
		if !due {
			continue
		}
		if _, err := l.Anchor(ctx); err != nil && ctx.Err() == nil {
			l.log.Error("audit: cannot anchor the chain's head", "log", l.name, "seq", h.Seq, "err", err)
		}
	}
}

// KeepAnchor is the longest RunAnchors goes without publishing the head.
const KeepAnchor = 24 * time.Hour

// Verify checks the stored chain against the latest anchors and this log's own head:
// see the function Verify.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	h, err := l.Head(ctx)
	if err != nil {
		return Report{}, err
	}
	return verify(ctx, l.conn, l.name, l.anchor, &h)
}

// Verify reads the whole audit log of privateDB in seq order and checks that every entry
// is stored once, intact (its hash is that of its fields), under the number it was
// appended as and chained to the entry before it, that no number is missing, and that
// the latest anchors (up to 100) name entries the log holds with the hashes it holds.
// It returns what it found wrong in the report; the error is for what kept it from
// checking. It reads 100 000 numbers at a time, so its memory (and ClickHouse's) does not
// grow with the log's length.
func Verify(ctx context.Context, conn driver.Conn, privateDB string, anchor Anchor) (Report, error) {
	if conn == nil || anchor == nil {
		return Report{}, errors.New("audit: Verify needs a ClickHouse connection and an anchor")
	}
	if !schema.ValidMeterID([]byte(privateDB)) {
		return Report{}, fmt.Errorf("audit: Verify: %q is not a private database name", privateDB)
	}
	return verify(ctx, conn, privateDB, anchor, nil)
}

// verifyAnchors is how many of the latest anchors Verify compares.
const verifyAnchors = 100

// verifyChunk is how many numbers of seq one query of Verify reads.
var verifyChunk uint64 = 100000

// readRange feeds c the records with seq from lo to last, in seq order.
func readRange(ctx context.Context, conn driver.Conn, table string, lo, last uint64, c *checker) error {
	rows, err := conn.Query(ctx, "SELECT seq, at, at_ns, actor, event, command_id, meter_id, detail, prev_hash, hash FROM "+
		table+" WHERE seq >= ? AND seq <= ? ORDER BY seq, hash", lo, last)
	if err != nil {
		return fmt.Errorf("audit: read %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Record
		var at time.Time
		var ns uint32
		if err := rows.Scan(&r.Seq, &at, &ns, &r.Actor, &r.Event, &r.CommandID, &r.MeterID, &r.Detail, &r.PrevHash, &r.Hash); err != nil {
			return fmt.Errorf("audit: read %s: %w", table, err)
		}
		r.At = time.Unix(at.Unix(), int64(ns)).UTC()
		c.add(r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit: read %s: %w", table, err)
	}
	return nil
}

func verify(ctx context.Context, conn driver.Conn, name string, anchor Anchor, own *Head) (Report, error) {
	anchors, err := anchor.Latest(ctx, name, verifyAnchors)
	if err != nil {
		return Report{}, fmt.Errorf("audit: read anchors: %w", err)
	}
	c := newChecker(name, anchors, own)
	table := name + ".control_audit"
	var top uint64
	if err := conn.QueryRow(ctx, "SELECT max(seq) FROM "+table).Scan(&top); err != nil {
		return Report{}, fmt.Errorf("audit: read %s: %w", table, err)
	}
	// A range of seq at a time, so that neither ClickHouse (18.16 sorts a whole result
	// in memory) nor this process holds the whole log; ranges without rows are skipped
	// (a row numbered far beyond the others costs one query, not millions).
	for lo := uint64(0); ; {
		last := lo + (verifyChunk - 1)
		if last < lo {
			last = math.MaxUint64
		}
		if err := readRange(ctx, conn, table, lo, last, c); err != nil {
			return Report{}, err
		}
		if top <= last {
			break
		}
		if err := conn.QueryRow(ctx, "SELECT min(seq) FROM "+table+" WHERE seq > ?", last).Scan(&lo); err != nil {
			return Report{}, fmt.Errorf("audit: read %s: %w", table, err)
		}
	}
	return c.finish(), nil
}
