package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/meterhouse/meterhouse/broker"
	"github.com/meterhouse/meterhouse/ingest/wire"
)

// Config configures the Kafka side of ingest. How to reach Kafka (brokers, SASL, TLS) is
// the kafka section (broker.Config), given to New apart.
type Config struct {
	// Topic is the readings topic.
	Topic string `yaml:"topic"`
	// DLQTopic receives every record ingest refuses, with the reason in headers.
	DLQTopic string `yaml:"dlq_topic"`
	// GroupID is the consumer group; every ingest process of one deployment shares it.
	GroupID string `yaml:"group_id"`
	// Partitions is the partition count used when ingest creates the readings topic.
	Partitions int `yaml:"partitions"`
	// Consumers is how many group members this process runs, each with its own fetch loop
	// and batch. More than the topic's partitions leaves some idle.
	Consumers int `yaml:"consumers"`
	// BatchRows flushes a batch once it holds this many readings.
	BatchRows int `yaml:"batch_rows"`
	// FlushInterval flushes a batch this long after its first message, however small.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// Window bounds the reading timestamps accepted, around each Kafka message's timestamp
	// (for HTTP ingest: its acceptance time), never the consumer's clock.
	Window Window `yaml:"window"`
	// RetryMin and RetryMax bound the exponential backoff between retries of a failed
	// insert or dead-letter write. Ingest retries until it succeeds or is stopped, and
	// stops fetching meanwhile.
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
	// ShutdownTimeout bounds the final flush and commit after a stop is requested.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// FetchBufferBytes bounds the message values each consumer holds fetched but not yet
	// decoded, so that large Arrow messages cannot fill memory while a flush waits. A
	// single message larger than the bound is still taken, alone.
	FetchBufferBytes int `yaml:"fetch_buffer_bytes"`
	// SessionTimeout is how long the group coordinator waits for a heartbeat before it
	// declares a member dead and hands its partitions to the others. A process killed
	// without leaving the group holds its partitions this long. Heartbeats are sent every
	// tenth of it. The broker bounds it (group.min.session.timeout.ms, 6s by default).
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// LagInterval is how often the consumer lag per partition (end offset minus the
	// group's committed offset) is measured for the metrics.
	LagInterval time.Duration `yaml:"lag_interval"`
	// UnsafeCommitBeforeInsert commits each batch's offsets BEFORE storing it, so that a
	// crash between the commit and the insert loses the batch. It exists only so that the
	// crash tests can show that they detect a broken pipeline; never set it in production.
	UnsafeCommitBeforeInsert bool `yaml:"unsafe_commit_before_insert"`
}

// DefaultConfig returns settings for the local development services.
func DefaultConfig() Config {
	return Config{
		Topic:            "readings",
		DLQTopic:         "readings-dlq",
		GroupID:          "meterhouse-ingest",
		Partitions:       4,
		Consumers:        2,       // one per core of the 2-core reference machine (bench ingest)
		BatchRows:        500_000, // ~1 insert/s under backlog; each batch ~25 MB of columns
		FlushInterval:    time.Second,
		Window:           Window{MaxAge: 400 * 24 * time.Hour, MaxFuture: time.Hour},
		RetryMin:         100 * time.Millisecond,
		RetryMax:         10 * time.Second,
		ShutdownTimeout:  30 * time.Second,
		FetchBufferBytes: 64 << 20,
		SessionTimeout:   30 * time.Second,
		LagInterval:      10 * time.Second,
	}
}

// Validate reports the first field that cannot work, naming it.
func (c Config) Validate() error {
	switch {
	case c.Topic == "":
		return errors.New("ingest.topic: must not be empty")
	case c.DLQTopic == "" || c.DLQTopic == c.Topic:
		return errors.New("ingest.dlq_topic: must be set and differ from ingest.topic")
	case c.GroupID == "":
		return errors.New("ingest.group_id: must not be empty")
	case c.Partitions < 1:
		return errors.New("ingest.partitions: must be at least 1")
	case c.Consumers < 1:
		return errors.New("ingest.consumers: must be at least 1")
	case c.BatchRows < 1:
		return errors.New("ingest.batch_rows: must be at least 1")
	case c.FlushInterval <= 0:
		return errors.New("ingest.flush_interval: must be positive")
	case c.Window.MaxAge <= 0:
		return errors.New("ingest.window.max_age: must be positive")
	case c.Window.MaxFuture < 0:
		return errors.New("ingest.window.max_future: must not be negative")
	case c.RetryMin <= 0 || c.RetryMax < c.RetryMin:
		return errors.New("ingest.retry_min, ingest.retry_max: want 0 < retry_min <= retry_max")
	case c.ShutdownTimeout <= 0:
		return errors.New("ingest.shutdown_timeout: must be positive")
	case c.FetchBufferBytes < 1<<20:
		return errors.New("ingest.fetch_buffer_bytes: must be at least 1 MiB")
	case c.SessionTimeout < time.Second:
		return errors.New("ingest.session_timeout: must be at least 1s")
	case c.LagInterval <= 0:
		return errors.New("ingest.lag_interval: must be positive")
	}
	return nil
}

