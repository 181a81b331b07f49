package schema

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/credentials"
)

// writePEMPair writes a self-signed certificate and its key and returns their paths.
func writePEMPair(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "clickhouse.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		DNSNames: []string{"clickhouse.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, keyFile
}

func TestConfigPasswordAndTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePEMPair(t, dir)
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // "" for valid
	}{
		{"default", func(*Config) {}, ""},
		{"password file", func(c *Config) { c.PasswordFile = pwFile }, ""},
		{"both passwords", func(c *Config) { c.Password, c.PasswordFile = "x", pwFile }, "clickhouse.password, clickhouse.password_file"},
		{"missing password file", func(c *Config) { c.PasswordFile = filepath.Join(dir, "nope") }, "clickhouse.password_file"},
		{"empty password file", func(c *Config) { c.PasswordFile = empty }, "clickhouse.password_file"},
		{"tls", func(c *Config) {
			c.TLS = credentials.TLS{Enabled: true, CAFile: cert, CertFile: cert, KeyFile: key, ServerName: "clickhouse.test"}
		}, ""},
		{"tls system roots", func(c *Config) { c.TLS = credentials.TLS{Enabled: true} }, ""},
		{"tls off with a CA", func(c *Config) { c.TLS = credentials.TLS{CAFile: cert} }, "clickhouse.tls.ca_file"},
		{"tls off, skip verify", func(c *Config) { c.TLS = credentials.TLS{InsecureSkipVerify: true} }, "clickhouse.tls.insecure_skip_verify"},
		{"cert without key", func(c *Config) { c.TLS = credentials.TLS{Enabled: true, CertFile: cert} }, "clickhouse.tls.cert_file, clickhouse.tls.key_file"},
		{"missing CA", func(c *Config) { c.TLS = credentials.TLS{Enabled: true, CAFile: filepath.Join(dir, "nope")} }, "clickhouse.tls.ca_file"},
		{"CA not PEM", func(c *Config) { c.TLS = credentials.TLS{Enabled: true, CAFile: notPEM} }, "clickhouse.tls.ca_file"},
		{"key not matching", func(c *Config) { c.TLS = credentials.TLS{Enabled: true, CertFile: cert, KeyFile: notPEM} }, "clickhouse.tls.cert_file"},
		{"database too long for its private companion", func(c *Config) { c.Database = strings.Repeat("d", 121) }, "clickhouse.database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate: %v, want an error naming %s", err, tc.want)
			}
		})
	}

	c := DefaultConfig()
	c.PasswordFile = pwFile
	if pw, err := c.ReadPassword(); err != nil || pw != "s3cret" {
		t.Errorf("password from file = %q, %v; want s3cret without the newline", pw, err)
	}
	c.TLS = credentials.TLS{Enabled: true, CAFile: cert, CertFile: cert, KeyFile: key, ServerName: "clickhouse.test"}
	tc, err := c.TLS.Config("clickhouse.tls")
	if err != nil || tc == nil || tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.ServerName != "clickhouse.test" || tc.InsecureSkipVerify {
		t.Fatalf("tls config %+v, %v", tc, err)
	}
	if off, err := (credentials.TLS{}).Config("clickhouse.tls"); off != nil || err != nil {
		t.Fatalf("TLS off gives %v, %v; want nil", off, err)
	}
	if got := c.PrivateDatabase(); got != "meterhouse_private" {
		t.Errorf("PrivateDatabase() = %q", got)
	}
	if DefaultConfig().Username != "meterhouse" {
		t.Errorf("default user %q, want meterhouse", DefaultConfig().Username)
	}
}
