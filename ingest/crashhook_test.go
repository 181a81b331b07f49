package ingest

import (
	"strings"
	"testing"
	"time"
)

func TestCrashHookFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    *crashHook // nil: inert
		wantErr string
	}{
		{name: "unset", env: nil},
		{name: "batch without point", env: map[string]string{envCrashBatch: "3"}},
		{name: "before insert, default batch", env: map[string]string{envCrashAt: "before_insert"},
			want: &crashHook{point: crashBeforeInsert, flush: 1}},
		{name: "during insert, batch 4", env: map[string]string{envCrashAt: "during_insert", envCrashBatch: "4"},
			want: &crashHook{point: crashDuringInsert, flush: 4}},
		{name: "after insert", env: map[string]string{envCrashAt: "after_insert", envCrashBatch: "2"},
			want: &crashHook{point: crashAfterInsert, flush: 2}},
		{name: "unknown point", env: map[string]string{envCrashAt: "later"}, wantErr: "MH_TEST_CRASH_AT"},
		{name: "zero batch", env: map[string]string{envCrashAt: "after_insert", envCrashBatch: "0"}, wantErr: "MH_TEST_CRASH_BATCH"},
		{name: "bad batch", env: map[string]string{envCrashAt: "after_insert", envCrashBatch: "x"}, wantErr: "MH_TEST_CRASH_BATCH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := crashHookFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (h == nil) != (tt.want == nil) || (h != nil && (h.point != tt.want.point || h.flush != tt.want.flush)) {
				t.Fatalf("hook %+v, want %+v", h, tt.want)
			}
		})
	}
}

// TestCrashHookArmed checks that only the armed point of the armed flush fires, and that a
// nil hook never does.
func TestCrashHookArmed(t *testing.T) {
	var inert *crashHook
	if n := inert.begin(); n != 0 || inert.armed(n, crashBeforeInsert) {
		t.Fatal("a nil hook fired")
	}
	h := &crashHook{point: crashAfterInsert, flush: 2}
	var fired []int64
	for range 3 {
		n := h.begin()
		for _, p := range []string{crashBeforeInsert, crashDuringInsert, crashAfterInsert} {
			if h.armed(n, p) {
				fired = append(fired, n)
				if p != crashAfterInsert {
					t.Fatalf("flush %d fired at %s", n, p)
				}
			}
		}
	}
	if len(fired) != 1 || fired[0] != 2 {
		t.Fatalf("fired at flushes %v, want [2]", fired)
	}
}

func TestConfigValidateReplayKeys(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"session timeout too short", func(c *Config) { c.SessionTimeout = 500 * time.Millisecond }, "ingest.session_timeout"},
		{"fetch buffer too small", func(c *Config) { c.FetchBufferBytes = 1000 }, "ingest.fetch_buffer_bytes"},
		{"lag interval zero", func(c *Config) { c.LagInterval = 0 }, "ingest.lag_interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.modify(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: %v, want an error naming %s", err, tt.want)
			}
		})
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}
