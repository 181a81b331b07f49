// Package credentials reads what Meterhouse's clients authenticate with: secrets kept in
// files (a password, the API tokens' HMAC key) and the TLS settings of a connection to
// ClickHouse or Kafka. Configuration sections embed its TLS type and read their *_file
// secrets with ReadFile; every error names the key at fault under the prefix the caller
// gives (clickhouse.tls, kafka.tls, …). It is a leaf package: it imports no other part of
// Meterhouse.
package credentials

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ReadFile returns the secret in the file at path: its first line without the line end.
// An empty secret is an error. The secret is never part of an error.
func ReadFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s, _, _ := strings.Cut(string(b), "\n")
	s = strings.TrimSuffix(s, "\r")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// TLS configures TLS towards a server. The zero value is plain text. Config is safe to
// call concurrently; it reads the files on each call, so a renewed CA or client
// certificate is used by the next connection pool built from it.
type TLS struct {
	// Enabled turns TLS on; the other fields are refused without it, so that a
	// half-written TLS section cannot silently fall back to plain text.
	Enabled bool `yaml:"enabled"`
	// CAFile names a PEM file of the certificate authorities that sign the server's
	// certificate; empty trusts the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile name the PEM client certificate and its key, for servers that
	// authenticate clients by certificate; both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name the server's certificate must carry; empty means the host of
	// the address dialled.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any server certificate. It encrypts but does not
	// authenticate the server: for tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Check reports the first setting that cannot work, without reading the files; prefix is
// the section's key, such as "kafka.tls".
func (t TLS) Check(prefix string) error {
	if !t.Enabled {
		for _, f := range []struct {
			key string
			set bool
		}{
			{"ca_file", t.CAFile != ""}, {"cert_file", t.CertFile != ""}, {"key_file", t.KeyFile != ""},
			{"server_name", t.ServerName != ""}, {"insecure_skip_verify", t.InsecureSkipVerify},
		} {
			if f.set {
				return fmt.Errorf("%s.%s: set while %s.enabled is false", prefix, f.key, prefix)
			}
		}
		return nil
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return fmt.Errorf("%s.cert_file, %s.key_file: set both or neither", prefix, prefix)
	}
	return nil
}

// Config returns the crypto/tls configuration (TLS 1.2 or later), reading the files; nil
// when TLS is off. prefix names the section in errors, as for Check.
func (t TLS) Config(prefix string) (*tls.Config, error) {
	if err := t.Check(prefix); err != nil || !t.Enabled {
		return nil, err
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", prefix, err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca_file: %s holds no PEM certificate", prefix, t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file, %s.key_file: %w", prefix, prefix, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// ErrNoSecret is returned by Secret when neither the value nor the file is given.
var ErrNoSecret = errors.New("no secret given")

// Secret returns a secret given either as a value or as a file holding it (ReadFile);
// key names the value's configuration key, and key + "_file" the file's. Both at once
// is an error; neither is ErrNoSecret, for the caller to decide whether that is allowed.
func Secret(key, value, file string) (string, error) {
	switch {
	case value != "" && file != "":
		return "", fmt.Errorf("%s, %s_file: set one, not both", key, key)
	case file != "":
		s, err := ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s_file: %w", key, err)
		}
		return s, nil
	case value != "":
		return value, nil
	}
	return "", fmt.Errorf("%s: %w", key, ErrNoSecret)
}

// OptionalSecret is Secret for a secret that may be absent: neither the value nor the file
// gives "" and no error.
func OptionalSecret(key, value, file string) (string, error) {
	s, err := Secret(key, value, file)
	if errors.Is(err, ErrNoSecret) {
		return "", nil
	}
	return s, err
}
