package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

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
	// FetchBufferBytes is the MaxBytes of each fetch (Conn.ReadBatch) of a partition, and
	// so bounds what a consumer holds fetched but not yet decoded: a fetch is decoded as it
	// is read off the connection, and while a flush waits the rest of it stays unread. A
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
			next:     map[int]int64{},
			started:  make(chan struct{}, 1),
		}
		g.Go(func() error { return c.run(gctx) })
	}
	g.Go(func() error {
		in.pollLag(gctx)
		return nil
	})
	return g.Wait()
}

// consumer is one group member: a kafka-go ConsumerGroup member whose generations run one
// fetcher per assigned partition (Conn.ReadBatch) and a tender that flushes the batch on
// time and at the generation's end. The fetchers decode every message of a fetch straight
// into the member's one batch under mu, so the batch, the decoders and the offsets are
// touched by one goroutine at a time.
type consumer struct {
	*Ingester
	id     int
	dialer *kafka.Dialer
	dlq    *kafka.Writer
	json   *JSONDecoder
	arrow  *ArrowDecoder

	// started tells the tender that a batch got its first message.
	started chan struct{}

	mu       sync.Mutex        // held while a fetcher decodes a fetch and while the batch is flushed
	gen      *kafka.Generation // the generation the batch's messages were fetched in; commits go through it
	cols     Columns
	dead     []kafka.Message
	next     map[int]int64 // per partition, the offset after the batch's newest message
	messages int
	bytes    int       // message values in the batch, for the batch size metric
	first    time.Time // when the batch's first message arrived
}

// readTimeout bounds each read from a partition's connection once a fetch has answered
// (kafka-go's ReaderConfig.ReadBatchTimeout default).
const readTimeout = 10 * time.Second

// maxFetchWait is how long the broker may hold a fetch of a partition without new data.
const maxFetchWait = 250 * time.Millisecond

func (c *consumer) run(ctx context.Context) error {
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:          c.cfg.GroupID,
		Brokers:     c.kafka.Brokers,
		Dialer:      c.dialer,
		Topics:      []string{c.cfg.Topic},
		StartOffset: kafka.FirstOffset,
		// Group liveness (ingest.session_timeout).
		SessionTimeout:    c.cfg.SessionTimeout,
		HeartbeatInterval: c.cfg.SessionTimeout / 10,
	})
	if err != nil {
		return fmt.Errorf("consumer %d: %w", c.id, err)
	}
	defer group.Close()
	wait := c.cfg.RetryMin
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // every generation flushed its batch before it ended
			}
			// The group heals by itself (it rejoins when the coordinator is back); the
			// error only reports the outage.
			c.metrics.retries.WithLabelValues("fetch").Inc()
			c.log.Warn("joining the consumer group failed; retrying", "consumer", c.id, "wait", wait, "err", err)
			if !sleep(ctx, wait) {
				return nil
			}
			wait = min(2*wait, c.cfg.RetryMax)
			continue
		}
		wait = c.cfg.RetryMin
		if err := c.generation(ctx, gen); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// generation consumes the partitions gen assigns until gen or ctx ends, and returns once
// the batch is stored and its offsets committed (or the commit refused, which only means
// a redelivery). It returns an error only when the final flush of a stop fails.
func (c *consumer) generation(ctx context.Context, gen *kafka.Generation) error {
	c.mu.Lock()
	c.gen = gen
	c.mu.Unlock()
	fctx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	var fetchers sync.WaitGroup
	for _, a := range gen.Assignments[c.cfg.Topic] {
		fetchers.Add(1)
		gen.Start(func(gctx context.Context) {
			defer fetchers.Done()
			stop := context.AfterFunc(gctx, stopFetch)
			defer stop()
			c.fetch(fctx, a.ID, a.Offset)
		})
	}
	done := make(chan error, 1)
	// Started last: a generation ends as soon as one of its functions returns, and the
	// tender returns only after the fetchers have stopped and the batch is flushed.
	gen.Start(func(gctx context.Context) {
		done <- c.tend(ctx, gctx, stopFetch, &fetchers)
	})
	return <-done
}

