package api

import (
	"context"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"
)

// readiness is one named check of /readyz.
type readiness struct {
	name  string
	check func(context.Context) error
}

// AddReadiness adds a check to /readyz, such as "clickhouse" pinging the database. The
// server is ready when every check returns nil within api.readiness_timeout. Checks run
// concurrently on every /readyz request; add them before Run.
func (s *Server) AddReadiness(name string, check func(context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, readiness{name: name, check: check})
}

// Readiness is the body of /readyz.
type Readiness struct {
	// Status is "ready" or "not_ready".
	Status string `json:"status"`
	// Checks maps each check's name to "ok" or "failed". Why a check failed is logged, not
	// returned: the route is public.
	Checks map[string]string `json:"checks"`
}

// ownRoutes are the routes the server itself serves.
func (s *Server) ownRoutes() []Route {
	return []Route{
		{
			Method: http.MethodGet, Path: "/healthz", Public: true,
			Summary:  "Reports that the process is alive.",
			Response: `Always {"status":"ok"} while the process runs.`,
			Handler: func(c echo.Context) error {
				return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
			},
		},
		{
			Method: http.MethodGet, Path: "/readyz", Public: true,
			Summary:     "Reports whether the backing services (ClickHouse, Kafka) are reachable.",
			Description: "200 when every check passes, 503 otherwise; the body names each check with ok or failed.",
			Response:    `{"status":"ready","checks":{"clickhouse":"ok","kafka":"ok"}}`,
			Handler:     s.handleReady,
		},
		{
			Method: http.MethodGet, Path: "/metrics", Public: true,
			Summary:      "Prometheus metrics of the process: HTTP requests, ingest, Go runtime.",
			Response:     "Metrics in the Prometheus text exposition format.",
			ResponseType: "text/plain",
			Handler:      s.metricsHandler(),
		},
		{
			Method: http.MethodGet, Path: "/openapi.json", Roles: Roles()[1:],
			Summary:  "The OpenAPI 3 document of every route of this server.",
			Response: "An OpenAPI 3.0 document.",
			Handler:  s.handleOpenAPI,
		},
	}
}

func (s *Server) handleReady(c echo.Context) error {
	s.mu.RLock()
	checks := append([]readiness(nil), s.checks...)
	s.mu.RUnlock()
	res := Readiness{Status: "ready", Checks: make(map[string]string, len(checks))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, r := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.ReadinessTimeout)
			defer cancel()
			err := r.check(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				s.log.Warn("readiness check failed", "check", r.name, "err", err)
				res.Checks[r.name] = "failed"
				res.Status = "not_ready"
				return
			}
			res.Checks[r.name] = "ok"
		})
	}
	wg.Wait()
	status := http.StatusOK
	if res.Status != "ready" {
		status = http.StatusServiceUnavailable
	}
	return c.JSON(status, res)
}
