package weather

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestReferenceDataStandsAlone checks that the reference data packages (weather and
// calendar/holidays) import no component that uses them (forecast, billing, control) nor
// the read or write paths, so that any of those may import them, and that within them
// only http.go files import Echo.
func TestReferenceDataStandsAlone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const mod = "github.com/meterhouse/meterhouse/"
	for _, pkg := range []string{"./weather", "./calendar/holidays"} {
		cmd := exec.CommandContext(ctx, "go", "list", "-deps", pkg)
		cmd.Dir = testenv.RepoRoot()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, p := range strings.Fields(string(out)) {
			for _, banned := range []string{"forecast", "billing", "control", "query", "vee", "ingest"} {
				if p == mod+banned || strings.HasPrefix(p, mod+banned+"/") {
					t.Errorf("%s depends on %s", pkg, p)
				}
			}
		}
		cmd = exec.CommandContext(ctx, "go", "list", "-f", `{{range .GoFiles}}{{$.Dir}}/{{.}} {{end}}`, pkg)
		cmd.Dir = testenv.RepoRoot()
		files, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, f := range strings.Fields(string(files)) {
			cmd = exec.CommandContext(ctx, "go", "list", "-f", `{{join .Imports " "}}`, f)
			cmd.Dir = testenv.RepoRoot()
			imps, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list %s: %v", f, err)
			}
			if strings.Contains(string(imps), "github.com/labstack/echo") && !strings.HasSuffix(f, "/http.go") {
				t.Errorf("%s imports Echo; only http.go may", f)
			}
		}
	}
}
