package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/meterhouse/meterhouse/fault"
)

// retryAfterSeconds is the Retry-After header value of e: whole seconds, rounded up, at
// least 1.
func retryAfterSeconds(e *fault.TooManyRequestsError) string {
	s := int64((e.RetryAfter + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	// Error says what went wrong.
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong: a stable code, a message for people, and the request
// field at fault when there is one.
type ErrorDetail struct {
	// Code is stable and meant for programs: invalid_parameter, invalid_request,
	// unauthorized, forbidden, not_found, method_not_allowed, conflict, too_large,
	// limit_exceeded, too_many_requests, timeout, unavailable or internal.
	Code string `json:"code"`
	// Message is meant for people.
	Message string `json:"message"`
	// Field names the parameter or body field at fault, when there is one.
	Field string `json:"field,omitempty"`
}

// handleError is the one place errors become responses: it maps the kinds of failure of
// package fault, wrapped by components, to status codes. Messages of 5xx errors are
// generic: their details (SQL, addresses) go to the log, not to the client.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, body := classify(err, c)
	switch {
	case status == StatusClientClosedRequest:
		// Nobody reads this answer; the access log still shows the status.
		s.log.Info("client went away before the answer", "method", c.Request().Method, "route", c.Path())
	case status >= 500:
		s.log.Error("request failed", "method", c.Request().Method, "route", c.Path(), "status", status, "err", err)
	case status == http.StatusUnauthorized:
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="meterhouse"`)
	case status == http.StatusTooManyRequests:
		retry := "1"
		if tm := (*fault.TooManyRequestsError)(nil); errors.As(err, &tm) {
			retry = retryAfterSeconds(tm)
		}
		c.Response().Header().Set("Retry-After", retry)
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

// StatusClientClosedRequest is the status (nginx's 499) of a request whose client went away
// before its answer: its work was cancelled, and it is no server error.
const StatusClientClosedRequest = 499

// classify maps err to a status and body. Only 4xx errors pass their message on.
func classify(err error, c echo.Context) (int, ErrorBody) {
	var fe *fault.FieldError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &fe):
		return http.StatusBadRequest, ErrorBody{ErrorDetail{Code: "invalid_parameter", Message: fe.Message, Field: fe.Field}}
	case errors.Is(err, fault.ErrInvalid):
		return http.StatusBadRequest, ErrorBody{ErrorDetail{Code: "invalid_request", Message: err.Error()}}
	case errors.Is(err, fault.ErrUnauthenticated):
		return http.StatusUnauthorized, ErrorBody{ErrorDetail{Code: "unauthorized", Message: err.Error()}}
	case errors.Is(err, fault.ErrForbidden):
		return http.StatusForbidden, ErrorBody{ErrorDetail{Code: "forbidden", Message: err.Error()}}
	case errors.Is(err, fault.ErrNotFound):
		return http.StatusNotFound, ErrorBody{ErrorDetail{Code: "not_found", Message: err.Error()}}
	case errors.Is(err, fault.ErrConflict):
		return http.StatusConflict, ErrorBody{ErrorDetail{Code: "conflict", Message: err.Error()}}
	case errors.Is(err, fault.ErrLimitExceeded):
		return http.StatusUnprocessableEntity, ErrorBody{ErrorDetail{Code: "limit_exceeded",
			Message: strings.TrimSuffix(err.Error(), ": "+fault.ErrLimitExceeded.Error())}}
	case errors.Is(err, fault.ErrTooManyRequests):
		return http.StatusTooManyRequests, ErrorBody{ErrorDetail{Code: "too_many_requests",
			Message: strings.TrimSuffix(err.Error(), ": "+fault.ErrTooManyRequests.Error())}}
	case errors.Is(err, context.Canceled) && errors.Is(c.Request().Context().Err(), context.Canceled):
		return StatusClientClosedRequest, ErrorBody{ErrorDetail{Code: "client_closed_request", Message: "the client closed the request"}}
	case errors.Is(err, context.DeadlineExceeded) && c.Request().Context().Err() != nil:
		return http.StatusServiceUnavailable, ErrorBody{ErrorDetail{Code: "timeout", Message: "the request took longer than the server allows"}}
	case errors.Is(err, fault.ErrUnavailable):
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
	case http.StatusTooManyRequests:
		return "too_many_requests"
	}
	if status >= 500 {
		return "internal"
	}
	return "bad_request"
}
