package table

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"unicode/utf8"
)

// flushAt is the size at which a writer hands its buffer to the io.Writer; the buffer is
// made with twice that capacity, so that a row rarely grows it.
const flushAt = 32 << 10

// WriteJSON writes res as one JSON object: the Meta fields, then "columns" (name and type
// of each column), "rows" (one object per row, keyed by column name; times in RFC 3339
// UTC, dates as YYYY-MM-DD, nulls and non-finite floats as null) and "next_cursor" when
// there is a next page. Rows are appended to one reused buffer: nothing is allocated per
// row.
func WriteJSON(w io.Writer, res Result) error {
	t := res.Table
	buf := make([]byte, 0, 2*flushAt)
	buf = append(buf, '{')
	keys := make([]string, 0, len(res.Meta))
	for k := range res.Meta {
		if k == "columns" || k == "rows" || k == "next_cursor" {
			return fmt.Errorf("result meta field %q collides with a fixed field", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := json.Marshal(res.Meta[k])
		if err != nil {
			return fmt.Errorf("result meta field %q: %w", k, err)
		}
		buf = AppendJSONString(buf, k)
		buf = append(buf, ':')
		buf = append(buf, v...)
		buf = append(buf, ',')
	}
	buf = append(buf, `"columns":[`...)
	names := make([][]byte, len(t.Columns))
	for i, c := range t.Columns {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"name":`...)
		buf = AppendJSONString(buf, c.Name())
		buf = append(buf, `,"type":"`...)
		buf = append(buf, c.Type().String()...)
		buf = append(buf, `"}`...)
		names[i] = append(AppendJSONString(nil, c.Name()), ':')
	}
	buf = append(buf, `],"rows":[`...)
	for r := range t.Rows() {
		if r > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '{')
		for i, c := range t.Columns {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, names[i]...)
			buf = c.AppendJSON(buf, r)
		}
		buf = append(buf, '}')
		if len(buf) > flushAt {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	buf = append(buf, ']')
	if res.NextCursor != "" {
		buf = append(buf, `,"next_cursor":`...)
		buf = AppendJSONString(buf, res.NextCursor)
	}
	buf = append(buf, "}\n"...)
	_, err := w.Write(buf)
	return err
}

const hex = "0123456789abcdef"

// AppendJSONString appends s as a JSON string to dst, byte for byte as json.Marshal
// writes it (HTML characters, U+2028 and U+2029 escaped, invalid UTF-8 as U+FFFD), without
// allocating.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default: // other control bytes, <, > and &
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
