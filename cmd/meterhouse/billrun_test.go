package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestBillRunFlags checks that bad flags of bill run are refused with the flag named,
// before any service is reached.
func TestBillRunFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bill", "run", "--period", "2026-13"}, "period"},
		{[]string{"bill", "run", "--period", "2026-11", "--cycle", "30"}, "cycle day 30"},
		{[]string{"bill", "run"}, "period"},
		{[]string{"bill", "send"}, "want preview or run"},
	} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), c.args, &out, &errb); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
}
