package broker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meterhouse/meterhouse/credentials"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := func(c *Config) { c.SASL.PasswordFile = pwFile }
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		want  string // "" = valid; else a part of the error
		build bool   // the error comes from building a client (a file is read), not Validate
	}{
		{"default with a password file", ok, "", false},
		{"password from the environment", func(c *Config) { c.SASL.Password = "x" }, "", false},
		{"no SASL at all", func(c *Config) { c.SASL = SASL{} }, "", false},
		{"SCRAM-SHA-256", func(c *Config) { ok(c); c.SASL.Mechanism = ScramSHA256 }, "", false},
		{"PLAIN", func(c *Config) { ok(c); c.SASL.Mechanism = Plain }, "", false},
		{"TLS with system roots", func(c *Config) { ok(c); c.TLS.Enabled = true; c.TLS.ServerName = "kafka" }, "", false},
		{"default without password", func(*Config) {}, "kafka.sasl.password_file: needed for SCRAM-SHA-512", true},
		{"no brokers", func(c *Config) { ok(c); c.Brokers = nil }, "kafka.brokers: at least one", false},
		{"broker without port", func(c *Config) { ok(c); c.Brokers = []string{"a:1", "kafka"} }, "kafka.brokers[1]", false},
		{"zero timeout", func(c *Config) { ok(c); c.Timeout = 0 }, "kafka.timeout", false},
		{"unknown mechanism", func(c *Config) { ok(c); c.SASL.Mechanism = "GSSAPI" }, `kafka.sasl.mechanism: "GSSAPI"`, false},
		{"lower-case mechanism", func(c *Config) { ok(c); c.SASL.Mechanism = "scram-sha-512" }, "kafka.sasl.mechanism", false},
		{"username without mechanism", func(c *Config) { c.SASL = SASL{Username: "u"} }, "kafka.sasl.mechanism: must be set", false},
		{"no username", func(c *Config) { ok(c); c.SASL.Username = "" }, "kafka.sasl.username", false},
		{"password and file", func(c *Config) { ok(c); c.SASL.Password = "x" }, "kafka.sasl.password, kafka.sasl.password_file: set one", false},
		{"missing password file", func(c *Config) { c.SASL.PasswordFile = filepath.Join(dir, "nope") }, "kafka.sasl.password_file: open", true},
		{"empty password file", func(c *Config) { c.SASL.PasswordFile = empty }, "kafka.sasl.password_file: " + empty + " is empty", true},
		{"TLS keys without enabled", func(c *Config) { ok(c); c.TLS.CAFile = notPEM }, "kafka.tls.enabled", false},
		{"CA file without PEM", func(c *Config) { ok(c); c.TLS = credentials.TLS{Enabled: true, CAFile: notPEM} }, "kafka.tls.ca_file: " + notPEM + " holds no PEM", true},
		{"missing CA file", func(c *Config) { ok(c); c.TLS = credentials.TLS{Enabled: true, CAFile: filepath.Join(dir, "nope")} }, "kafka.tls.ca_file: open", true},
		{"cert without key", func(c *Config) { ok(c); c.TLS = credentials.TLS{Enabled: true, CertFile: notPEM} }, "kafka.tls.cert_file, kafka.tls.key_file: set both", false},
		{"bad key pair", func(c *Config) { ok(c); c.TLS = credentials.TLS{Enabled: true, CertFile: notPEM, KeyFile: notPEM} }, "kafka.tls.cert_file, kafka.tls.key_file: tls:", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			if tc.build && err != nil {
				t.Fatalf("Validate: %v, want it to pass (the files are read later)", err)
			}
			if err == nil {
				_, err = c.Dialer()
			}
			if err == nil {
				_, err = c.Transport()
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestClientsCarryTheSettings checks that the dialer and the transport get the SASL
// mechanism and the TLS settings, and that the password comes from the file without its
// newline.
func TestClientsCarryTheSettings(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.SASL.PasswordFile = pwFile
	c.TLS = credentials.TLS{Enabled: true, ServerName: "kafka.example"}
	d, err := c.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	if d.SASLMechanism == nil || d.SASLMechanism.Name() != ScramSHA512 || d.TLS == nil || d.TLS.ServerName != "kafka.example" {
		t.Fatalf("dialer: SASL %v, TLS %v", d.SASLMechanism, d.TLS)
	}
	tr, err := c.Transport()
	if err != nil {
		t.Fatal(err)
	}
	if tr.SASL == nil || tr.SASL.Name() != ScramSHA512 || tr.TLS == nil {
		t.Fatalf("transport: SASL %v, TLS %v", tr.SASL, tr.TLS)
	}
	if pw, err := c.SASL.password(); err != nil || pw != "s3cret" {
		t.Fatalf("password = %q, %v", pw, err)
	}
	c.SASL = SASL{}
	c.TLS = credentials.TLS{}
	if d, err := c.Dialer(); err != nil || d.SASLMechanism != nil || d.TLS != nil {
		t.Fatalf("no SASL, no TLS: dialer %+v, %v", d, err)
	}
}
