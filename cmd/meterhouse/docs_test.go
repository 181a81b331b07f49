package main

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestLayoutListsEveryFolder checks that the layout tables of the README and of
// docs/architecture.md name every folder that holds tracked files (test data and CI
// aside), so that a new package is documented where a newcomer looks first.
func TestLayoutListsEveryFolder(t *testing.T) {
	root := testenv.RepoRoot()
	out, err := exec.Command("git", "-C", root, "ls-files").Output()
	if err != nil {
		t.Skipf("not a git checkout (git ls-files: %v)", err)
	}
	dirs := map[string]bool{}
	for _, f := range strings.Fields(string(out)) {
		d := filepath.Dir(f)
		if d == "." || strings.HasPrefix(d, ".") || slices.Contains(strings.Split(filepath.ToSlash(d), "/"), "testdata") {
			continue
		}
		dirs[filepath.ToSlash(d)] = true
	}
	for _, doc := range []struct{ file, heading string }{{"README.md", "## Layout"}, {"docs/architecture.md", "## Layout"}} {
		layout := section(t, filepath.Join(root, doc.file), doc.heading)
		for _, d := range slices.Sorted(maps.Keys(dirs)) {
			if !strings.Contains(layout, "`"+d+"`") {
				t.Errorf("%s: the layout does not list the folder %s", doc.file, d)
			}
		}
	}
}

// TestDocLinksStayInTheRepository checks that every relative link of the README and of
// docs/ names a file of the repository: a user's checkout has nothing outside it.
func TestDocLinksStayInTheRepository(t *testing.T) {
	root := testenv.RepoRoot()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, doc := range append(docs, filepath.Join(root, "README.md")) {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") {
				continue
			}
			abs := filepath.Clean(filepath.Join(filepath.Dir(doc), target))
			if rel, err := filepath.Rel(root, abs); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s links to %s, outside the repository", filepath.Base(doc), m[1])
				continue
			}
			if _, err := os.Stat(abs); err != nil {
				t.Errorf("%s links to %s, which does not exist", filepath.Base(doc), m[1])
			}
		}
	}
}

// section returns the text of a markdown file from heading to the next heading of the
// same level.
func section(t *testing.T, file, heading string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("%s has no %q section", file, heading)
	}
	s = s[i+len(heading)+2:]
	if j := strings.Index(s, "\n"+heading[:strings.Index(heading, " ")+1]); j >= 0 {
		s = s[:j]
	}
	return s
}
