package api

import (
	"errors"
	"fmt"
)

// Domain errors that components return, wrapped with %w, to choose a status code. An
// error that wraps none of them is a 500 whose details stay in the log.
var (
	// ErrInvalid marks a request whose parameters or body are wrong: 400.
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound marks a request for something that does not exist: 404.
	ErrNotFound = errors.New("not found")
	// ErrConflict marks a request that conflicts with the current state: 409.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable marks a dependency that cannot be reached right now: 503.
	ErrUnavailable = errors.New("service unavailable")
)

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
