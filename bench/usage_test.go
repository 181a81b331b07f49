package main

import (
	"errors"
	"testing"
	"time"
)

func TestParseVmHWM(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    int64
		wantErr bool
	}{
		{name: "status file", status: "Name:\tbench\nVmPeak:\t  900 kB\nVmHWM:\t   1764 kB\nVmRSS:\t 1700 kB\n", want: 1764 << 10},
		{name: "no line", status: "Name:\tbench\n", wantErr: true},
		{name: "other unit", status: "VmHWM:\t 2 MB\n", wantErr: true},
		{name: "not a number", status: "VmHWM:\t x kB\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmHWM([]byte(tt.status))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if _, err := parseVmHWM(nil); !errors.Is(err, errNoVmHWM) {
		t.Errorf("empty status: %v, want errNoVmHWM", err)
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{
			name: "clickhouse",
			stat: "14838 (clickhouse-serv) S 1 14838 14838 0 -1 4194304 846956 0 21 0 2027 665 0 0 20 0 32 0 64814 2134433792 28174",
			want: (2027 + 665) * 10 * time.Millisecond,
		},
		{
			name: "command with spaces and parentheses",
			stat: "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 150 50 0 0 20 0 1 0 1 1 1",
			want: 2 * time.Second,
		},
		{name: "truncated", stat: "7 (x) R 1 2 3", wantErr: true},
		{name: "no command", stat: "7 x R", wantErr: true},
		{name: "garbage ticks", stat: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 a 50 0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCPUSince(t *testing.T) {
	before := map[string]time.Duration{"clickhouse": time.Second, "kafka": 2 * time.Second}
	after := map[string]time.Duration{"clickhouse": 4 * time.Second, "other": time.Second}
	got := cpuSince(before, after)
	if len(got) != 1 || got["clickhouse"] != 3*time.Second {
		t.Errorf("cpuSince = %v, want only clickhouse 3s", got)
	}
}

func TestSelfUsage(t *testing.T) {
	if _, err := selfCPU(); err != nil {
		t.Fatal(err)
	}
	if err := resetPeakRSS(); err != nil {
		t.Skipf("this kernel cannot reset the peak: %v", err)
	}
	peak, err := peakRSS()
	if err != nil || peak <= 0 {
		t.Errorf("peakRSS = %d, %v", peak, err)
	}
}
