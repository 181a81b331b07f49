package credentials

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadFile: the secret is the first line without its end; an empty one or a missing
// file is an error that does not contain the secret.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want, err string
	}{
		{"plain", "s3cret", "s3cret", ""},
		{"newline", "s3cret\n", "s3cret", ""},
		{"crlf", "s3cret\r\n", "s3cret", ""},
		{"second line ignored", "s3cret\ncomment\n", "s3cret", ""},
		{"empty", "", "", "is empty"},
		{"empty first line", "\ns3cret\n", "", "is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadFile(p)
			switch {
			case tc.err == "" && (err != nil || got != tc.want):
				t.Errorf("ReadFile = %q, %v; want %q", got, err, tc.want)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "s3cret")):
				t.Errorf("ReadFile error %v, want one saying %q without the secret", err, tc.err)
			}
		})
	}
	if _, err := ReadFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestSecret: a value or a file, never both; neither is ErrNoSecret; errors name the key.
func TestSecret(t *testing.T) {
	f := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(f, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, value, file, want, err string
	}{
		{"value", "v", "", "v", ""},
		{"file", "", f, "from-file", ""},
		{"both", "v", f, "", "x.password, x.password_file: set one, not both"},
		{"neither", "", "", "", "x.password: no secret given"},
		{"missing file", "", f + ".nope", "", "x.password_file: open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Secret("x.password", tc.value, tc.file)
			if tc.err == "" && (err != nil || got != tc.want) || tc.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.err)) {
				t.Errorf("Secret = %q, %v; want %q, %q", got, err, tc.want, tc.err)
			}
		})
	}
	if _, err := Secret("x", "", ""); !errors.Is(err, ErrNoSecret) {
		t.Errorf("neither: %v, want ErrNoSecret", err)
	}
}

// TestTLSCheck: fields set while TLS is off are refused by name, a certificate needs its
// key, and TLS off gives no configuration.
func TestTLSCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  TLS
		err  string
	}{
		{"off", TLS{}, ""},
		{"on with system roots", TLS{Enabled: true}, ""},
		{"CA while off", TLS{CAFile: "/ca.pem"}, "k.tls.ca_file: set while k.tls.enabled is false"},
		{"skip verify while off", TLS{InsecureSkipVerify: true}, "k.tls.insecure_skip_verify: set while k.tls.enabled is false"},
		{"cert without key", TLS{Enabled: true, CertFile: "/c.pem"}, "k.tls.cert_file, k.tls.key_file: set both or neither"},
		{"key without cert", TLS{Enabled: true, KeyFile: "/k.pem"}, "k.tls.cert_file, k.tls.key_file: set both or neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.tls.Check("k.tls")
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || err.Error() != tc.err) {
				t.Errorf("Check = %v, want %q", err, tc.err)
			}
		})
	}
	if c, err := (TLS{}).Config("k.tls"); c != nil || err != nil {
		t.Errorf("TLS off: Config = %v, %v; want nil, nil", c, err)
	}
	if c, err := (TLS{Enabled: true, ServerName: "ch.test"}).Config("k.tls"); err != nil || c == nil || c.ServerName != "ch.test" || c.MinVersion == 0 {
		t.Errorf("TLS on: Config = %+v, %v", c, err)
	}
}