// tend flushes the batch FlushInterval after its first message, and once gen (gctx) or
// the run (ctx) ends, stops the fetchers and flushes what the batch holds: nothing that
// was fetched is dropped, and nothing is committed before it is stored.
func (c *consumer) tend(ctx, gctx context.Context, stopFetch func(), fetchers *sync.WaitGroup) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			stopFetch()
			fetchers.Wait()
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.shutdown(ctx)
		case <-gctx.Done():
			stopFetch()
			fetchers.Wait()
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.messages > 0 {
				c.log.Info("generation ended; flushing the batch", "consumer", c.id, "messages", c.messages)
			}
			if err := c.flush(ctx); err != nil {
				return c.stopped(ctx, err)
			}
			return nil
		case <-c.started:
			timer.Reset(c.cfg.FlushInterval)
		case <-timer.C:
			c.mu.Lock()
			var err error
			if c.messages > 0 {
				if age := time.Since(c.first); age >= c.cfg.FlushInterval {
					err = c.flush(ctx)
				} else {
					timer.Reset(c.cfg.FlushInterval - age)
				}
			}
			if err != nil {
				err = c.stopped(ctx, err)
				c.mu.Unlock()
				return err
			}
			c.mu.Unlock()
		}
	}
}

// fetch reads one partition from offset (kafka.FirstOffset when the group has committed
// none) until ctx ends, reconnecting with backoff after a failure.
func (c *consumer) fetch(ctx context.Context, partition int, offset int64) {
	wait := c.cfg.RetryMin
	for {
		err := c.fetchFrom(ctx, partition, &offset)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, kafka.OffsetOutOfRange) {
			c.log.Warn("committed offset out of range; reading from the partition's first offset",
				"consumer", c.id, "partition", partition, "offset", offset)
			offset = kafka.FirstOffset
		}
		c.metrics.retries.WithLabelValues("fetch").Inc()
		c.log.Warn("fetch failed; retrying", "consumer", c.id, "partition", partition, "wait", wait, "err", err)
		if !sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, c.cfg.RetryMax)
	}
}

// fetchFrom connects to the partition's leader and reads fetch after fetch into the batch,
// advancing *offset past every message taken, until a read fails or ctx ends.
func (c *consumer) fetchFrom(ctx context.Context, partition int, offset *int64) error {
	conn, err := c.dialLeader(ctx, partition)
	if err != nil {
		return err
	}
	defer conn.Close()
	unblock := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer unblock()
	if *offset < 0 {
		whence := kafka.SeekStart
		if *offset == kafka.LastOffset {
			whence = kafka.SeekEnd
		}
		if *offset, err = conn.Seek(0, whence); err != nil {
			return fmt.Errorf("partition %d: seek: %w", partition, err)
		}
	} else if _, err := conn.Seek(*offset, kafka.SeekAbsolute); err != nil {
		return fmt.Errorf("partition %d: seek %d: %w", partition, *offset, err)
	}
	for {
		if err := extendDeadline(ctx, conn, maxFetchWait+readTimeout); err != nil {
			return err
		}
		batch := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: c.cfg.FetchBufferBytes, MaxWait: maxFetchWait})
		err := c.take(ctx, conn, batch, offset)
		cerr := batch.Close()
		if errors.Is(cerr, kafka.RequestTimedOut) {
			// The broker found nothing new within MaxWait at the end of the partition: an
			// empty fetch, not a failure (no backoff, no warning).
			cerr = nil
		}
		if err == nil && cerr != nil {
			err = fmt.Errorf("partition %d: fetch at offset %d: %w", partition, *offset, cerr)
		}
		if err != nil {
			return err
		}
	}
}

// dialLeader connects to the leader of the partition, asking each bootstrap broker in turn.
func (c *consumer) dialLeader(ctx context.Context, partition int) (*kafka.Conn, error) {
	var errs error
	for _, addr := range c.kafka.Brokers {
		conn, err := c.dialer.DialLeader(ctx, "tcp", addr, c.cfg.Topic, partition)
		if err == nil {
			return conn, nil
		}
		errs = errors.Join(errs, err)
	}
	return nil, fmt.Errorf("partition %d: connect to its leader: %w", partition, errs)
}

