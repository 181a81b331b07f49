package api

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// TestTooManyRequests checks that a concurrency refusal becomes a 429 with the JSON error
// body (code too_many_requests, the message naming the limit) and a Retry-After header in
// whole seconds, rounded up, however the error is wrapped.
func TestTooManyRequests(t *testing.T) {
	srv, hs := newTestServer(t, DefaultConfig(), WithAuthenticator(tokens{"t": {Name: "t", Roles: []Role{RoleAnalyst}}}))
	limit := &TooManyRequestsError{Message: "4 analyst queries are running (sql.max_concurrent); retry later", RetryAfter: 1500 * time.Millisecond}
	for name, err := range map[string]error{
		"typed":   limit,
		"wrapped": fmt.Errorf("run analyst sql: %w", limit),
		"plain":   fmt.Errorf("the queue is full: %w", ErrTooManyRequests),
		"short":   &TooManyRequestsError{Message: "busy (sql.max_concurrent)", RetryAfter: time.Millisecond},
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
	if !errors.Is(limit, ErrTooManyRequests) {
		t.Error("TooManyRequestsError does not wrap ErrTooManyRequests")
	}
}
