package table

import (
	"errors"
	"strings"
	"testing"

	"github.com/meterhouse/meterhouse/fault"
)

// TestCSVReader checks the header (a byte-order mark, any order, an optional column left
// out), comments and line numbers, and that Invalid and short rows name column and line.
func TestCSVReader(t *testing.T) {
	c, err := NewCSVReader(strings.NewReader("\ufeffb, a\n# comment\n2, 1\n\n4,3\n5\n"), "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		ok, err := c.Next()
		if err != nil {
			var fe *fault.FieldError
			if !errors.As(err, &fe) || fe.Field != "a" || !strings.HasPrefix(fe.Message, "line 6:") {
				t.Errorf("short row: %v", err)
			}
			break
		}
		if !ok {
			t.Fatal("the short row was not refused")
		}
		got = append(got, c.Cell("a")+c.Cell("b")+c.Cell("optional"))
		if c.Line() == 3 {
			var fe *fault.FieldError
			if err := c.Invalid(fault.Invalid("a", "bad")); !errors.As(err, &fe) || fe.Field != "a" || fe.Message != "line 3: bad" {
				t.Errorf("Invalid: %v", err)
			}
		}
	}
	if strings.Join(got, " ") != "12 34" {
		t.Errorf("rows %v, want [12 34]", got)
	}
	for _, tc := range []struct{ body, field string }{{"", "header"}, {"a\n", "b"}, {"a,b,a\n", "a"}, {"a,\"b\n", "body"}} {
		var fe *fault.FieldError
		if _, err := NewCSVReader(strings.NewReader(tc.body), "a", "b"); !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("header %q: %v, want a FieldError of %s", tc.body, err, tc.field)
		}
	}
}
