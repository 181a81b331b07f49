package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/ingest"
	"github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/query/consumption"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
)

// pipeline is one test's ingest setup over fresh topics and a fresh database.
type pipeline struct {
	cfg    ingest.Config
	conn   driver.Conn
	api    *httptest.Server
	token  string // an analyst's token for api
	writer *kafka.Writer
}

func newPipeline(t *testing.T) *pipeline {
	t.Helper()
	_, conn := testenv.ClickHouse(t)
	topics := testenv.Topics(t, []int{3, 1}, "readings", "readings-dlq")
	cfg := ingest.DefaultConfig()
	cfg.Topic, cfg.DLQTopic = topics[0], topics[1]
	cfg.GroupID = "test-" + testenv.Suffix()
	cfg.FlushInterval = 200 * time.Millisecond
	cfg.BatchRows = 2000
	cfg.Consumers = 2

	srv, token := testenv.API(t, conn)
	q, err := consumption.New(consumption.DefaultConfig(), conn)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Register(srv); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Echo())
	t.Cleanup(hs.Close)

	tr, err := testenv.Kafka().Transport()
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: testenv.Kafka().Addr(), Transport: tr, Topic: cfg.Topic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, BatchSize: 1000}
	t.Cleanup(func() { w.Close(); tr.CloseIdleConnections() })
	return &pipeline{cfg: cfg, conn: conn, api: hs, token: token(api.RoleAnalyst), writer: w}
}

// dlqReader returns a reader of the dead-letter topic's only partition, from its start.
func (p *pipeline) dlqReader(t *testing.T) *kafka.Reader {
	t.Helper()
	k := testenv.Kafka()
	d, err := k.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	return kafka.NewReader(kafka.ReaderConfig{Brokers: k.Brokers, Dialer: d, Topic: p.cfg.DLQTopic, Partition: 0, MaxWait: 100 * time.Millisecond})
}

// runIngest runs an Ingester until the returned stop function is called.
func (p *pipeline) runIngest(t *testing.T) (stop func()) {
	t.Helper()
	w, err := ingest.NewClickHouseWriter(p.conn)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ingest.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(p.cfg, testenv.Kafka(), w, testenv.Logger(t), m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ingest: %v", err)
		}
	}
}

// fleet simulates a small fleet and returns its readings and their messages.
func fleet(t *testing.T, meters int) ([]schema.Reading, []kafka.Message) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Hour)
	f, err := sim.New(sim.Config{Meters: meters, From: now.Add(-48 * time.Hour), To: now.Add(-24 * time.Hour),
		Interval: 15 * time.Minute, Seed: 7, IDPrefix: "T-", TimeZone: "Europe/Berlin"})
	if err != nil {
		t.Fatal(err)
	}
	var rs []schema.Reading
	var msgs []kafka.Message
	var r schema.Reading
	for f.Next(&r) {
		rs = append(rs, r)
		msgs = append(msgs, kafka.Message{Key: []byte(r.MeterID), Value: wire.AppendJSON(nil, r)})
	}
	return rs, msgs
}

// expectedHourly computes, straight from readings, the API's hourly points: per meter,
// the last register of each hour (a reading at ts closes the hour containing ts-1s) minus
// that of the hour with data before it.
func expectedHourly(rs []schema.Reading) map[string][]consumption.Point {
	last := map[string]map[time.Time]int64{}
	for _, r := range rs {
		h := r.TS.Add(-time.Second).Truncate(time.Hour)
		if last[r.MeterID] == nil {
			last[r.MeterID] = map[time.Time]int64{}
		}
		last[r.MeterID][h] = r.RegisterWh // readings come in time order
	}
	out := map[string][]consumption.Point{}
	for id, byHour := range last {
		hours := make([]time.Time, 0, len(byHour))
		for h := range byHour {
			hours = append(hours, h)
		}
		slices.SortFunc(hours, func(a, b time.Time) int { return a.Compare(b) })
		for i := 1; i < len(hours); i++ {
			out[id] = append(out[id], consumption.Point{Start: hours[i], Wh: byHour[hours[i]] - byHour[hours[i-1]]})
		}
	}
	return out
}

