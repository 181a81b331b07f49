package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
)

// writeNativeFile writes the first n readings of f to a new Native file in dir, in blocks
// of blockRows, and returns its path. The caller removes the file.
func writeNativeFile(dir, pattern string, f *sim.Fleet, n int64, blockRows int, bar *sim.Progress) (path string, err error) {
	file, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", fmt.Errorf("ceiling file: %w", err)
	}
	defer func() {
		if cerr := file.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("ceiling file: %w", cerr)
		}
		if err != nil {
			os.Remove(file.Name())
		}
	}()
	nw := newNativeWriter(file, blockRows)
	var r schema.Reading
	for nw.Rows() < n {
		if !f.Next(&r) {
			return file.Name(), fmt.Errorf("the fleet ran out after %d of %d readings", nw.Rows(), n)
		}
		if err := nw.Write(r); err != nil {
			return file.Name(), err
		}
		if nw.Rows()%65536 == 0 {
			bar.Set(nw.Rows())
		}
	}
	bar.Set(nw.Rows())
	return file.Name(), nw.Close()
}

// clientArgs returns the clickhouse-client arguments that insert a Native file from stdin
// into database.readings of the server of cfg.
func clientArgs(cfg schema.Config, database string) ([]string, error) {
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("clickhouse.addr: %w", err)
	}
	args := []string{"--host", host, "--port", port, "--user", cfg.Username, "--query", ceilingQuery(database)}
	if cfg.Password != "" {
		args = append(args, "--password", cfg.Password)
	}
	return args, nil
}

// ceilingQuery is the INSERT clickhouse-client runs for the ceiling.
func ceilingQuery(database string) string {
	return fmt.Sprintf("INSERT INTO %s.readings (%s) FORMAT Native", database, nativeColumns)
}

// runClient runs clickhouse-client at client with args, stdin read from path, and
// measures it: wall time from start to exit, and the client's own CPU time and peak memory
// (the server's work shows only in the wall time).
func runClient(ctx context.Context, client string, args []string, path string) (measurement, error) {
	in, err := os.Open(path)
	if err != nil {
		return measurement{}, fmt.Errorf("ceiling: %w", err)
	}
	defer in.Close()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, client, args...)
	cmd.Stdin = in
	cmd.Stdout = io.Discard
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return measurement{}, fmt.Errorf("ceiling: %s: %w: %s", client, err, strings.TrimSpace(stderr.String()))
		}
		return measurement{}, fmt.Errorf("ceiling: %s: %w", client, err)
	}
	m := measurement{Elapsed: elapsed}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.CPU = rusageCPU(ru)
		m.PeakRSS = ru.Maxrss << 10 // kB on Linux
	}
	return m, nil
}
