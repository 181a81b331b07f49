package table

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// HeaderNextCursor is the response header carrying Result.NextCursor.
const HeaderNextCursor = "X-Next-Cursor"

// Accepted returns the output format the request's Accept header chooses (Negotiate), or
// a 406 *echo.HTTPError naming the supported types. A handler that must refuse an unusable
// Accept before doing its work calls it first and answers with RespondAs.
func Accepted(c echo.Context) (Format, error) {
	f, err := Negotiate(c.Request().Header.Get(echo.HeaderAccept))
	if err != nil {
		return "", echo.NewHTTPError(http.StatusNotAcceptable, strings.TrimPrefix(err.Error(), ErrNotAcceptable.Error()+": ")).SetInternal(err)
	}
	return f, nil
}

// Respond writes res with status 200 in the format the request's Accept header chooses;
// a header naming no supported format gets 406.
func Respond(c echo.Context, res Result) error {
	f, err := Accepted(c)
	if err != nil {
		return err
	}
	return RespondAs(c, f, res)
}

// RespondAs writes res with status 200 in format f, which Accepted chose for this request.
func RespondAs(c echo.Context, f Format, res Result) error {
	if res.Table == nil {
		return fmt.Errorf("respond: %w", errNoTable)
	}
	if err := res.Table.Validate(); err != nil {
		return fmt.Errorf("respond: %w", err)
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, f.ContentType())
	h.Set("Vary", echo.HeaderAccept)
	if res.NextCursor != "" {
		h.Set(HeaderNextCursor, res.NextCursor)
	}
	c.Response().WriteHeader(http.StatusOK)
	// The status is sent: a write error now can only end the response early.
	return write(c.Response(), f, res)
}
