// Package fault names the kinds of failure that Meterhouse's components report: a wrong
// request, a missing credential or permission, something that does not exist or conflicts
// with the current state, a resource limit, a busy or unavailable dependency. Components
// wrap these errors with %w and callers test them with errors.Is and errors.As; whatever
// serves a component chooses its answer from them (api maps each to an HTTP status in its
// one error handler). The package is a leaf: it imports nothing of Meterhouse and no HTTP
// server, so that logic can report faults without depending on how they are served.
package fault

import (
	"errors"
	"fmt"
	"time"
)

// The kinds of failure. An error that wraps none of them is an internal failure, whose
// details are for the log, not for the client.
var (
	// ErrInvalid marks a request whose parameters or body are wrong (HTTP 400).
	ErrInvalid = errors.New("invalid request")
	// ErrUnauthenticated marks a request without a valid credential: none, unknown,
	// revoked or expired (HTTP 401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden marks a principal whose roles do not allow the request (HTTP 403).
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound marks a request for something that does not exist (HTTP 404).
	ErrNotFound = errors.New("not found")
	// ErrConflict marks a request that conflicts with the current state (HTTP 409).
	ErrConflict = errors.New("conflict")
	// ErrLimitExceeded marks a well-formed request that a resource limit stopped (rows
	// read, memory, time, result size; HTTP 422). The message before it says which limit.
	ErrLimitExceeded = errors.New("limit exceeded")
	// ErrUnavailable marks a dependency that cannot be reached right now (HTTP 503).
	ErrUnavailable = errors.New("service unavailable")
	// ErrTooManyRequests marks a request refused because a concurrency limit is reached
	// (HTTP 429, with a Retry-After header when the error is a *TooManyRequestsError).
	ErrTooManyRequests = errors.New("too many requests")
)

// TooManyRequestsError is an ErrTooManyRequests that says which limit was reached and
// when to retry.
type TooManyRequestsError struct {
	// Message says which limit was reached, naming its configuration key, for the client.
	Message string
	// RetryAfter is how long the client should wait before retrying.
	RetryAfter time.Duration
}

// Error returns the message.
func (e *TooManyRequestsError) Error() string { return e.Message }

// Unwrap makes errors.Is(err, ErrTooManyRequests) true.
func (e *TooManyRequestsError) Unwrap() error { return ErrTooManyRequests }

// FieldError is an ErrInvalid that names the request field at fault.
type FieldError struct {
	// Field names the query parameter, path parameter or body field.
	Field string
	// Message says what is wrong with it, for the client.
	Message string
}

// Invalid returns a FieldError for field with a formatted message.
func Invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Error formats the error as "field: message".
func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }
