package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/labstack/gommon/bytes"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Config configures the HTTP server.
type Config struct {
	// Listen is the host:port to serve on.
	Listen string `yaml:"listen"`
	// ReadTimeout bounds reading one request, body included.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing one response.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// RequestTimeout bounds a handler's work; its context is cancelled after it.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// BodyLimit is the largest request body accepted, like "10M".
	BodyLimit string `yaml:"body_limit"`
	// ShutdownTimeout bounds the drain of in-flight requests on stop.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ReadinessTimeout bounds each readiness check of /readyz.
	ReadinessTimeout time.Duration `yaml:"readiness_timeout"`
	// AccessLog logs every request (method, route, status, duration, principal) at info
	// level; when false, only failures are logged.
	AccessLog bool `yaml:"access_log"`
	// TrustedProxies lists the reverse proxies (IP addresses or CIDR ranges) whose
	// X-Forwarded-For and X-Real-IP headers are believed. A request whose TCP peer is not
	// one of them is logged with its peer's address, whatever its headers say; empty (the
	// default) trusts no proxy.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// TLS makes the server serve HTTPS with a certificate and key from files; empty
	// serves plain HTTP, for installations behind a terminating proxy or on loopback.
	TLS TLSConfig `yaml:"tls"`
}

// DefaultConfig serves on loopback port 8080.
func DefaultConfig() Config {
	return Config{
		Listen:           "127.0.0.1:8080",
		ReadTimeout:      30 * time.Second,
		WriteTimeout:     60 * time.Second,
		RequestTimeout:   30 * time.Second,
		BodyLimit:        "32M",
		ShutdownTimeout:  15 * time.Second,
		ReadinessTimeout: 2 * time.Second,
		AccessLog:        true,
		TLS:              TLSConfig{MinVersion: "1.2", ReloadInterval: 5 * time.Second},
	}
}

// Validate reports the first field that cannot work, naming it.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("api.listen: %q is not host:port: %w", c.Listen, err)
	}
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"api.read_timeout", c.ReadTimeout}, {"api.write_timeout", c.WriteTimeout},
		{"api.request_timeout", c.RequestTimeout}, {"api.shutdown_timeout", c.ShutdownTimeout},
		{"api.readiness_timeout", c.ReadinessTimeout},
	} {
		if d.val <= 0 {
			return fmt.Errorf("%s: must be positive, got %s", d.key, d.val)
		}
	}
	if c.BodyLimit == "" {
		return errors.New("api.body_limit: must not be empty")
	}
	// The same parser as Echo's body limit middleware, which panics on what it cannot read.
	if n, err := bytes.Parse(c.BodyLimit); err != nil || n <= 0 {
		return fmt.Errorf("api.body_limit: %q is not a size like 512K or 32M", c.BodyLimit)
	}
	if _, err := parseProxies(c.TrustedProxies); err != nil {
		return err
	}
	return c.TLS.Validate()
}

// parseProxies parses the entries of api.trusted_proxies: an IP address stands for itself
// alone.
func parseProxies(entries []string) ([]*net.IPNet, error) {
	var nets []*net.IPNet
	for i, e := range entries {
		if _, n, err := net.ParseCIDR(e); err == nil {
			nets = append(nets, n)
			continue
		}
		ip := net.ParseIP(e)
		if ip == nil {
			return nil, fmt.Errorf("api.trusted_proxies: entry %d, %q, is neither an IP address nor a CIDR range like 10.0.0.0/8", i+1, e)
		}
		bits := 8 * net.IPv6len
		if ip4 := ip.To4(); ip4 != nil {
			ip, bits = ip4, 8*net.IPv4len
		}
		nets = append(nets, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
	}
	return nets, nil
}

// clientIP returns how the server finds a request's client (echo.Context.RealIP, used by
// the access log): the TCP peer, unless the peer is a trusted proxy, in which case the
// nearest untrusted address of X-Forwarded-For or else X-Real-IP. Echo's defaults would
// trust every loopback, link-local and private peer; those are trusted here only when
// listed.
func clientIP(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	xff, xri := echo.ExtractIPFromXFFHeader(opts...), echo.ExtractIPFromRealIPHeader(opts...)
	return func(r *http.Request) string {
		if len(r.Header.Values(echo.HeaderXForwardedFor)) > 0 {
			return xff(r)
		}
		return xri(r)
	}
}

// Server is the Echo server every component registers its routes on.
type Server struct {
	cfg  Config
	cert *certReloader // nil without TLS
	echo *echo.Echo
	log  *slog.Logger
	auth Authenticator
	reg  *prometheus.Registry
	http *httpMetrics

	mu     sync.RWMutex
	routes []Route
	checks []readiness
}

// Option adjusts a Server built by New.
type Option func(*Server)

// WithAuthenticator sets how bearer tokens become principals. Without it, every request
// to a non-public route is refused with 401.
func WithAuthenticator(a Authenticator) Option { return func(s *Server) { s.auth = a } }

// WithRegistry makes the server register its metrics on reg and serve reg at /metrics,
// instead of a registry of its own.
func WithRegistry(reg *prometheus.Registry) Option { return func(s *Server) { s.reg = reg } }

// New builds the server with its middleware, error handler and the routes it owns:
// /healthz, /readyz, /metrics and /openapi.json.
func New(cfg Config, log *slog.Logger, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		return nil, errors.New("api: New needs a logger")
	}
	proxies, err := parseProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = clientIP(proxies)
	s := &Server{cfg: cfg, echo: e, log: log}
	if cfg.TLS.Enabled() {
		if s.cert, err = newCertReloader(cfg.TLS, log); err != nil {
			return nil, err
		}
	}
	for _, o := range opts {
		o(s)
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
		if err := s.reg.Register(collectors.NewGoCollector()); err != nil {
			return nil, fmt.Errorf("api: register Go metrics: %w", err)
		}
		if err := s.reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
			return nil, fmt.Errorf("api: register process metrics: %w", err)
		}
	}
	m, err := newHTTPMetrics(s.reg)
	if err != nil {
		return nil, err
	}
	s.http = m
	e.HTTPErrorHandler = s.handleError
	e.Use(s.observe)
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit(cfg.BodyLimit))
	e.Use(middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{Timeout: cfg.RequestTimeout}))
	for _, r := range s.ownRoutes() {
		if err := s.Handle(r); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Echo returns the underlying Echo instance, for tests (httptest.NewServer(srv.Echo())).
// Register routes with Handle, never on Echo directly: they would be neither authorized
// nor documented.
func (s *Server) Echo() *echo.Echo { return s.echo }

// Registry returns the registry /metrics serves; components register their collectors on
// it.
func (s *Server) Registry() prometheus.Registerer { return s.reg }

// Run listens on Listen and serves until ctx is cancelled, then drains in-flight requests
// for at most ShutdownTimeout.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("api: listen %s: %w", s.cfg.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln, with TLS when it is configured, until ctx is cancelled, then drains
// in-flight requests for at most ShutdownTimeout. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Addr:         s.cfg.Listen,
		Handler:      s.echo,
		ReadTimeout:  s.cfg.ReadTimeout,
		WriteTimeout: s.cfg.WriteTimeout,
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	serve := func() error { return srv.Serve(ln) }
	scheme := "HTTP"
	if s.cert != nil {
		scheme = "HTTPS"
		srv.TLSConfig = s.cert.tlsConfig()
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		go s.cert.watch(wctx)
		serve = func() error { return srv.ServeTLS(ln, "", "") }
	}
	s.log.Info("serving "+scheme+" API", "addr", ln.Addr().String(), "routes", len(s.Routes()), "auth", s.auth != nil)
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return nil
}
