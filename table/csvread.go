package table

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/meterhouse/meterhouse/fault"
)

// CSVReader reads an uploaded CSV file whose first line is a header naming its columns,
// found by name in any order: the one reader of the reference data formats (calendars,
// weather). Lines starting with # are comments; cells are trimmed. Its errors are
// fault.FieldErrors whose field is the column (or "body" for a file that is not CSV) and
// whose message starts with the line ("line 3: …"), counting the header as line 1.
type CSVReader struct {
	r      *csv.Reader
	header []string
	col    map[string]int
	rec    []string
	line   int
}

// NewCSVReader reads the header from r and checks that it names every required column
// once. Columns it names besides are allowed (optional columns read as empty when absent).
func NewCSVReader(r io.Reader, required ...string) (*CSVReader, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fault.Invalid("header", "the file is empty: want a header %s", strings.Join(required, ","))
	}
	if err != nil {
		return nil, csvError(err)
	}
	c := &CSVReader{r: cr, header: header, col: map[string]int{}}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, dup := c.col[h]; dup {
			return nil, fault.Invalid(h, "line 1: the header names column %q twice", h)
		}
		c.col[h] = i
	}
	for _, name := range required {
		if _, ok := c.col[name]; !ok {
			return nil, fault.Invalid(name, "line 1: the header has no column %q (want %s)", name, strings.Join(required, ","))
		}
	}
	return c, nil
}

// Next reads the next row; it returns false at the end of the file. A row with another
// number of cells than the header is an error.
func (c *CSVReader) Next() (bool, error) {
	rec, err := c.r.Read()
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	if err != nil {
		return false, csvError(err)
	}
	c.rec = rec
	c.line, _ = c.r.FieldPos(0)
	if len(rec) != len(c.header) {
		return false, fault.Invalid(strings.TrimSpace(c.header[min(len(rec), len(c.header)-1)]),
			"line %d: %d cells, the header has %d", c.line, len(rec), len(c.header))
	}
	return true, nil
}

// Cell returns the trimmed cell of column name in the current row, empty when the header
// has no such column.
func (c *CSVReader) Cell(name string) string {
	if i, ok := c.col[name]; ok {
		return strings.TrimSpace(c.rec[i])
	}
	return ""
}

// Line returns the line of the current row, the header being line 1.
func (c *CSVReader) Line() int { return c.line }

// Invalid puts the current line into err's message when err is a fault.FieldError, so that
// a check written for one value (schema.ParseTime) names where in the file it failed.
func (c *CSVReader) Invalid(err error) error {
	var fe *fault.FieldError
	if errors.As(err, &fe) {
		return fault.Invalid(fe.Field, "line %d: %s", c.line, fe.Message)
	}
	return fmt.Errorf("line %d: %w", c.line, err)
}

// csvError turns an error of encoding/csv into a FieldError naming its line.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fault.Invalid("body", "line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("read CSV: %w", err)
}
