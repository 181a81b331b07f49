package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
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
}

// DefaultConfig serves on loopback port 8080.
func DefaultConfig() Config {
	return Config{
		Listen:          "127.0.0.1:8080",
		ReadTimeout:     30 * time.Second,
		WriteTimeout:    60 * time.Second,
		RequestTimeout:  30 * time.Second,
		BodyLimit:       "32M",
		ShutdownTimeout: 15 * time.Second,
	}
}

// Validate reports the first field that cannot work, naming it.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("api.listen: %q is not host:port: %w", c.Listen, err)
	}
	for name, d := range map[string]time.Duration{
		"api.read_timeout": c.ReadTimeout, "api.write_timeout": c.WriteTimeout,
		"api.request_timeout": c.RequestTimeout, "api.shutdown_timeout": c.ShutdownTimeout,
	} {
		if d <= 0 {
			return fmt.Errorf("%s: must be positive", name)
		}
	}
	if c.BodyLimit == "" {
		return errors.New("api.body_limit: must not be empty")
	}
	return nil
}

// Server is the Echo server every component registers its routes on.
type Server struct {
	cfg    Config
	echo   *echo.Echo
	log    *slog.Logger
	routes []Route
}

// New builds the server with its middleware, error handler and health route.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		return nil, errors.New("api: New needs a logger")
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{cfg: cfg, echo: e, log: log}
	e.HTTPErrorHandler = s.handleError
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit(cfg.BodyLimit))
	e.Use(middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{Timeout: cfg.RequestTimeout}))
	if err := s.Handle(Route{Method: http.MethodGet, Path: "/healthz", Public: true,
		Summary: "Reports that the process is alive.",
		Handler: func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) },
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// Echo returns the underlying Echo instance for route registration. Routes must be
// registered before Run.
func (s *Server) Echo() *echo.Echo { return s.echo }

// Run serves until ctx is cancelled, then drains in-flight requests for at most
// ShutdownTimeout.
func (s *Server) Run(ctx context.Context) error {
	srv := &http.Server{
		Addr:         s.cfg.Listen,
		Handler:      s.echo,
		ReadTimeout:  s.cfg.ReadTimeout,
		WriteTimeout: s.cfg.WriteTimeout,
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("api: listen %s: %w", s.cfg.Listen, err)
	}
	s.log.Info("serving HTTP API", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
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

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong: a stable code, a message for people, and the request
// field at fault when there is one.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// handleError is the one place errors become responses. Messages of 5xx errors are
// generic: their details (SQL, addresses) go to the log, not to the client.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, body := s.classify(err, c)
	if status >= 500 {
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "status", status, "err", err)
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(status)
	} else {
		err = c.JSON(status, body)
	}
	if err != nil {
		s.log.Warn("writing error response", "err", err)
	}
}

func (s *Server) classify(err error, c echo.Context) (int, ErrorBody) {
	var fe *FieldError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &fe):
		return http.StatusBadRequest, ErrorBody{ErrorDetail{Code: "invalid_parameter", Message: fe.Message, Field: fe.Field}}
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest, ErrorBody{ErrorDetail{Code: "invalid_request", Message: err.Error()}}
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, ErrorBody{ErrorDetail{Code: "not_found", Message: err.Error()}}
	case errors.Is(err, ErrConflict):
		return http.StatusConflict, ErrorBody{ErrorDetail{Code: "conflict", Message: err.Error()}}
	case errors.Is(err, context.DeadlineExceeded) && c.Request().Context().Err() != nil:
		return http.StatusServiceUnavailable, ErrorBody{ErrorDetail{Code: "timeout", Message: "the request took longer than the server allows"}}
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable, ErrorBody{ErrorDetail{Code: "unavailable", Message: "a backing service is unavailable; retry later"}}
	case errors.As(err, &he):
		msg := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok && he.Code < 500 {
			msg = m
		}
		return he.Code, ErrorBody{ErrorDetail{Code: codeFor(he.Code), Message: msg}}
	}
	return http.StatusInternalServerError, ErrorBody{ErrorDetail{Code: "internal", Message: "internal error"}}
}

func codeFor(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	if status >= 500 {
		return "internal"
	}
	return "bad_request"
}
