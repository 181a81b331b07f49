package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestForecastEval runs meterhouse forecast eval on a small CSV (no services): the text and
// JSON reports, the window count, and the flag errors.
func TestForecastEval(t *testing.T) {
	var b strings.Builder
	b.WriteString("t,load,temp\n")
	for i := range 900 {
		temp := 15 + 5*math.Sin(float64(i)/31)
		fmt.Fprintf(&b, "%d,%.6f,%.3f\n", i, 50+10*math.Sin(2*math.Pi*float64(i%14)/14)+2*temp+math.Sin(float64(i)*1.7), temp)
	}
	csv := filepath.Join(t.TempDir(), "load.csv")
	if err := os.WriteFile(csv, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"forecast", "eval", "--csv", csv, "--columns", "load", "--season", "14",
		"--train-rows", "500", "--val-rows", "200", "--test-rows", "200", "--horizon", "7", "--exog", "temp"}
	var out, errb bytes.Buffer
	if err := run(context.Background(), base, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	for _, want := range []string{"194 test windows", "PERFECT FORECAST", "chosen on validation: L=", "seasonal naive (same time last week, 14 rows)", "last value"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := run(context.Background(), append(base, "--json", "--lookback", "3", "--normalize", "train-zscore", "--shared"), &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var rep struct {
		Windows int `json:"windows"`
		Chosen  struct {
			Lookback int `json:"lookback"`
		} `json:"chosen"`
		Mode  string `json:"mode"`
		Model struct {
			RelMAE float64 `json:"rel_mae"`
		} `json:"model"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if rep.Windows != 194 || rep.Chosen.Lookback != 3 || rep.Mode != "shared" || !(rep.Model.RelMAE < 1) {
		t.Errorf("JSON report %+v", rep)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{append(base, "--shared", "--per-column"), "not both"},
		{append(base, "--normalize", "minmax"), `--normalize "minmax"`},
		{[]string{"forecast", "eval", "--columns", "load"}, "--csv is required"},
		{append(base[:len(base):len(base)], "--columns", "nope"), `no column "nope"`},
		{append(base, "--test-rows", "500"), "the data has 900 rows"},
		{[]string{"forecast", "fit"}, "want run"},
		{[]string{"forecast", "run", "--issued", "2026-13-01"}, "--issued"},
		{[]string{"forecast", "run", "--group", "street/x"}, "--group \"street/x\""},
		{[]string{"forecast", "run", "--issued", "2026-11-01T10:00:00Z", "--from", "2026-10-01T10:00:00Z"}, "not both"},
	} {
		if err := run(context.Background(), c.args, &out, &errb); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
}