func (p *pipeline) distinctStored(t *testing.T) uint64 {
	t.Helper()
	var n uint64
	if err := p.conn.QueryRow(context.Background(), "SELECT uniqExact(meter_id, ts) FROM readings").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (p *pipeline) produce(t *testing.T, msgs []kafka.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.writer.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

func (p *pipeline) waitCommitted(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := testenv.WaitCommitted(ctx, p.cfg.GroupID, p.cfg.Topic); err != nil {
		t.Fatalf("ingest did not catch up: %v", err)
	}
}

// hourly asks the API for every meter's hourly consumption over the whole simulated span.
func (p *pipeline) hourly(t *testing.T, ids []string) map[string][]consumption.Point {
	t.Helper()
	now := time.Now().UTC()
	out := map[string][]consumption.Point{}
	for _, id := range ids {
		url := fmt.Sprintf("%s/v1/meters/%s/consumption?from=%s&to=%s&step=1h", p.api.URL, id,
			now.Add(-72*time.Hour).Format(time.RFC3339), now.Format(time.RFC3339))
		resp := testenv.Do(t, testenv.Request{Method: http.MethodGet, URL: url, Token: p.token})
		var c consumption.Consumption
		if err := json.Unmarshal(resp.Body, &c); err != nil || resp.Status != http.StatusOK {
			t.Fatalf("GET %s: status %d, %v", url, resp.Status, err)
		}
		if c.Unit != "Wh" || c.Step != consumption.Step1h || c.MeterID != id {
			t.Fatalf("GET %s: header fields %+v", url, c)
		}
		out[id] = c.Points
	}
	return out
}

func meterIDs(rs []schema.Reading) []string {
	seen := map[string]bool{}
	var ids []string
	for _, r := range rs {
		if !seen[r.MeterID] {
			seen[r.MeterID] = true
			ids = append(ids, r.MeterID)
		}
	}
	return ids
}

// TestIngestEndToEnd produces a simulated fleet, ingests it, and checks the stored
// readings and the API's hourly consumption against what was produced; then it produces
// every message again and checks that no answer changed.
func TestIngestEndToEnd(t *testing.T) {
	p := newPipeline(t)
	rs, msgs := fleet(t, 12)
	stop := p.runIngest(t)
	defer stop()
	p.produce(t, msgs)
	p.waitCommitted(t)

	if got := p.distinctStored(t); got != uint64(len(rs)) {
		t.Fatalf("stored %d distinct (meter, ts), produced %d", got, len(rs))
	}
	ids := meterIDs(rs)
	want := expectedHourly(rs)
	first := p.hourly(t, ids)
	for _, id := range ids {
		if !reflect.DeepEqual(normalize(first[id]), normalize(want[id])) {
			t.Fatalf("meter %s: API hourly consumption differs from produced:\n got %v\nwant %v", id, first[id], want[id])
		}
	}

	// A replay of everything must change nothing.
	p.produce(t, msgs)
	p.waitCommitted(t)
	if got := p.distinctStored(t); got != uint64(len(rs)) {
		t.Fatalf("after replay: stored %d distinct (meter, ts), produced %d", got, len(rs))
	}
	if again := p.hourly(t, ids); !reflect.DeepEqual(again, first) {
		t.Fatal("after replay: API answers changed")
	}
}

func normalize(ps []consumption.Point) []consumption.Point {
	out := make([]consumption.Point, len(ps))
	for i, p := range ps {
		out[i] = consumption.Point{Start: p.Start.UTC(), Wh: p.Wh}
	}
	return out
}

// TestIngestDeadLetters interleaves bad records with good ones on the same partition: each
// bad record lands in the dead-letter topic with its reason, and the good records after it
// are stored.
func TestIngestDeadLetters(t *testing.T) {
	p := newPipeline(t)
	rs, msgs := fleet(t, 2)
	now := time.Now().UTC()
	key := []byte(rs[0].MeterID) // same key: same partition as that meter's readings
	poison := []struct {
		value string
		code  string
	}{
		{`{"meter_id":"` + rs[0].MeterID + `","ts":`, ingest.CodeMalformed},
		{`{"meter_id":"` + rs[0].MeterID + `","ts":"` + now.Format(time.RFC3339) + `","register_wh":"12"}`, ingest.CodeWrongType},
		{`{"meter_id":"` + rs[0].MeterID + `","ts":"not a time","register_wh":12}`, ingest.CodeBadTimestamp},
		{`{"meter_id":"` + rs[0].MeterID + `","ts":"` + now.Add(-24*time.Hour).Format(time.RFC3339) + `","register_wh":-1}`, ingest.CodeNegative},
		{`{"meter_id":"` + rs[0].MeterID + `","ts":"` + now.Add(48*time.Hour).Format(time.RFC3339) + `","register_wh":1}`, ingest.CodeOutOfWindow},
	}
	var all []kafka.Message
	half := len(msgs) / 2
	all = append(all, msgs[:half]...)
	for _, pz := range poison {
		all = append(all, kafka.Message{Key: key, Value: []byte(pz.value)})
	}
	all = append(all, kafka.Message{Key: []byte("bad id!"), Value: []byte(`{"meter_id":"bad id!","ts":"` + now.Add(-time.Hour).Format(time.RFC3339) + `","register_wh":1}`)})
	all = append(all, msgs[half:]...)

	stop := p.runIngest(t)
	defer stop()
	p.produce(t, all)
	p.waitCommitted(t)
	if got := p.distinctStored(t); got != uint64(len(rs)) {
		t.Fatalf("stored %d distinct (meter, ts), want every good reading (%d)", got, len(rs))
	}

	r := p.dlqReader(t)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	codes := map[string]int{}
	for range len(poison) + 1 {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("reading dead letters: %v (got %v)", err, codes)
		}
		h := map[string]string{}
		for _, hd := range m.Headers {
			h[hd.Key] = string(hd.Value)
		}
		if h["error"] == "" || h["source-topic"] != p.cfg.Topic || h["source-offset"] == "" {
			t.Fatalf("dead letter lacks its reason or source: %v", h)
		}
		codes[h["error-code"]]++
	}
	want := map[string]int{ingest.CodeBadMeterID: 1}
	for _, pz := range poison {
		want[pz.code]++
	}
	if !reflect.DeepEqual(codes, want) {
		t.Fatalf("dead-letter codes %v, want %v", codes, want)
	}
}
