package main

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
)

// writeNativeFiles writes the first n readings of f to parts new Native files in dir, in
// blocks of blockRows, each meter's readings to one file, and returns their paths. The
// caller removes the files, also after an error.
func writeNativeFiles(dir, pattern string, f *sim.Fleet, n int64, blockRows, parts int, bar *sim.Progress) (paths []string, err error) {
	writers := make([]*nativeWriter, parts)
	for i := range writers {
		file, err := os.CreateTemp(dir, pattern)
		if err != nil {
			return paths, fmt.Errorf("ceiling file: %w", err)
		}
		paths = append(paths, file.Name())
		defer func() {
			if cerr := file.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("ceiling file: %w", cerr)
			}
		}()
		writers[i] = newNativeWriter(file, blockRows)
	}
	var r schema.Reading
	for done := int64(0); done < n; done++ {
		if !f.Next(&r) {
			return paths, fmt.Errorf("the fleet ran out after %d of %d readings", done, n)
		}
		if err := writers[filePart(r.MeterID, parts)].Write(r); err != nil {
			return paths, err
		}
		if done%65536 == 0 {
			bar.Set(done)
		}
	}
	bar.Set(n)
	for _, w := range writers {
		if err := w.Close(); err != nil {
			return paths, err
		}
	}
	return paths, nil
}

// filePart returns which of parts files the readings of meter id go to.
func filePart(id string, parts int) int {
	h := fnv.New32a()
	h.Write([]byte(id)) //nolint:errcheck // a hash never fails
	return int(h.Sum32() % uint32(parts))
}

// clickHouseFromEnv returns the default ClickHouse settings overridden by the environment:
// MH_CLICKHOUSE_ADDR, MH_CLICKHOUSE_USERNAME, MH_CLICKHOUSE_PASSWORD or
// MH_CLICKHOUSE_PASSWORD_FILE; without a password the local services' password file
// (secrets/clickhouse-meterhouse.password under defaultServicesDir) is used.
func clickHouseFromEnv() schema.Config {
	cfg := schema.DefaultConfig()
	if a := os.Getenv("MH_CLICKHOUSE_ADDR"); a != "" {
		cfg.Addr = a
	}
	if u := os.Getenv("MH_CLICKHOUSE_USERNAME"); u != "" {
		cfg.Username = u
	}
	cfg.Password = os.Getenv("MH_CLICKHOUSE_PASSWORD")
	cfg.PasswordFile = os.Getenv("MH_CLICKHOUSE_PASSWORD_FILE")
	if cfg.Password == "" && cfg.PasswordFile == "" {
		cfg.PasswordFile = filepath.Join(defaultServicesDir(), "secrets", "clickhouse-meterhouse.password")
	}
	return cfg
}

// defaultServicesDir returns where the local services of deploy/local keep their pid
// files and secrets: MH_SERVICES_HOME, or the .services folder of the checkout bench runs
// in (the nearest folder above the working directory that holds go.mod), or .services.
func defaultServicesDir() string {
	if d := os.Getenv("MH_SERVICES_HOME"); d != "" {
		return d
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				return filepath.Join(d, ".services")
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return ".services"
}

// clientArgs returns the clickhouse-client arguments that insert a Native file from stdin
// into database.readings of the server of cfg. The password, when there is one, goes into
// a client configuration file (mode 0600) in dir, never into the command line.
func clientArgs(cfg schema.Config, database, dir string) ([]string, error) {
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("clickhouse.addr: %w", err)
	}
	args := []string{"--host", host, "--port", port, "--user", cfg.Username, "--query", ceilingQuery(database)}
	password, err := cfg.ReadPassword()
	if err != nil {
		return nil, err
	}
	if password != "" {
		var x strings.Builder
		_ = xml.EscapeText(&x, []byte(password))
		f := filepath.Join(dir, "clickhouse-client.xml")
		if err := os.WriteFile(f, []byte("<config><password>"+x.String()+"</password></config>\n"), 0o600); err != nil {
			return nil, err
		}
		args = append([]string{"--config-file", f}, args...)
	}
	return args, nil
}

// ceilingQuery is the INSERT clickhouse-client runs for the ceiling.
func ceilingQuery(database string) string {
	return fmt.Sprintf("INSERT INTO %s.readings (%s) FORMAT Native", database, nativeColumns)
}

// runClients runs one clickhouse-client at client with args per file of paths, all at
// once, each reading its file on stdin, and measures them together: wall time from the
// start to the last exit, the clients' CPU time summed and the largest client's peak
// memory (the server's work shows only in the wall time).
func runClients(ctx context.Context, client string, args []string, paths []string) (measurement, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmds := make([]*exec.Cmd, len(paths))
	stderrs := make([]strings.Builder, len(paths))
	for i, path := range paths {
		in, err := os.Open(path)
		if err != nil {
			return measurement{}, fmt.Errorf("ceiling: %w", err)
		}
		defer in.Close()
		cmds[i] = exec.CommandContext(ctx, client, args...)
		cmds[i].Stdin, cmds[i].Stdout, cmds[i].Stderr = in, io.Discard, &stderrs[i]
	}
	start := time.Now()
	for i, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			cancel()
			for _, started := range cmds[:i] {
				started.Wait() //nolint:errcheck // already failing
			}
			return measurement{}, fmt.Errorf("ceiling: %s: %w", client, err)
		}
	}
	var errs []error
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			cancel() // one failed insert fails the ceiling; stop the others
			errs = append(errs, fmt.Errorf("ceiling: %s: %w: %s", client, err, strings.TrimSpace(stderrs[i].String())))
		}
	}
	m := measurement{Elapsed: time.Since(start)}
	if len(errs) > 0 {
		return m, errors.Join(errs...)
	}
	for _, cmd := range cmds {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			m.CPU += rusageCPU(ru)
			m.PeakRSS = max(m.PeakRSS, ru.Maxrss<<10) // kB on Linux
		}
	}
	return m, nil
}
