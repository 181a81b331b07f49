package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// TLSConfig configures HTTPS. Set both CertFile and KeyFile, or neither (plain HTTP).
type TLSConfig struct {
	// CertFile is the PEM certificate chain, the server's certificate first.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of the certificate.
	KeyFile string `yaml:"key_file"`
	// MinVersion is the oldest TLS version accepted: "1.2" (the default when empty) or
	// "1.3".
	MinVersion string `yaml:"min_version"`
	// ReloadInterval is how often the two files are read again: when their content has
	// changed and the new pair loads, new connections get the new certificate; a pair
	// that does not load is logged and the current certificate kept.
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// Enabled reports whether the configuration asks for HTTPS.
func (c TLSConfig) Enabled() bool { return c.CertFile != "" || c.KeyFile != "" }

// Validate reports the first field that cannot work, naming it. With TLS enabled it reads
// and parses the certificate and key, so that a bad pair stops the start, not the first
// handshake.
func (c TLSConfig) Validate() error {
	if _, err := c.minVersion(); err != nil {
		return err
	}
	if !c.Enabled() {
		return nil
	}
	switch {
	case c.CertFile == "":
		return errors.New("api.tls.cert_file: required with api.tls.key_file")
	case c.KeyFile == "":
		return errors.New("api.tls.key_file: required with api.tls.cert_file")
	case c.ReloadInterval <= 0:
		return fmt.Errorf("api.tls.reload_interval: must be positive, got %s", c.ReloadInterval)
	}
	_, err := c.load()
	return err
}

// minVersion returns the tls package's constant for MinVersion.
func (c TLSConfig) minVersion() (uint16, error) {
	switch c.MinVersion {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("api.tls.min_version: %q: want 1.2 or 1.3", c.MinVersion)
}

// keyPair is a loaded certificate and the file contents it came from.
type keyPair struct {
	cert      *tls.Certificate
	certPEM   []byte
	keyPEM    []byte
	notAfter  time.Time
	subjectCN string
}

// load reads and parses the two files, naming the key of the one at fault.
func (c TLSConfig) load() (keyPair, error) {
	certPEM, err := os.ReadFile(c.CertFile)
	if err != nil {
		return keyPair{}, fmt.Errorf("api.tls.cert_file: %w", err)
	}
	keyPEM, err := os.ReadFile(c.KeyFile)
	if err != nil {
		return keyPair{}, fmt.Errorf("api.tls.key_file: %w", err)
	}
	return parsePair(certPEM, keyPEM, c)
}

func parsePair(certPEM, keyPEM []byte, c TLSConfig) (keyPair, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return keyPair{}, fmt.Errorf("api.tls.cert_file, api.tls.key_file: %s and %s are not a PEM certificate and its key: %w", c.CertFile, c.KeyFile, err)
	}
	p := keyPair{cert: &cert, certPEM: certPEM, keyPEM: keyPEM}
	if cert.Leaf != nil {
		p.notAfter, p.subjectCN = cert.Leaf.NotAfter, cert.Leaf.Subject.CommonName
	}
	return p, nil
}

// certReloader holds the server's certificate and replaces it when the files change. Its
// GetCertificate serves every handshake; only watch reads the files.
type certReloader struct {
	cfg  TLSConfig
	log  *slog.Logger
	cert atomic.Pointer[tls.Certificate]

	mu      sync.Mutex
	tried   keyPair // the contents last loaded or tried
	lastErr string  // the last read error logged, so that a missing file is logged once
}

// newCertReloader loads the pair of cfg.
func newCertReloader(cfg TLSConfig, log *slog.Logger) (*certReloader, error) {
	p, err := cfg.load()
	if err != nil {
		return nil, err
	}
	r := &certReloader{cfg: cfg, log: log, tried: p}
	r.cert.Store(p.cert)
	return r, nil
}

// tlsConfig returns the server's TLS settings.
func (r *certReloader) tlsConfig() *tls.Config {
	v, _ := r.cfg.minVersion() // validated by New
	return &tls.Config{
		MinVersion: v,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.cert.Load(), nil
		},
	}
}

// watch checks the files every ReloadInterval until ctx is done.
func (r *certReloader) watch(ctx context.Context) {
	t := time.NewTicker(r.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.reload()
		}
	}
}

// reload reads both files and, when either's content differs from what was last tried,
// loads the new pair: a pair that loads replaces the certificate for new connections; one
// that does not (a broken file, a half-written replacement, a key of another certificate)
// is logged and the current certificate kept until the files change again.
func (r *certReloader) reload() {
	r.mu.Lock()
	defer r.mu.Unlock()
	certPEM, cerr := os.ReadFile(r.cfg.CertFile)
	keyPEM, kerr := os.ReadFile(r.cfg.KeyFile)
	if err := errors.Join(cerr, kerr); err != nil {
		if err.Error() != r.lastErr {
			r.lastErr = err.Error()
			r.log.Error("api.tls: cannot read the certificate or key; keeping the current certificate", "err", err)
		}
		return
	}
	r.lastErr = ""
	if bytes.Equal(certPEM, r.tried.certPEM) && bytes.Equal(keyPEM, r.tried.keyPEM) {
		return
	}
	p, err := parsePair(certPEM, keyPEM, r.cfg)
	if err != nil {
		r.tried = keyPair{certPEM: certPEM, keyPEM: keyPEM}
		r.log.Error("api.tls: the changed certificate and key do not load; keeping the current certificate", "err", err)
		return
	}
	r.tried = p
	r.cert.Store(p.cert)
	r.log.Info("api.tls: reloaded the certificate", "subject", p.subjectCN, "not_after", p.notAfter)
}
