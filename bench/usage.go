package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// rusageCPU returns the user plus system CPU time of ru.
func rusageCPU(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano()) + time.Duration(ru.Stime.Nano())
}

// selfCPU returns the CPU time this process has used so far, all threads included.
func selfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return rusageCPU(&ru), nil
}

// resetPeakRSS restarts the kernel's peak resident memory count of this process (VmHWM)
// from its current resident memory, so that a later peakRSS covers only what follows.
// Linux only; it fails where /proc/self/clear_refs cannot be written.
func resetPeakRSS() error {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("reset peak memory: %w", err)
	}
	return nil
}

// peakRSS returns this process's peak resident memory in bytes since it started or since
// the last resetPeakRSS.
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("peak memory: %w", err)
	}
	return parseVmHWM(b)
}

// errNoVmHWM means a /proc status file has no VmHWM line.
var errNoVmHWM = errors.New("no VmHWM line in /proc status")

// parseVmHWM reads the "VmHWM:  1234 kB" line of a /proc/PID/status file and returns the
// peak resident memory it states, in bytes.
func parseVmHWM(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("VmHWM: unexpected %q", strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmHWM: %w", err)
		}
		return kb << 10, nil
	}
	return 0, errNoVmHWM
}

// clockTicks is the kernel's USER_HZ, the unit of CPU times in /proc/PID/stat; it is 100
// on every Linux architecture Go supports.
const clockTicks = 100

// parseStatCPU returns the user plus system CPU time stated by a /proc/PID/stat file.
// The command name, field 2, is in parentheses and may contain spaces, so fields are
// counted from the last closing parenthesis: utime and stime are fields 14 and 15.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no command name")
	}
	fields := strings.Fields(string(stat[i+1:]))
	// fields[0] is field 3 (state), so field k is fields[k-3].
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least 13", len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: %w", err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// service is a local service process whose CPU time the bench reports, because it shares
// the machine with the measured process.
type service struct {
	// name is how the report names it.
	name string
	// pidFile holds its process id.
	pidFile string
}

// processCPU returns the CPU time used so far by the process whose id is in pidFile.
func processCPU(pidFile string) (time.Duration, error) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", pidFile, err)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(stat)
}

// servicesCPU returns the CPU time used so far by each service whose pid file exists.
// Services that cannot be read are left out.
func servicesCPU(services []service) map[string]time.Duration {
	out := make(map[string]time.Duration, len(services))
	for _, s := range services {
		if d, err := processCPU(s.pidFile); err == nil {
			out[s.name] = d
		}
	}
	return out
}

// cpuSince returns, for every service in both samples, the CPU time used between them.
func cpuSince(before, after map[string]time.Duration) map[string]time.Duration {
	out := make(map[string]time.Duration, len(after))
	for name, a := range after {
		if b, ok := before[name]; ok {
			out[name] = a - b
		}
	}
	return out
}

// startCPUProfile starts a CPU profile written to path (nothing when path is empty); the
// returned stop ends it and closes the file, and is safe to call more than once.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}, nil
}

// startPeakHeapProfile samples the live heap every interval and keeps a heap profile
// taken when it was largest; the returned stop ends the sampling and writes that profile
// to path (nothing when path is empty). A heap profile shows the objects live at the
// garbage collection before it was taken, so the one kept describes the largest heap
// this sampling saw, within one interval of its peak.
func startPeakHeapProfile(path string, interval time.Duration) (stop func() error) {
	if path == "" {
		return func() error { return nil }
	}
	done, finished := make(chan struct{}), make(chan struct{})
	var best bytes.Buffer
	var peak uint64
	var failed error
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc <= peak {
				continue
			}
			peak = ms.HeapAlloc
			best.Reset()
			if err := pprof.Lookup("heap").WriteTo(&best, 0); err != nil {
				failed = err
				return
			}
		}
	}()
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			close(done)
			<-finished
			if err = failed; err == nil {
				err = os.WriteFile(path, best.Bytes(), 0o644)
			}
			if err != nil {
				err = fmt.Errorf("--memprofile: %w", err)
			}
		})
		return err
	}
}

// memoryLimitMiB returns the Go runtime's soft memory limit (GOMEMLIMIT) in MiB, or 0
// when none is set.
func memoryLimitMiB() int64 {
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		return l >> 20
	}
	return 0
}