// take decodes every message of one fetch into the batch, flushing whenever the batch is
// full (the fetch waits meanwhile, which is the back-pressure), and advances *offset past
// each message taken. The batch's buffers are reused from batch to batch; what a message
// costs beyond kafka-go's Batch.ReadMessage is its decoding. It returns an error only when
// ctx has ended (a flush cut short, or the rest of the fetch left for the next reader).
func (c *consumer) take(ctx context.Context, conn *kafka.Conn, batch *kafka.Batch, offset *int64) error {
	m, err := batch.ReadMessage()
	if err != nil {
		return nil // an empty fetch, or the batch's error, which Close reports
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for n := 1; err == nil; m, err = batch.ReadMessage() {
		if n++; n%4096 == 0 { // a large fetch may take longer to decode than one read's deadline
			if err := extendDeadline(ctx, conn, readTimeout); err != nil {
				return err
			}
		}
		c.metrics.fetched.Inc()
		if c.messages == 0 {
			c.first = time.Now()
			select {
			case c.started <- struct{}{}:
			default: // the tender has a signal pending; it checks the batch's age when it fires
			}
		}
		c.add(m)
		c.bytes += len(m.Value)
		*offset = m.Offset + 1
		if c.cols.Len() >= c.cfg.BatchRows || c.messages >= c.cfg.BatchRows {
			if err := c.flush(ctx); err != nil {
				return err
			}
			// The flush may have outlasted the fetch's deadline.
			if err := extendDeadline(ctx, conn, readTimeout); err != nil {
				return err
			}
		}
	}
	return nil
}

// extendDeadline moves conn's read deadline d from now, then reports ctx's error. The
// order matters: fetchFrom ends a read when ctx ends by setting a deadline in the past,
// once, and a deadline set after that would undo it, leaving the fetch loop reading empty
// fetches for ever (a bench's shutdown waited on it for minutes). Checking ctx after
// the new deadline catches an end that came before it; one that comes after it sets the
// past deadline over it.
func extendDeadline(ctx context.Context, conn *kafka.Conn, d time.Duration) error {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	return ctx.Err()
}

// sleep waits for d and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
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
	c.next[m.Partition] = m.Offset + 1
	ref, ok := messageTime(m.Time)
	if !ok {
		c.deadLetter(m, m.Value, noMessageTime(m.Time))
		return
	}
	// Compared as bytes: converting the header to a string would allocate per message.
	switch ct := headerValue(m.Headers, wire.HeaderContentType); {
	case len(ct) == 0 || string(ct) == wire.ContentTypeJSON: // a message without the header is JSON
		// The key is the message's own (kafka-go allocates it per message), and nothing
		// modifies it: the batch may keep it as the meter id.
		if r, ok := c.json.decodeOwnedKey(m.Key, m.Value, ref, &c.cols); !ok {
			c.deadLetter(m, m.Value, r)
		}
	case string(ct) == wire.ContentTypeArrow:
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
	clear(c.next)
	c.messages = 0
	c.bytes = 0
	return nil
}

// commit commits, through the batch's generation, the offset after the batch's newest
// message per partition. A failed commit is logged, not retried: the rows are stored, and
// an offset that cannot be committed (for instance because a rebalance moved the
// partition and the generation is over) only means the messages are delivered again,
// which changes nothing. It returns an error only when ctx has ended.
func (c *consumer) commit(ctx context.Context) error {
	if err := c.gen.CommitOffsets(map[string]map[int]int64{c.cfg.Topic: c.next}); err != nil {
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

// header returns the value of the first header called key, empty when there is none.
func header(hs []kafka.Header, key string) string { return string(headerValue(hs, key)) }

// headerValue is header without the copy: the value's own bytes, nil when there is none.
func headerValue(hs []kafka.Header, key string) []byte {
	for _, h := range hs {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}
