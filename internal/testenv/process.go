package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RepoRoot returns the root of the Meterhouse repository the tests are built from.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binary builds the meterhouse command into a directory of the test and returns its path.
// Builds after the first are quick: the go command caches the result.
func Binary(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "meterhouse")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", path, "./cmd/meterhouse")
	cmd.Dir = RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/meterhouse: %v\n%s", err, out)
	}
	return path
}

// Process is a meterhouse subprocess whose output goes to the test's log.
type Process struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the result of Wait, set before done is closed

	mu  sync.Mutex
	out bytes.Buffer
}

// StartProcess runs bin with args and, on top of the test process's environment, the
// KEY=value pairs of env. A process still running when the test ends is killed.
func StartProcess(t testing.TB, name, bin string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{t: t, name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = p
	p.cmd.Stderr = p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Write implements io.Writer for the process's output: each line goes to the test log.
func (p *Process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out.Write(b)
	for {
		line, err := p.out.ReadString('\n')
		if err != nil { // an incomplete line: keep it for the next write
			rest := []byte(line)
			p.out.Reset()
			p.out.Write(rest)
			break
		}
		p.t.Logf("%s: %s", p.name, strings.TrimRight(line, "\n"))
	}
	return len(b), nil
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Wait waits at most timeout for the process to exit and returns how it ended: the
// signal that killed it (0 if none), its exit code (-1 if killed) and an error if it is
// still running.
func (p *Process) Wait(timeout time.Duration) (syscall.Signal, int, error) {
	select {
	case <-p.done:
	case <-time.After(timeout):
		return 0, 0, fmt.Errorf("%s (pid %d) still running after %s", p.name, p.Pid(), timeout)
	}
	st := p.cmd.ProcessState
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal(), -1, nil
	}
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		return 0, -1, p.err
	}
	return 0, st.ExitCode(), nil
}

// Stop sends SIGTERM and waits at most timeout for a clean exit (code 0).
func (p *Process) Stop(timeout time.Duration) error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	sig, code, err := p.Wait(timeout)
	switch {
	case err != nil:
		return err
	case sig != 0:
		return fmt.Errorf("%s killed by %v", p.name, sig)
	case code != 0:
		return fmt.Errorf("%s exited with code %d", p.name, code)
	}
	return nil
}

// Services runs `deploy/local/services.sh` with args, for the disruptive tests that
// restart a service; the MH_* variables of the test's environment (MH_SERVICES_HOME and
// the port overrides) select the instance.
func Services(t testing.TB, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(RepoRoot(), "deploy", "local", "services.sh")}, args...)...)
	out, err := cmd.CombinedOutput()
	t.Logf("services.sh %s:\n%s", strings.Join(args, " "), out)
	if err != nil {
		t.Fatalf("services.sh %s: %v", strings.Join(args, " "), err)
	}
}

// Disruptive skips the test unless MH_TEST_DISRUPTIVE=1: it restarts a shared service
// and would break every other test running against it. Run such tests alone, against a
// private instance of the services (see deploy/local/services.sh).
func Disruptive(t testing.TB) {
	t.Helper()
	Integration(t)
	if os.Getenv("MH_TEST_DISRUPTIVE") != "1" {
		t.Skip("disruptive test (restarts a service): set MH_TEST_DISRUPTIVE=1 and run it alone")
	}
}
