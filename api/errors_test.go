package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/meterhouse/meterhouse/fault"
)

// TestTooManyRequests checks that a concurrency refusal becomes a 429 with the JSON error
// body (code too_many_requests, the message naming the limit) and a Retry-After header in
// whole seconds, rounded up, however the error is wrapped.
func TestTooManyRequests(t *testing.T) {
	srv, hs := newTestServer(t, DefaultConfig(), WithAuthenticator(tokens{"t": {Name: "t", Roles: []Role{RoleAnalyst}}}))
	limit := &fault.TooManyRequestsError{Message: "4 analyst queries are running (sql.max_concurrent); retry later", RetryAfter: 1500 * time.Millisecond}
	for name, err := range map[string]error{
		"typed":   limit,
		"wrapped": fmt.Errorf("run analyst sql: %w", limit),
		"plain":   fmt.Errorf("the queue is full: %w", fault.ErrTooManyRequests),
		"short":   &fault.TooManyRequestsError{Message: "busy (sql.max_concurrent)", RetryAfter: time.Millisecond},
	} {
		if err := srv.Handle(Route{Method: http.MethodPost, Path: "/busy/" + name, Summary: name, Roles: []Role{RoleAnalyst},
			Handler: func(echo.Context) error { return err }}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, retry, message string
	}{
		{"typed", "2", limit.Message},
		{"wrapped", "2", "run analyst sql: " + limit.Message},
		{"plain", "1", "the queue is full"},
		{"short", "1", "busy (sql.max_concurrent)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, eb, body := do(t, http.MethodPost, hs.URL+"/busy/"+tc.name, "Bearer t", nil)
			if resp.StatusCode != http.StatusTooManyRequests || eb.Error.Code != "too_many_requests" || eb.Error.Message != tc.message {
				t.Fatalf("%d %s, want 429 too_many_requests %q", resp.StatusCode, body, tc.message)
			}
			if got := resp.Header.Get("Retry-After"); got != tc.retry {
				t.Errorf("Retry-After %q, want %q", got, tc.retry)
			}
		})
	}
	if !errors.Is(limit, fault.ErrTooManyRequests) {
		t.Error("fault.TooManyRequestsError does not wrap fault.ErrTooManyRequests")
	}
}

// TestClientGone checks that a handler's context.Canceled after its client went away is
// answered 499 (no server error), while a context.Canceled whose request is still alive
// remains a 500.
func TestClientGone(t *testing.T) {
	e := echo.New()
	for _, tc := range []struct {
		name   string
		gone   bool
		status int
	}{
		{"client gone", true, StatusClientClosedRequest},
		{"request alive", false, http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.gone {
				cancel()
			}
			req := httptest.NewRequest(http.MethodPost, "/v1/sql", nil).WithContext(ctx)
			c := e.NewContext(req, httptest.NewRecorder())
			if status, _ := classify(fmt.Errorf("run analyst sql: %w", context.Canceled), c); status != tc.status {
				t.Errorf("status %d, want %d", status, tc.status)
			}
		})
	}
}
