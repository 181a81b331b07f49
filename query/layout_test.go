package query

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEchoOnlyInHTTPFiles checks that in the packages of the read path only the http.go
// files import Echo, so that their logic (the consumption reader billing and forecasts
// call, the analytics queries, the SQL runner and guard) stays plain Go.
func TestEchoOnlyInHTTPFiles(t *testing.T) {
	var checked int
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, "github.com/labstack/echo") && filepath.Base(path) != "http.go" {
				t.Errorf("%s imports %s; only a package's http.go may", path, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("checked %d files; the walk missed the read path's packages", checked)
	}
}
