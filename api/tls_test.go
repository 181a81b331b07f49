package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPair is a self-signed certificate for 127.0.0.1 and its key, in PEM.
type testPair struct {
	cert    *x509.Certificate
	certPEM []byte
	keyPEM  []byte
}

func newTestPair(t *testing.T, name string) testPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testPair{cert: cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})}
}

// writeFile replaces path's content atomically, as certificate tooling does.
func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestTLS serves HTTPS from a certificate and key file, picks up a replaced pair for new
// connections, and keeps the current certificate when a replacement is broken.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	a, b, c, d := newTestPair(t, "a"), newTestPair(t, "b"), newTestPair(t, "c"), newTestPair(t, "d")
	writeFile(t, certFile, a.certPEM)
	writeFile(t, keyFile, a.keyPEM)

	cfg := DefaultConfig()
	cfg.TLS.CertFile, cfg.TLS.KeyFile = certFile, keyFile
	cfg.TLS.ReloadInterval = 20 * time.Millisecond
	var logs syncBuffer
	srv, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	addr := ln.Addr().String()

	roots := x509.NewCertPool()
	for _, p := range []testPair{a, b, c, d} {
		roots.AddCert(p.cert)
	}
	// served returns the common name of the certificate a new, verified connection sees.
	served := func() string {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots})
		if err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	// await polls cond with a generous bound: the files are checked every 20ms.
	await := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 15s\n%s", what, logs.String())
			}
		}
	}

	// A request that verifies the server against certificate a alone.
	onlyA := x509.NewCertPool()
	onlyA.AddCert(a.cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: onlyA}, DisableKeepAlives: true}}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("GET /healthz over TLS: %d %s", resp.StatusCode, body)
	}
	// Plain HTTP gets no API.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP was served")
		}
	}

	writeFile(t, certFile, b.certPEM)
	writeFile(t, keyFile, b.keyPEM)
	await("the replaced pair b is served", func() bool { return served() == "b" })

	// Broken replacements: the current certificate stays, and each is logged.
	broken := func(what string, cert, key []byte, log string) {
		t.Helper()
		before := strings.Count(logs.String(), log)
		if cert != nil {
			writeFile(t, certFile, cert)
		}
		if key != nil {
			writeFile(t, keyFile, key)
		}
		await(what+" is logged", func() bool { return strings.Count(logs.String(), log) > before })
		if got := served(); got != "b" {
			t.Fatalf("after %s, new connections see %q, want b", what, got)
		}
	}
	broken("a certificate that is not PEM", []byte("not a certificate\n"), nil, "do not load")
	broken("a certificate of another key", c.certPEM, nil, "do not load")
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	await("a missing key is logged", func() bool { return strings.Contains(logs.String(), "cannot read") })
	if got := served(); got != "b" {
		t.Fatalf("with the key file missing, new connections see %q, want b", got)
	}

	// A good pair after broken ones is picked up.
	writeFile(t, certFile, d.certPEM)
	writeFile(t, keyFile, d.keyPEM)
	await("the pair d is served after the broken ones", func() bool { return served() == "d" })
}

// TestTLSMinVersion: a client that cannot speak api.tls.min_version is refused.
func TestTLSMinVersion(t *testing.T) {
	dir := t.TempDir()
	p := newTestPair(t, "a")
	cfg := DefaultConfig()
	cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.MinVersion = filepath.Join(dir, "c"), filepath.Join(dir, "k"), "1.3"
	writeFile(t, cfg.TLS.CertFile, p.certPEM)
	writeFile(t, cfg.TLS.KeyFile, p.keyPEM)
	srv, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Serve(ctx, ln) }()
	roots := x509.NewCertPool()
	roots.AddCert(p.cert)
	if conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12}); err == nil {
		conn.Close()
		t.Fatal("a TLS 1.2 client was served with min_version 1.3")
	}
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

func TestTLSConfigValidate(t *testing.T) {
	dir := t.TempDir()
	p, q := newTestPair(t, "p"), newTestPair(t, "q")
	cert, key, other := filepath.Join(dir, "c"), filepath.Join(dir, "k"), filepath.Join(dir, "q")
	writeFile(t, cert, p.certPEM)
	writeFile(t, key, p.keyPEM)
	writeFile(t, other, q.keyPEM)
	garbage := filepath.Join(dir, "g")
	writeFile(t, garbage, []byte("garbage"))
	for _, tc := range []struct {
		name string
		tls  TLSConfig
		key  string // the key the error starts with; "" for none
	}{
		{"none", TLSConfig{}, ""},
		{"pair", TLSConfig{CertFile: cert, KeyFile: key, MinVersion: "1.2", ReloadInterval: time.Second}, ""},
		{"1.3", TLSConfig{CertFile: cert, KeyFile: key, MinVersion: "1.3", ReloadInterval: time.Second}, ""},
		{"cert only", TLSConfig{CertFile: cert, ReloadInterval: time.Second}, "api.tls.key_file"},
		{"key only", TLSConfig{KeyFile: key, ReloadInterval: time.Second}, "api.tls.cert_file"},
		{"missing cert", TLSConfig{CertFile: filepath.Join(dir, "nope"), KeyFile: key, ReloadInterval: time.Second}, "api.tls.cert_file"},
		{"missing key", TLSConfig{CertFile: cert, KeyFile: filepath.Join(dir, "nope"), ReloadInterval: time.Second}, "api.tls.key_file"},
		{"garbage cert", TLSConfig{CertFile: garbage, KeyFile: key, ReloadInterval: time.Second}, "api.tls.cert_file, api.tls.key_file"},
		{"key of another certificate", TLSConfig{CertFile: cert, KeyFile: other, ReloadInterval: time.Second}, "api.tls.cert_file, api.tls.key_file"},
		{"old version", TLSConfig{MinVersion: "1.1"}, "api.tls.min_version"},
		{"no reload interval", TLSConfig{CertFile: cert, KeyFile: key}, "api.tls.reload_interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.TLS = tc.tls
			err := cfg.Validate()
			if tc.key == "" && err != nil || tc.key != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.key+":")) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tc.key)
			}
			if tc.key != "" {
				if _, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
					t.Fatal("New accepted the bad configuration")
				}
			}
			if tc.key == "api.tls.key_file" && errors.Is(err, os.ErrNotExist) && !strings.Contains(err.Error(), "nope") {
				t.Errorf("%v does not name the file", err)
			}
		})
	}
}
