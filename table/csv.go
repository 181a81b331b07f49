package table

import (
	"bytes"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// WriteCSV writes t as CSV with a header row of column names, quoted as encoding/csv
// quotes, rows ending in \n. Times are RFC 3339 UTC, dates YYYY-MM-DD, nulls empty fields,
// and string lists JSON arrays. A string cell or column name that a spreadsheet would read
// as a formula (one starting with =, +, -, @, a tab or a carriage return) is written with
// a single quote in front, as OWASP's CSV injection guidance says; numeric columns,
// negative numbers included, are written as they are. Rows are appended to one reused
// buffer: nothing is allocated per row.
func WriteCSV(w io.Writer, t *Table) error {
	buf := make([]byte, 0, 2*flushAt)
	var scratch []byte
	for i, c := range t.Columns {
		if i > 0 {
			buf = append(buf, ',')
		}
		start := len(buf)
		buf = appendCSVText(buf, c.Name())
		buf, scratch = quoteCSVField(buf, start, scratch)
	}
	buf = append(buf, '\n')
	for r := range t.Rows() {
		for i, c := range t.Columns {
			if i > 0 {
				buf = append(buf, ',')
			}
			start := len(buf)
			buf = c.AppendCSV(buf, r)
			buf, scratch = quoteCSVField(buf, start, scratch)
		}
		buf = append(buf, '\n')
		if len(buf) > flushAt {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	_, err := w.Write(buf)
	return err
}

// appendCSVText appends s, with a single quote in front when a spreadsheet would take it
// for a formula: when it starts with =, +, -, @, a tab or a carriage return, unless it is
// a plain decimal number (-1.50, +3e2: a decimal or an amount rendered as text), which a
// spreadsheet reads as that number.
func appendCSVText(dst []byte, s string) []byte {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 && !plainNumber(s) {
		dst = append(dst, '\'')
	}
	return append(dst, s...)
}

// plainNumber reports whether s is a sign, digits with at most one decimal point, and an
// optional exponent: nothing a spreadsheet could evaluate as a formula.
func plainNumber(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits, dot := 0, false
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		case (c == 'e' || c == 'E') && digits > 0:
			return plainExponent(s[i+1:])
		default:
			return false
		}
	}
	return digits > 0
}

// plainExponent reports whether s is an exponent's optional sign and digits.
func plainExponent(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// quoteCSVField quotes the field buf[start:] in place when encoding/csv would: when it
// holds a comma, a quote, \r or \n, starts with a space, or is `\.`. scratch is reused
// across calls to hold the field while it is rewritten; both are returned.
func quoteCSVField(buf []byte, start int, scratch []byte) ([]byte, []byte) {
	f := buf[start:]
	if !csvNeedsQuotes(f) {
		return buf, scratch
	}
	scratch = append(scratch[:0], f...)
	buf = append(buf[:start], '"')
	for _, b := range scratch {
		if b == '"' {
			buf = append(buf, '"')
		}
		buf = append(buf, b)
	}
	return append(buf, '"'), scratch
}

// csvNeedsQuotes reports whether encoding/csv's Writer (comma ',', no CRLF) quotes field.
func csvNeedsQuotes(field []byte) bool {
	if len(field) == 0 {
		return false
	}
	if string(field) == `\.` {
		return true
	}
	if bytes.ContainsAny(field, "\n\r\",") {
		return true
	}
	r, _ := utf8.DecodeRune(field)
	return unicode.IsSpace(r)
}
