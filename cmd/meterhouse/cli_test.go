package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
)

// cliEnv is a fresh database that the binary's commands reach through the environment, a
// way to run them as a user would, and a folder for the files they read.
type cliEnv struct {
	t    *testing.T
	cfg  schema.Config
	conn driver.Conn
	dir  string
}

// newCLIEnv creates the database and points MH_CLICKHOUSE_* at it for the test.
func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	chCfg, conn := testenv.ClickHouse(t)
	for _, kv := range testenv.ClickHouseEnv(chCfg) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return &cliEnv{t: t, cfg: chCfg, conn: conn, dir: t.TempDir()}
}

// mh runs meterhouse with args and returns its standard output.
func (e *cliEnv) mh(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String(), err
}

// file writes body to a file of the test's folder and returns its path.
func (e *cliEnv) file(name, body string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}
