package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer that the server's goroutines and the test may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAccessLogClientAddress: the access log names the TCP peer unless the peer is a
// configured proxy; only then are X-Forwarded-For and X-Real-IP believed. The test's
// requests come from loopback, so a forged header shows who is believed.
func TestAccessLogClientAddress(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proxies []string
		header  string
		value   string
		want    string
	}{
		{"no proxy, forged X-Forwarded-For", nil, "X-Forwarded-For", "203.0.113.7", "127.0.0.1"},
		{"no proxy, forged X-Real-IP", nil, "X-Real-IP", "203.0.113.7", "127.0.0.1"},
		{"loopback trusted", []string{"127.0.0.1"}, "X-Forwarded-For", "203.0.113.7", "203.0.113.7"},
		{"loopback trusted, X-Real-IP", []string{"127.0.0.1"}, "X-Real-IP", "203.0.113.7", "203.0.113.7"},
		{"forged first entry behind a trusted proxy", []string{"127.0.0.0/8"}, "X-Forwarded-For", "198.51.100.1, 203.0.113.7", "203.0.113.7"},
		{"two trusted hops", []string{"127.0.0.1", "203.0.113.0/24"}, "X-Forwarded-For", "198.51.100.1, 203.0.113.7", "198.51.100.1"},
		{"another proxy trusted, not loopback", []string{"10.0.0.0/8"}, "X-Forwarded-For", "203.0.113.7", "127.0.0.1"},
		{"IPv6 loopback trusted, peer is IPv4", []string{"::1"}, "X-Forwarded-For", "203.0.113.7", "127.0.0.1"},
		{"garbage header", []string{"127.0.0.1"}, "X-Forwarded-For", "not-an-ip", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.TrustedProxies = tc.proxies
			var logs syncBuffer
			srv, err := New(cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			hs := httptest.NewServer(srv.Echo())
			defer hs.Close()
			req, _ := http.NewRequest(http.MethodGet, hs.URL+"/healthz", nil)
			req.Header.Set(tc.header, tc.value)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var got []string
			for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
				var rec struct{ Msg, Remote string }
				if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "request" {
					got = append(got, rec.Remote)
				}
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Fatalf("access log remote = %q, want %q\n%s", got, tc.want, logs.String())
			}
		})
	}
}

func TestParseProxies(t *testing.T) {
	nets, err := parseProxies([]string{"10.0.0.0/8", "192.0.2.1", "2001:db8::1", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"10.0.0.0/8", "192.0.2.1/32", "2001:db8::1/128", "fd00::/8"} {
		if nets[i].String() != want {
			t.Errorf("entry %d = %s, want %s", i, nets[i], want)
		}
	}
	for _, bad := range []string{"", "localhost", "10.0.0.0/33", "192.0.2.1:80", " 10.0.0.1"} {
		if _, err := parseProxies([]string{"10.0.0.1", bad}); err == nil || !strings.HasPrefix(err.Error(), "api.trusted_proxies: entry 2") {
			t.Errorf("parseProxies(%q) = %v, want an error naming api.trusted_proxies and the entry", bad, err)
		}
	}
}
