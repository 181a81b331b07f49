package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/auth"
	"github.com/meterhouse/meterhouse/config"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
)

// TestAnalystSQLCannotStarvePlatform runs, on the production route set, as many slow
// analyst queries as the analyst pool allows (sql.max_concurrent = 8, as many as the
// platform's pool has connections, from four principals running their two each), and
// checks while they run that consumption answers 200, a token never seen before is
// checked (not 503), HTTP ingest answers 202 and /readyz 200; that one more query gets
// 429 with Retry-After naming the per-principal limit, and one from a fifth principal
// naming the global one. When the clients go away, their queries end on the server.
func TestAnalystSQLCannotStarvePlatform(t *testing.T) {
	topic := testenv.Topics(t, []int{1}, "starve")[0]
	_, hs, conn := testServer(t, func(c *config.Config) {
		c.Ingest.Topic = topic
		c.SQL.MaxOpenConns, c.SQL.MaxConcurrent, c.SQL.MaxConcurrentPerPrincipal = 8, 8, 2
		c.SQL.MaxExecutionTime = 60 * time.Second
		c.SQL.MaxRowsToRead = 1 << 40
	})
	store, err := auth.NewStore(auth.Config{TokenTTL: time.Hour, Secret: testAuthSecret}, conn, testenv.PrivateDatabase(t, conn))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := schema.InsertMeters(ctx, conn, []schema.Meter{{MeterID: "MTR-000001", CustomerClass: "residential", Feeder: "F1",
		Region: "north", Tariff: "T1", TimeZone: "UTC", Status: "active", UpdatedAt: time.Now().UTC().Truncate(time.Second)}}); err != nil {
		t.Fatal(err)
	}
	analyst := func(name string) string {
		secret, _, err := store.Create(ctx, "test", auth.NewToken{Name: name, Roles: []api.Role{api.RoleAnalyst}})
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	principals := []string{analyst("ann"), analyst("bob"), analyst("cy"), analyst("dee")}
	fifth := analyst("eve")
	ingestToken := testenv.Token(t, store, api.RoleIngest)
	fresh := testenv.Token(t, store, api.RoleAdmin) // first used while the queries run

	marker := "starve_" + testenv.Suffix()
	slow := fmt.Sprintf("SELECT count() AS %s FROM (SELECT number FROM system.numbers LIMIT 100000000000)", marker)
	qctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	client := &http.Client{Transport: &http.Transport{}}
	for _, tok := range principals {
		for range 2 {
			wg.Go(func() {
				req, _ := http.NewRequestWithContext(qctx, http.MethodPost, hs.URL+"/v1/sql", strings.NewReader(slow))
				req.Header.Set("Authorization", "Bearer "+tok)
				if resp, err := client.Do(req); err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					t.Errorf("a slow query answered before it was cancelled: %d %s", resp.StatusCode, b)
				}
			})
		}
	}
	testenv.WaitQueries(t, conn, marker, 8, 30*time.Second)

	from := time.Now().UTC().Truncate(time.Hour).Add(-24 * time.Hour)
	r := testenv.Do(t, testenv.Request{Method: http.MethodGet, Token: principals[0],
		URL: hs.URL + "/v1/meters/MTR-000001/consumption?from=" + from.Format(time.RFC3339) + "&to=" + from.Add(24*time.Hour).Format(time.RFC3339)})
	if r.Status != http.StatusOK {
		t.Errorf("consumption: %d %s", r.Status, r.Body)
	}
	r = testenv.Do(t, testenv.Request{Method: http.MethodGet, URL: hs.URL + "/v1/admin/tokens", Token: fresh})
	if r.Status != http.StatusOK {
		t.Errorf("token check and token list with a new token: %d %s", r.Status, r.Body)
	}
	body := fmt.Sprintf(`[{"meter_id":"MTR-000001","ts":%q,"register_wh":1000}]`, from.Format(time.RFC3339))
	r = testenv.Do(t, testenv.Request{Method: http.MethodPost, URL: hs.URL + "/v1/readings", Token: ingestToken,
		ContentType: "application/json", Body: strings.NewReader(body)})
	if r.Status != http.StatusAccepted {
		t.Errorf("HTTP ingest: %d %s", r.Status, r.Body)
	}
	r = testenv.Do(t, testenv.Request{Method: http.MethodGet, URL: hs.URL + "/readyz"})
	if r.Status != http.StatusOK {
		t.Errorf("/readyz: %d %s", r.Status, r.Body)
	}
	for _, tc := range []struct {
		who, token, key string
	}{
		{"a principal running two", principals[0], "sql.max_concurrent_per_principal"},
		{"a fifth principal", fifth, "sql.max_concurrent"},
	} {
		r = testenv.Do(t, testenv.Request{Method: http.MethodPost, URL: hs.URL + "/v1/sql", Token: tc.token, Body: strings.NewReader("SELECT 1")})
		if r.Status != http.StatusTooManyRequests || errorCode(t, r.Body) != "too_many_requests" ||
			!strings.Contains(string(r.Body), "("+tc.key+")") || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s: %d %s Retry-After %q; want 429 too_many_requests naming %s", tc.who, r.Status, r.Body, r.Header.Get("Retry-After"), tc.key)
		}
	}

	cancel() // the clients go away
	wg.Wait()
	testenv.WaitQueries(t, conn, marker, 0, 30*time.Second)
	r = testenv.Do(t, testenv.Request{Method: http.MethodPost, URL: hs.URL + "/v1/sql", Token: fifth, Body: strings.NewReader("SELECT 1")})
	if r.Status != http.StatusOK {
		t.Errorf("after the slow queries ended: %d %s", r.Status, r.Body)
	}
}