// Ingester runs the consumers of one process.
type Ingester struct {
	cfg     Config
	kafka   broker.Config
	writer  Writer
	log     *slog.Logger
	metrics *Metrics
	crash   *crashHook // nil unless a crash test asks for one
}

// New returns an Ingester that consumes from the Kafka that k describes and stores through
// w. It rejects an invalid cfg or k.
func New(cfg Config, k broker.Config, w Writer, log *slog.Logger, m *Metrics) (*Ingester, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := k.Validate(); err != nil {
		return nil, err
	}
	if w == nil || log == nil || m == nil {
		return nil, errors.New("ingest: New needs a writer, a logger and metrics")
	}
	return &Ingester{cfg: cfg, kafka: k, writer: w, log: log, metrics: m}, nil
}

// Run consumes until ctx is cancelled, then flushes and commits what each consumer holds
// (bounded by ShutdownTimeout) and returns nil. It returns an error only when a consumer
// cannot go on.
func (in *Ingester) Run(ctx context.Context) error {
	crash, err := crashHookFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	in.crash = crash
	if in.crash != nil {
		in.log.Warn("test crash hook armed: this process will kill itself", "at", crash.point, "flush", crash.flush)
	}
	if in.cfg.UnsafeCommitBeforeInsert {
		in.log.Warn("ingest.unsafe_commit_before_insert is set: a crash loses the batch in flight; for tests only")
	}
	transport, err := in.kafka.Transport()
	if err != nil {
		return err
	}
	defer transport.CloseIdleConnections()
	dialer, err := in.kafka.Dialer()
	if err != nil {
		return err
	}
	dlq := &kafka.Writer{
		Addr:                   in.kafka.Addr(),
		Transport:              transport,
		Topic:                  in.cfg.DLQTopic,
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           5 * time.Millisecond,
		AllowAutoTopicCreation: false,
	}
	defer dlq.Close()
	g, gctx := errgroup.WithContext(ctx)
	for i := range in.cfg.Consumers {
		c := &consumer{
			Ingester: in,
			id:       i,
			dialer:   dialer,
			dlq:      dlq,
			json:     NewJSONDecoder(in.cfg.Window),
			arrow:    NewArrowDecoder(in.cfg.Window),
			last:     map[int]kafka.Message{},
		}
		g.Go(func() error { return c.run(gctx) })
	}
	g.Go(func() error {
		in.pollLag(gctx)
		return nil
	})
	return g.Wait()
}

// consumer is one group member: a fetch goroutine feeding a loop that decodes, batches and
// flushes. Everything but the fetch goroutine runs on the loop's goroutine.
type consumer struct {
	*Ingester
	id     int
	dialer *kafka.Dialer
	reader *kafka.Reader
	dlq    *kafka.Writer
	json   *JSONDecoder
	arrow  *ArrowDecoder

	cols     Columns
	dead     []kafka.Message
	last     map[int]kafka.Message // newest message per partition in the batch
	messages int
	bytes    int       // message values in the batch, for the batch size metric
	first    time.Time // when the batch's first message arrived
}

