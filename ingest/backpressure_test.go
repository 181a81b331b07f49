package ingest_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
)

// proxy forwards TCP connections from a loopback port to a target. Down closes the port
// and every connection through it, which is what ingest sees when ClickHouse becomes
// unreachable; Up opens the same port again.
type proxy struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(func() {
		p.down()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.forward(c) })
		}
	})
}

func (p *proxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, up) {
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// track registers a connection pair, or closes it when the proxy is down.
func (p *proxy) track(c, up net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		c.Close()
		up.Close()
		return false
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	return true
}

// down closes the listening port and cuts every open connection.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// up listens on the proxy's port again.
func (p *proxy) up(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port was just released; rebinding may need a moment
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("proxy: listen on %s again: %v", p.addr, err)
	}
	p.serve(ln)
}

// TestBackPressure cuts ingest off from ClickHouse in the middle of a run: ingest must stop
// consuming (the messages it took stay bounded by one batch, and it fetches nothing beyond
// what it took: a fetch is decoded as it is read, with no read-ahead queue), retry the insert with backoff (counted in
// meterhouse_ingest_retries_total), leave the offsets uncommitted (the lag metric shows
// every message produced since), and, once ClickHouse is back, store everything with
// nothing lost.
func TestBackPressure(t *testing.T) {
	p := newPipeline(t)
	rs, msgs := fleet(t, 40) // 3840 readings
	const (
		batch   = 300
		healthy = 600 // produced and stored before the cut
	)

	chCfg := testenv.ClickHouseConfig(t)
	px := newProxy(t, chCfg.Addr)
	chCfg.Addr, chCfg.Database, chCfg.MaxOpenConns = px.addr, p.database(t), 2
	chCfg.DialTimeout = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := schema.Connect(ctx, chCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	cfg := p.cfg
	cfg.Consumers = 1
	cfg.BatchRows = batch
	cfg.RetryMin, cfg.RetryMax = 20*time.Millisecond, 200*time.Millisecond
	cfg.LagInterval = 100 * time.Millisecond
	r := startIngester(t, cfg, conn)

	p.produce(t, msgs[:healthy])
	p.waitCommitted(t)
	if got := r.metric(t, "meterhouse_ingest_messages_total"); got != healthy {
		t.Fatalf("before the cut: consumed %v messages, want %d", got, healthy)
	}

	px.down()
	p.produce(t, msgs[healthy:])
	retries := func() float64 { return r.metric(t, "meterhouse_ingest_retries_total", "step", "insert") }
	waitFor(t, 30*time.Second, "insert retries while ClickHouse is unreachable", func() bool { return retries() >= 3 })
	lagWant := float64(len(msgs) - healthy)
	waitFor(t, 30*time.Second, "the lag metric to count every message produced since the cut", func() bool {
		return r.metric(t, "meterhouse_ingest_consumer_lag") == lagWant
	})
	type sample struct{ retries, fetched, consumed, inserted float64 }
	take := func() sample {
		return sample{retries(), r.metric(t, "meterhouse_ingest_fetched_total"),
			r.metric(t, "meterhouse_ingest_messages_total"), r.metric(t, "meterhouse_ingest_readings_inserted_total")}
	}
	s1 := take()
	waitFor(t, 30*time.Second, "more insert retries", func() bool { return retries() >= s1.retries+3 })
	s2 := take()
	switch {
	case s2.consumed != s1.consumed || s2.fetched != s1.fetched:
		t.Fatalf("ingest kept consuming while its insert failed: consumed %v then %v, fetched %v then %v",
			s1.consumed, s2.consumed, s1.fetched, s2.fetched)
	case s2.inserted != s1.inserted || s2.inserted != healthy:
		t.Fatalf("inserted %v then %v readings while ClickHouse was unreachable, want %d", s1.inserted, s2.inserted, healthy)
	case s2.consumed > healthy+batch:
		t.Fatalf("consumed %v messages during the outage, want at most one batch beyond %d", s2.consumed, healthy)
	case s2.fetched != s2.consumed:
		t.Fatalf("fetched %v messages for %v consumed: messages were read ahead of the batch", s2.fetched, s2.consumed)
	}
	if lag := r.metric(t, "meterhouse_ingest_consumer_lag"); lag != lagWant {
		t.Fatalf("consumer lag %v during the outage, want %v (nothing committed)", lag, lagWant)
	}

	px.up(t)
	p.waitCommitted(t)
	if err := r.failed(); err != nil {
		t.Fatalf("ingest gave up: %v", err)
	}
	p.requireSame(t, rs)
	waitFor(t, 30*time.Second, "the lag metric to fall to zero", func() bool {
		return r.metric(t, "meterhouse_ingest_consumer_lag") == 0
	})
	if got := r.metric(t, "meterhouse_ingest_messages_total"); got < float64(len(msgs)) {
		t.Fatalf("consumed %v messages in all, produced %d", got, len(msgs))
	}
	if got := r.metric(t, "meterhouse_ingest_readings_inserted_total"); got < float64(len(rs)) {
		t.Fatalf("inserted %v readings in all, produced %d", got, len(rs))
	}
	var value float64
	for _, m := range msgs {
		value += float64(len(m.Value))
	}
	if got := r.metric(t, "meterhouse_ingest_batch_bytes_sum"); got < value {
		t.Fatalf("meterhouse_ingest_batch_bytes sums to %v, want at least the %v bytes produced", got, value)
	}
	if n := r.metric(t, "meterhouse_ingest_insert_seconds"); n < s2.retries {
		t.Fatalf("insert latency observed %v times, want every attempt (at least %v)", n, s2.retries)
	}
}
