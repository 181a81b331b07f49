package job

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestWriteSideImportsNoReadSide checks that the VEE engine and job (vee/...) depend on no
// package of the read path (query/...): what both sides need, such as the group kinds and
// the time bounds, lives in the data model, package schema.
func TestWriteSideImportsNoReadSide(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "./vee/...")
	cmd.Dir = testenv.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./vee/...: %v", err)
	}
	const read = "github.com/meterhouse/meterhouse/query"
	for _, p := range strings.Fields(string(out)) {
		if p == read || strings.HasPrefix(p, read+"/") {
			t.Errorf("vee/... depends on %s, a package of the read side", p)
		}
	}
}
