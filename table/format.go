package table

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"
)

// Format is an output format of tables.
type Format string

// The output formats, chosen by the request's Accept header.
const (
	// FormatJSON is one JSON object with the columns and one object per row (the default).
	FormatJSON Format = "json"
	// FormatCSV is RFC 4180 CSV with a header row.
	FormatCSV Format = "csv"
	// FormatArrow is an Apache Arrow IPC stream.
	FormatArrow Format = "arrow"
)

// The media types of the output formats.
const (
	MediaJSON  = "application/json"
	MediaCSV   = "text/csv"
	MediaArrow = "application/vnd.apache.arrow.stream"
)

// ContentType returns the Content-Type header value of the format.
func (f Format) ContentType() string {
	switch f {
	case FormatCSV:
		return MediaCSV + "; charset=utf-8; header=present"
	case FormatArrow:
		return MediaArrow
	}
	return MediaJSON + "; charset=utf-8"
}

// ErrNotAcceptable means the Accept header names no format the API can write.
var ErrNotAcceptable = errors.New("not acceptable")

// Negotiate picks the output format for an Accept header: the supported media type with
// the highest quality value, ties going to the earlier one. An empty header or */* gives
// JSON. A header naming only unsupported types returns an error wrapping ErrNotAcceptable.
// HTTP handlers call it through Accepted, once per request.
func Negotiate(accept string) (Format, error) {
	if strings.TrimSpace(accept) == "" {
		return FormatJSON, nil
	}
	best, bestQ := Format(""), 0.0
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(v, 64); err != nil || q < 0 || q > 1 {
				continue
			}
		}
		var f Format
		switch mt {
		case MediaJSON, "application/*", "*/*":
			f = FormatJSON
		case MediaCSV, "text/*":
			f = FormatCSV
		case MediaArrow:
			f = FormatArrow
		default:
			continue
		}
		if q > bestQ {
			best, bestQ = f, q
		}
	}
	if best == "" {
		return "", fmt.Errorf("%w: Accept %q names no supported type; use %s (default), %s or %s",
			ErrNotAcceptable, accept, MediaJSON, MediaCSV, MediaArrow)
	}
	return best, nil
}

// Write checks res's table with Validate and writes res to w in format f.
func Write(w io.Writer, f Format, res Result) error {
	if res.Table == nil {
		return errNoTable
	}
	if err := res.Table.Validate(); err != nil {
		return err
	}
	return write(w, f, res)
}

// write writes res, whose table is valid, to w in format f.
func write(w io.Writer, f Format, res Result) error {
	switch f {
	case FormatCSV:
		return WriteCSV(w, res.Table)
	case FormatArrow:
		return WriteArrow(w, res.Table)
	}
	return WriteJSON(w, res)
}