func (c *consumer) run(ctx context.Context) error {
	c.reader = kafka.NewReader(kafka.ReaderConfig{
		Brokers:        c.kafka.Brokers,
		Dialer:         c.dialer,
		GroupID:        c.cfg.GroupID,
		Topic:          c.cfg.Topic,
		MinBytes:       1,
		MaxBytes:       16 << 20,
		MaxWait:        250 * time.Millisecond,
		QueueCapacity:  256, // messages read ahead; an Arrow one is ~300 KB, so 256 is ~80 MB
		CommitInterval: 0,   // commit synchronously, only after the batch is stored
		StartOffset:    kafka.FirstOffset,

		// Group liveness (ingest.session_timeout), kept apart from the fetch tuning above.
		SessionTimeout:    c.cfg.SessionTimeout,
		HeartbeatInterval: c.cfg.SessionTimeout / 10,
	})
	defer c.reader.Close()

	fetchCtx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	// The channel and the byte budget are the back-pressure: while a flush retries, the
	// fetcher blocks on them. The budget is taken per message before it is queued and given
	// back once the message is decoded, so queued values never exceed FetchBufferBytes.
	ch := make(chan kafka.Message, 1024)
	budget := semaphore.NewWeighted(int64(c.cfg.FetchBufferBytes))
	weight := func(m kafka.Message) int64 { return min(int64(len(m.Value)), int64(c.cfg.FetchBufferBytes)) }
	go func() {
		wait := c.cfg.RetryMin
		for {
			m, err := c.reader.FetchMessage(fetchCtx)
			if err != nil {
				if fetchCtx.Err() != nil {
					return
				}
				// A group reader heals by itself (it reconnects and rejoins the group when
				// the broker is back); the error only reports the outage. Ask again later.
				c.metrics.retries.WithLabelValues("fetch").Inc()
				c.log.Warn("fetch failed; retrying", "consumer", c.id, "wait", wait, "err", err)
				select {
				case <-fetchCtx.Done():
					return
				case <-time.After(wait):
				}
				wait = min(2*wait, c.cfg.RetryMax)
				continue
			}
			wait = c.cfg.RetryMin
			c.metrics.fetched.Inc()
			if err := budget.Acquire(fetchCtx, weight(m)); err != nil {
				return
			}
			select {
			case ch <- m:
			case <-fetchCtx.Done():
				return
			}
		}
	}()

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return c.shutdown(ctx)
		case <-timer.C:
			if err := c.flush(ctx); err != nil {
				return c.stopped(ctx, err)
			}
		case m := <-ch:
			if c.messages == 0 {
				c.first = time.Now()
				timer.Reset(c.cfg.FlushInterval)
			}
			c.add(m)
			c.bytes += len(m.Value)
			budget.Release(weight(m))
			if c.cols.Len() >= c.cfg.BatchRows || c.messages >= c.cfg.BatchRows {
				timer.Stop()
				if err := c.flush(ctx); err != nil {
					return c.stopped(ctx, err)
				}
			}
		}
	}
}

// stopped turns a flush cut short by cancellation into a clean shutdown.
func (c *consumer) stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return c.shutdown(ctx)
	}
	return err
}

// shutdown flushes what the batch holds with a context that outlives the cancelled one by
// at most ShutdownTimeout, so that a stop loses no work already fetched.
func (c *consumer) shutdown(ctx context.Context) error {
	if c.messages == 0 {
		return nil
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.ShutdownTimeout)
	defer cancel()
	if err := c.flush(fctx); err != nil {
		return fmt.Errorf("consumer %d: final flush: %w", c.id, err)
	}
	c.log.Info("flushed on shutdown", "consumer", c.id)
	return nil
}

// add decodes one message into the batch, or into the dead letters. What it decides
// depends only on the message (key, value, headers and Kafka timestamp), never on a clock,
// so a redelivered message is decided exactly as its first delivery was.
func (c *consumer) add(m kafka.Message) {
	c.messages++
	c.metrics.messages.Inc()
	c.last[m.Partition] = m
	ref, ok := messageTime(m.Time)
	if !ok {
		c.deadLetter(m, m.Value, noMessageTime(m.Time))
		return
	}
	switch ct := header(m.Headers, wire.HeaderContentType); ct {
	case "", wire.ContentTypeJSON: // a message without the header is JSON
		if r, ok := c.json.Decode(m.Key, m.Value, ref, &c.cols); !ok {
			c.deadLetter(m, m.Value, r)
		}
	case wire.ContentTypeArrow:
		rows, r, ok := c.arrow.Decode(m.Value, ref, &c.cols)
		if !ok {
			c.deadLetter(m, m.Value, r)
		}
		for _, row := range rows { // each refused row goes to the dead letters on its own
			c.deadLetter(m, row.Value, row.Reject)
		}
	default:
		c.deadLetter(m, m.Value, Reject{Code: CodeBadFormat, Field: wire.HeaderContentType, Row: -1,
			Reason: fmt.Sprintf("unsupported content-type %q: want %s or %s", ct, wire.ContentTypeJSON, wire.ContentTypeArrow)})
	}
}

