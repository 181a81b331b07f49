package api

import (
	"fmt"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpMetrics are the request counters and latency histograms of the server.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meterhouse_http_requests_total",
			Help: "HTTP requests served, by method, route template and status code.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meterhouse_http_request_duration_seconds",
			Help:    "Latency of HTTP requests from first byte read to response written, by method and route template.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meterhouse_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("api: register HTTP metrics: %w", err)
		}
	}
	return m, nil
}

// observe counts and times every request and logs it. Errors are turned into responses
// here, so that the status recorded is the one the client gets.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		s.http.inFlight.Inc()
		defer s.http.inFlight.Dec()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		// c.Path() is the route template, so label values stay bounded; requests that
		// match no route share one label.
		route := c.Path()
		if !s.known(c.Request().Method, route) {
			route = "unmatched"
		}
		status := c.Response().Status
		elapsed := time.Since(start)
		s.http.requests.WithLabelValues(c.Request().Method, route, strconv.Itoa(status)).Inc()
		s.http.duration.WithLabelValues(c.Request().Method, route).Observe(elapsed.Seconds())
		if s.cfg.AccessLog || status >= 500 {
			attrs := []any{"method", c.Request().Method, "route", route, "status", status,
				"duration", elapsed, "remote", c.RealIP()}
			if p, ok := c.Get(principalContextKey).(Principal); ok {
				attrs = append(attrs, "principal", p.Name, "token_id", p.TokenID)
			}
			s.log.Info("request", attrs...)
		}
		return nil
	}
}

// known reports whether method and route are a registered route.
func (s *Server) known(method, route string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range s.routes {
		if r.Method == method && r.Path == route {
			return true
		}
	}
	return false
}

// metricsHandler serves the registry in the Prometheus text format.
func (s *Server) metricsHandler() echo.HandlerFunc {
	h := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{s}})
	return echo.WrapHandler(h)
}

// slogPrinter adapts the server's logger to promhttp's error log.
type slogPrinter struct{ s *Server }

// Println logs a metrics collection error.
func (p slogPrinter) Println(v ...any) { p.s.log.Warn("metrics", "err", fmt.Sprint(v...)) }
