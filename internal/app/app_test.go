package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/config"
	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestNewRejectsBadConfig checks that New validates the whole configuration, naming the
// key at fault, before it opens anything.
func TestNewRejectsBadConfig(t *testing.T) {
	cfg := config.Default()
	cfg.VEE.Interval = -time.Second
	_, err := New(context.Background(), cfg, testenv.Logger(t), Resources{}, Parts{API: true})
	if err == nil || !strings.Contains(err.Error(), "vee.interval") {
		t.Fatalf("New with vee.interval -1s: %v, want an error naming vee.interval", err)
	}
	if _, err := New(context.Background(), config.Default(), nil, Resources{}, Parts{}); err == nil {
		t.Fatal("New without a logger: no error")
	}
}

// testConfig returns a configuration over a fresh database and fresh topics, and the
// database connection, which the test closes.
func testConfig(t *testing.T) (config.Config, Resources) {
	t.Helper()
	chCfg, conn := testenv.ClickHouse(t)
	cfg := config.Default()
	cfg.ClickHouse = chCfg
	cfg.Kafka = testenv.Kafka()
	cfg.API.AccessLog = false
	cfg.API.Listen = "127.0.0.1:0"
	cfg.Auth = testenv.AuthConfig(t)
	topics := testenv.Topics(t, []int{cfg.Ingest.Partitions, 1}, "app", "app-dlq")
	cfg.Ingest.Topic, cfg.Ingest.DLQTopic = topics[0], topics[1]
	cfg.Ingest.GroupID = "app-" + testenv.Suffix()
	return cfg, Resources{ClickHouse: conn, AnalystSQL: conn}
}

// readyz returns the checks of srv's /readyz.
func readyz(t *testing.T, srv *api.Server) api.Readiness {
	t.Helper()
	hs := httptest.NewServer(srv.Echo())
	defer hs.Close()
	r := testenv.Do(t, testenv.Request{Method: http.MethodGet, URL: hs.URL + "/readyz"})
	var rd api.Readiness
	if err := json.Unmarshal(r.Body, &rd); err != nil {
		t.Fatalf("/readyz %d %s: %v", r.Status, r.Body, err)
	}
	return rd
}

// TestServe builds serve's parts once: every component's routes, each once; the readiness
// checks of ClickHouse and Kafka; one VEE job, which the loop runs. Run stops on the
// context and leaves the caller's connection open.
func TestServe(t *testing.T) {
	cfg, res := testConfig(t)
	cfg.VEE.Interval = time.Hour
	ctx := context.Background()
	a, err := New(ctx, cfg, testenv.Logger(t), res, Parts{API: true, Ingest: true, VEELoop: true})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range a.Server().Routes() {
		names = append(names, r.Method+" "+r.Path)
	}
	for _, want := range []string{
		"GET /v1/admin/tokens", "GET /v1/meters/:meter_id/consumption", "GET /v1/fleet/load",
		"POST /v1/sql", "POST /v1/meters/:meter_id/edits", "POST /v1/readings",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("route %s missing from %v", want, names)
		}
	}
	slices.Sort(names)
	if c := slices.Compact(slices.Clone(names)); len(c) != len(names) {
		t.Errorf("a route is registered twice: %v", names)
	}
	if rd := readyz(t, a.Server()); len(rd.Checks) != 2 || rd.Checks["clickhouse"] != "ok" || rd.Checks["kafka"] != "ok" {
		t.Errorf("/readyz checks %v, want clickhouse and kafka ok", rd.Checks)
	}
	if a.VEE() == nil {
		t.Fatal("no VEE job")
	}

	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(rctx) }()
	// The loop runs the job at once: its run appears in vee_runs.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var n uint64
		if err := res.ClickHouse.QueryRow(ctx, "SELECT count() FROM vee_runs").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the VEE loop did not run within 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return within 60 s of the cancel")
	}
	if err := res.ClickHouse.Ping(ctx); err != nil {
		t.Errorf("the caller's connection after Run: %v", err)
	}
}

// TestIngestServesPublicRoutesOnly checks ingest's parts: with a health address, a server
// with only the public routes (and its OpenAPI document), the same readiness checks, and the ingest metrics on its
// /metrics, without the VEE job's.
func TestIngestServesPublicRoutesOnly(t *testing.T) {
	cfg, res := testConfig(t)
	a, err := New(context.Background(), cfg, testenv.Logger(t), Resources{ClickHouse: res.ClickHouse},
		Parts{HealthListen: "127.0.0.1:0", Ingest: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	// Besides the public routes, every api.Server documents itself (which, needing a
	// token, no one can read here).
	var names []string
	for _, r := range a.Server().Routes() {
		name := r.Method + " " + r.Path
		if !r.Public && name != "GET /openapi.json" {
			t.Errorf("%s is not public", name)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{"GET /healthz", "GET /metrics", "GET /openapi.json", "GET /readyz"}; !slices.Equal(names, want) {
		t.Errorf("routes %v, want %v", names, want)
	}
	if rd := readyz(t, a.Server()); len(rd.Checks) != 2 || rd.Checks["clickhouse"] != "ok" || rd.Checks["kafka"] != "ok" {
		t.Errorf("/readyz checks %v, want clickhouse and kafka ok", rd.Checks)
	}
	hs := httptest.NewServer(a.Server().Echo())
	defer hs.Close()
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "meterhouse_ingest_") || strings.Contains(string(body), "meterhouse_vee_") {
		t.Errorf("/metrics of ingest: want ingest metrics and no VEE metrics:\n%s", body)
	}
}
