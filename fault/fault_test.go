package fault

import (
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestKinds checks that the typed faults wrap their kind and format as documented.
func TestKinds(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		kind error
		msg  string
	}{
		"field":   {Invalid("from", "%q is not a time", "x"), ErrInvalid, `from: "x" is not a time`},
		"wrapped": {fmt.Errorf("meter MTR-1: %w", Invalid("step", "too small")), ErrInvalid, "meter MTR-1: step: too small"},
		"busy":    {&TooManyRequestsError{Message: "busy (sql.max_concurrent)"}, ErrTooManyRequests, "busy (sql.max_concurrent)"},
	} {
		if !errors.Is(tc.err, tc.kind) {
			t.Errorf("%s: %v does not wrap %v", name, tc.err, tc.kind)
		}
		if tc.err.Error() != tc.msg {
			t.Errorf("%s: message %q, want %q", name, tc.err.Error(), tc.msg)
		}
	}
	var fe *FieldError
	if err := fmt.Errorf("x: %w", Invalid("to", "bad")); !errors.As(err, &fe) || fe.Field != "to" || fe.Message != "bad" {
		t.Errorf("errors.As(FieldError) = %+v", fe)
	}
}

// imports returns the import paths of the Go file at path.
func imports(t *testing.T, path string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range f.Imports {
		p, err := strconv.Unquote(s.Path.Value)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// TestLeaf checks that fault imports only the standard library.
func TestLeaf(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		for _, p := range imports(t, f) {
			if first, _, _ := strings.Cut(p, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s: fault must import only the standard library", f, p)
			}
		}
	}
}

const (
	module = "github.com/meterhouse/meterhouse"
	echo   = "github.com/labstack/echo/v4"
)

// httpOwners are the folders whose every file may import the HTTP server: the server
// itself, the wiring and the binaries that call it, and the test helpers.
var httpOwners = []string{"api", "internal/app", "cmd", "bench", "internal/testenv"}

// notYetSeparated are the files outside http.go that still import the HTTP server, with
// the reason. Nothing may be added here.
var notYetSeparated = map[string]string{
	"auth/store.go": "roles and principals (api.Role, api.Principal) are the API server's",
	"auth/token.go": "roles and principals (api.Role, api.Principal) are the API server's",
}

// TestLogicDoesNotImportHTTP checks that outside their http.go files, the components'
// logic imports neither Echo nor the API server (package api) to report its errors: it
// returns the faults of this package, which api maps to status codes. config, which
// gathers every component's Config including api's, is the one other importer of api.
func TestLogicDoesNotImportHTTP(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			for _, o := range httpOwners {
				if rel == o {
					return filepath.SkipDir
				}
			}
			if strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") || d.Name() == "http.go" ||
			rel == "config/config.go" || notYetSeparated[rel] != "" {
			return nil
		}
		checked++
		for _, p := range imports(t, path) {
			if p == echo || p == module+"/api" {
				t.Errorf("%s imports %s: keep HTTP handlers in the package's http.go and return faults (package fault) from logic", rel, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d files checked: is %s the module root?", checked, root)
	}
}
