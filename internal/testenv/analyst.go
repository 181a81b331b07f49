package testenv

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/schema"
)

// AnalystClickHouse returns the connection settings of a ClickHouse user made for this
// test: profile analyst_readonly (readonly=1 and the analyst limits, as
// deploy/local/services.sh defines it), allowed the database cfg.Database only, from
// loopback only, like the services' analyst user is allowed the platform database. The
// user is declared in a file of the server's users.d folder
// (ServicesDir()/clickhouse/users.d/mh_test_<suffix>.xml), which the server reloads
// within seconds; AnalystClickHouse waits until the user can log in, and removes the file
// when the test ends.
func AnalystClickHouse(t testing.TB, cfg schema.Config) schema.Config {
	t.Helper()
	return AnalystClickHouseWith(t, cfg, nil)
}

// settingName is the shape of a ClickHouse setting's name.
var settingName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// AnalystClickHouseWith is AnalystClickHouse with a profile of the test's own that
// inherits analyst_readonly and overrides settings (name → value), for example
// {"max_result_rows": "10"} to check that a profile's limit holds.
func AnalystClickHouseWith(t testing.TB, cfg schema.Config, settings map[string]string) schema.Config {
	t.Helper()
	Integration(t)
	suffix := Suffix()
	user := "analyst_" + suffix
	password := Suffix() + Suffix() + Suffix()
	profile := "analyst_readonly"
	var b strings.Builder
	esc := func(s string) string {
		var e strings.Builder
		_ = xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	b.WriteString("<?xml version=\"1.0\"?>\n<!-- written by internal/testenv for one test; removed when it ends -->\n<yandex>\n")
	if len(settings) > 0 {
		profile = "analyst_readonly_" + suffix
		names := make([]string, 0, len(settings))
		for n := range settings {
			if !settingName.MatchString(n) {
				t.Fatalf("testenv.AnalystClickHouseWith: %q is not a setting name", n)
			}
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(&b, "  <profiles><%s>\n    <profile>analyst_readonly</profile>\n", profile)
		for _, n := range names {
			fmt.Fprintf(&b, "    <%s>%s</%s>\n", n, esc(settings[n]), n)
		}
		fmt.Fprintf(&b, "  </%s></profiles>\n", profile)
	}
	fmt.Fprintf(&b, `  <users><%s>
    <password>%s</password>
    <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
    <profile>%s</profile>
    <quota>default</quota>
    <allow_databases><database>%s</database></allow_databases>
  </%s></users>
</yandex>
`, user, password, profile, esc(cfg.Database), user)

	dir := filepath.Join(ServicesDir(), "clickhouse", "users.d")
	file := filepath.Join(dir, "mh_test_"+suffix+".xml")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testenv: users.d of the local ClickHouse: %v", err)
	}
	if err := os.WriteFile(file+".tmp", []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".tmp", file); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(file) })

	a := cfg
	a.Username, a.Password, a.PasswordFile = user, password, ""
	// ClickHouse checks its users files for changes every few seconds (2 s on 18.16).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		conn, err := schema.Connect(ctx, a)
		if err == nil {
			conn.Close()
			return a
		}
		select {
		case <-ctx.Done():
			t.Fatalf("testenv: user %s of %s cannot log in 30 s after it was written (is %s the users.d of the server at %s? set MH_SERVICES_HOME): %v",
				user, file, dir, cfg.Addr, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
