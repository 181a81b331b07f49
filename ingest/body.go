package ingest

import (
	"bufio"
	"fmt"
	"io"
)

// maxReadingBytes bounds one element of a JSON array body, one NDJSON line and one field
// of a form body. A reading object is about 80 bytes; the bound leaves room for fields
// that are ignored while keeping what one element can cost to parse small.
const maxReadingBytes = 64 << 10

// errElementTooLong reports an array element, line or form field over maxReadingBytes.
var errElementTooLong = fmt.Errorf("longer than %d bytes", maxReadingBytes)

// skipSpace consumes JSON white space and returns the byte after it, consumed too.
func skipSpace(r *bufio.Reader) (byte, error) {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		if !isSpace(b) {
			return b, nil
		}
	}
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// readValue appends to dst the bytes of the next JSON value of r (white space before it
// is skipped) and returns the extended slice. It only finds where the value ends — by
// string, escape and bracket nesting for objects, arrays and strings, by the next
// delimiter for other values — and leaves checking its syntax to the parser. It returns
// errElementTooLong once the value exceeds max bytes, io.EOF when r ends before a value
// starts, io.ErrUnexpectedEOF when it ends inside one, and read errors as they come.
func readValue(r *bufio.Reader, dst []byte, max int) ([]byte, error) {
	c, err := skipSpace(r)
	if err != nil {
		return dst, err
	}
	dst = append(dst, c)
	inString, escaped, depth := c == '"', false, 0
	if c == '{' || c == '[' {
		depth = 1
	}
	scalar := !inString && depth == 0
	for scalar || inString || depth > 0 {
		b, err := r.ReadByte()
		if err != nil {
			if err == io.EOF {
				if scalar {
					return dst, nil
				}
				err = io.ErrUnexpectedEOF
			}
			return dst, err
		}
		switch {
		case scalar:
			if isSpace(b) || b == ',' || b == ']' || b == '}' {
				return dst, r.UnreadByte()
			}
		case inString:
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
		default:
			switch b {
			case '"':
				inString = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
		}
		if len(dst) >= max {
			return dst, errElementTooLong
		}
		dst = append(dst, b)
	}
	return dst, nil
}
