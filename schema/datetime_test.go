package schema

import (
	"errors"
	"strings"
	"testing"

	"github.com/meterhouse/meterhouse/fault"
)

// TestParseTimeBounds checks that times the store cannot hold (before 1970, or after the
// end of 2105, past which ClickHouse 18.16 misreads DateTime text) are refused with the
// field named, and the bounds themselves accepted.
func TestParseTimeBounds(t *testing.T) {
	for _, c := range []struct {
		v, msg string // msg "" when valid
	}{
		{"1970-01-01T00:00:00Z", ""},
		{"2105-12-31T23:59:59Z", ""},
		{"2106-01-01T00:59:59+01:00", ""},
		{"1969-12-31T23:59:59Z", "from: 1969-12-31T23:59:59Z is before 1970-01-01T00:00:00Z, the earliest time the store holds"},
		{"1900-01-01T00:00:00Z", "before 1970-01-01T00:00:00Z"},
		{"2106-01-01T00:00:00Z", "after 2105-12-31T23:59:59Z"}, // 18.16 misreads it as text
		{"2106-02-07T06:28:15Z", "after 2105-12-31T23:59:59Z"}, // schema.MaxDateTime
		{"2105-12-31T23:59:59.5Z", "after 2105-12-31T23:59:59Z"},
		{"2163-01-01T00:00:00Z", "after 2105-12-31T23:59:59Z"},
		{"2200-01-01T00:00:00Z", "from: 2200-01-01T00:00:00Z is after 2105-12-31T23:59:59Z, the latest time the store holds"},
	} {
		_, err := ParseTime("from", c.v)
		if c.msg == "" {
			if err != nil {
				t.Errorf("%s: %v", c.v, err)
			}
			continue
		}
		var fe *fault.FieldError
		if !errors.As(err, &fe) || fe.Field != "from" || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want a from error containing %q", c.v, err, c.msg)
		}
	}
}