func (c *consumer) deadLetter(m kafka.Message, value []byte, r Reject) {
	c.metrics.deadLettered.WithLabelValues(r.Code).Inc()
	hdr := []kafka.Header{
		{Key: "error", Value: []byte(r.Error())},
		{Key: "error-code", Value: []byte(r.Code)},
		{Key: "error-field", Value: []byte(r.Field)},
		{Key: "source-topic", Value: []byte(m.Topic)},
		{Key: "source-partition", Value: strconv.AppendInt(nil, int64(m.Partition), 10)},
		{Key: "source-offset", Value: strconv.AppendInt(nil, m.Offset, 10)},
	}
	if r.Row >= 0 {
		hdr = append(hdr, kafka.Header{Key: "source-row", Value: strconv.AppendInt(nil, int64(r.Row), 10)})
	}
	c.dead = append(c.dead, kafka.Message{Key: m.Key, Value: value, Headers: hdr})
}

// flush stores the batch: dead letters first, then the readings, and only then commits the
// offsets, so that nothing is committed before it is stored somewhere. Every step retries
// with backoff until it succeeds or ctx ends; the batch is kept on error. (With
// UnsafeCommitBeforeInsert, a test-only setting, the commit comes first.)
func (c *consumer) flush(ctx context.Context) error {
	if c.messages == 0 {
		return nil
	}
	n := c.crash.begin()
	if c.cfg.UnsafeCommitBeforeInsert {
		if err := c.commit(ctx); err != nil {
			return err
		}
	}
	if len(c.dead) > 0 {
		if err := c.retry(ctx, "dead_letter", func() error { return c.dlq.WriteMessages(ctx, c.dead...) }); err != nil {
			return err
		}
	}
	c.crash.at(n, crashBeforeInsert)
	if c.cols.Len() > 0 {
		if c.crash.armed(n, crashDuringInsert) {
			c.crash.insertPartAndDie(ctx, c.writer, &c.cols)
		}
		if err := c.retry(ctx, "insert", func() error {
			start := time.Now()
			err := c.writer.Write(ctx, &c.cols)
			c.metrics.insertSeconds.Observe(time.Since(start).Seconds())
			return err
		}); err != nil {
			return err
		}
		c.metrics.inserted.Add(float64(c.cols.Len()))
		c.metrics.batchRows.Observe(float64(c.cols.Len()))
	}
	c.metrics.batchBytes.Observe(float64(c.bytes))
	c.crash.at(n, crashAfterInsert)
	if !c.cfg.UnsafeCommitBeforeInsert {
		if err := c.commit(ctx); err != nil {
			return err
		}
	}
	c.metrics.batches.Inc()
	c.log.Debug("flushed", "consumer", c.id, "rows", c.cols.Len(), "dead", len(c.dead),
		"messages", c.messages, "bytes", c.bytes, "age", time.Since(c.first))
	c.cols.Reset()
	clear(c.dead)
	c.dead = c.dead[:0]
	clear(c.last)
	c.messages = 0
	c.bytes = 0
	return nil
}

// commit commits the offsets of the batch's newest message per partition. A failed commit
// is logged, not retried: the rows are stored, and an offset that cannot be committed (for
// instance because a rebalance moved the partition) only means the messages are delivered
// again, which changes nothing. It returns an error only when ctx has ended.
func (c *consumer) commit(ctx context.Context) error {
	offsets := make([]kafka.Message, 0, len(c.last))
	for _, m := range c.last {
		offsets = append(offsets, m)
	}
	if err := c.reader.CommitMessages(ctx, offsets...); err != nil {
		c.metrics.commitFailures.Inc()
		c.log.Warn("commit failed; the batch will be redelivered", "consumer", c.id, "err", err)
		return ctx.Err()
	}
	return nil
}

// retry runs step until it succeeds, waiting with exponential backoff between attempts.
// It returns ctx's error when ctx ends first.
func (c *consumer) retry(ctx context.Context, name string, step func() error) error {
	wait := c.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		err := step()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.metrics.retries.WithLabelValues(name).Inc()
		c.log.Warn("flush step failed; retrying", "consumer", c.id, "step", name, "attempt", attempt, "wait", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, c.cfg.RetryMax)
	}
}

func header(hs []kafka.Header, key string) string {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
