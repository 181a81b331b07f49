package schema

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Config says how to reach ClickHouse. Meterhouse speaks the native protocol only.
type Config struct {
	// Addr is host:port of the server's native protocol listener (the secure one, often
	// 9440, when TLS is enabled).
	Addr string `yaml:"addr"`
	// Database holds the platform's tables; migrate creates it when missing, together with
	// its private companion (see PrivateDatabase).
	Database string `yaml:"database"`
	// Username is the ClickHouse user of the application: it creates databases and tables
	// and writes them. deploy/local/services.sh creates it as meterhouse.
	Username string `yaml:"username"`
	// Password is that user's password; it is redacted when configuration is printed.
	// Prefer PasswordFile (or MH_CLICKHOUSE_PASSWORD in the environment) to writing it in a
	// configuration file. Password and PasswordFile are exclusive.
	Password string `yaml:"password" secret:"true"`
	// PasswordFile names a file holding the password (one line; a trailing newline is
	// ignored), read each time a connection pool is opened. The local services write it as
	// .services/secrets/clickhouse-meterhouse.password.
	PasswordFile string `yaml:"password_file"`
	// TLS encrypts the connection and, with CAFile, verifies the server's certificate.
	TLS TLSConfig `yaml:"tls"`
	// DialTimeout bounds connecting to the server.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// MaxOpenConns bounds the connections one pool keeps open.
	MaxOpenConns int `yaml:"max_open_conns"`
}

// TLSConfig configures TLS towards ClickHouse (its tcp_port_secure listener).
type TLSConfig struct {
	// Enabled turns TLS on; the other fields are refused without it, so that a
	// half-written TLS section cannot silently fall back to plain text.
	Enabled bool `yaml:"enabled"`
	// CAFile names a PEM file of the certificate authorities that sign the server's
	// certificate; empty trusts the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile name the PEM client certificate and its key, for servers that
	// require one; both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name the server's certificate must carry; empty means the host of
	// Addr.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any server certificate. It encrypts but does not
	// authenticate the server: for tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// DefaultConfig returns the settings of the local development server. The password is
// not part of them: give clickhouse.password_file (MH_CLICKHOUSE_PASSWORD_FILE), as
// deploy/local/run.sh does.
func DefaultConfig() Config {
	return Config{
		Addr:         "127.0.0.1:9000",
		Database:     "meterhouse",
		Username:     "meterhouse",
		DialTimeout:  5 * time.Second,
		MaxOpenConns: 8,
	}
}

// PrivateSuffix ends the name of the private database.
const PrivateSuffix = "_private"

// PrivateDatabase returns the name of the private database, Database + "_private": it
// holds credentials and audit trails (api_tokens, admin_audit), which no analyst user may
// be granted. The migrator creates and migrates it together with Database.
func (c Config) PrivateDatabase() string { return privateDatabase(c.Database) }

func privateDatabase(database string) string { return database + PrivateSuffix }

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,119}$`)

// Validate reports the first field that cannot work, naming it.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("clickhouse.addr: %q is not host:port: %w", c.Addr, err)
	}
	if !identifier.MatchString(c.Database) {
		return fmt.Errorf("clickhouse.database: %q is not a plain identifier of at most 120 characters", c.Database)
	}
	if c.Username == "" {
		return errors.New("clickhouse.username: must not be empty")
	}
	if c.Password != "" && c.PasswordFile != "" {
		return errors.New("clickhouse.password, clickhouse.password_file: give one, not both")
	}
	if c.PasswordFile != "" {
		if _, err := ReadSecretFile(c.PasswordFile); err != nil {
			return fmt.Errorf("clickhouse.password_file: %w", err)
		}
	}
	if err := c.TLS.validate(); err != nil {
		return err
	}
	if c.DialTimeout <= 0 {
		return errors.New("clickhouse.dial_timeout: must be positive")
	}
	if c.MaxOpenConns < 1 {
		return errors.New("clickhouse.max_open_conns: must be at least 1")
	}
	return nil
}

func (t TLSConfig) validate() error {
	if !t.Enabled {
		for _, f := range []struct{ key, v string }{
			{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"server_name", t.ServerName},
		} {
			if f.v != "" {
				return fmt.Errorf("clickhouse.tls.%s: set while clickhouse.tls.enabled is false", f.key)
			}
		}
		if t.InsecureSkipVerify {
			return errors.New("clickhouse.tls.insecure_skip_verify: set while clickhouse.tls.enabled is false")
		}
		return nil
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("clickhouse.tls.cert_file, clickhouse.tls.key_file: give both or neither")
	}
	_, err := t.config()
	return err
}

// config builds the crypto/tls configuration, reading the files; nil when TLS is off.
func (t TLSConfig) config() (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // documented as tests only
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("clickhouse.tls.ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("clickhouse.tls.ca_file: %s holds no PEM certificate", t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("clickhouse.tls.cert_file, clickhouse.tls.key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// ReadSecretFile returns the secret in the file at path: its first line, without the line
// end, which must not be empty. Every *_file secret of the configuration is read with it.
func ReadSecretFile(path string) (string, error) {
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

// password returns the password, from Password or read from PasswordFile.
func (c Config) password() (string, error) {
	if c.PasswordFile == "" {
		return c.Password, nil
	}
	pw, err := ReadSecretFile(c.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("clickhouse.password_file: %w", err)
	}
	return pw, nil
}

// Connect opens a connection pool to cfg.Database and checks it with a ping. The caller
// owns the pool and closes it. The pool is safe for concurrent use.
func Connect(ctx context.Context, cfg Config) (driver.Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return open(ctx, cfg, cfg.Database)
}

func open(ctx context.Context, cfg Config, database string) (driver.Conn, error) {
	password, err := cfg.password()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := cfg.TLS.config()
	if err != nil {
		return nil, err
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol: clickhouse.Native,
		Addr:     []string{cfg.Addr},
		Auth: clickhouse.Auth{
			Database: database,
			Username: cfg.Username,
			Password: password,
		},
		TLS:          tlsCfg,
		DialTimeout:  cfg.DialTimeout,
		MaxOpenConns: cfg.MaxOpenConns,
		MaxIdleConns: cfg.MaxOpenConns,
		ClientInfo: clickhouse.ClientInfo{
			Products: []struct{ Name, Version string }{{Name: "meterhouse", Version: "0"}},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse %s: %w", cfg.Addr, err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse %s database %s: %w", cfg.Addr, database, err)
	}
	return conn, nil
}

// EnsureDatabase creates cfg.Database and its private database (cfg.PrivateDatabase)
// when they do not exist yet.
func EnsureDatabase(ctx context.Context, cfg Config) error {
	return execServer(ctx, cfg,
		"CREATE DATABASE IF NOT EXISTS "+cfg.Database,
		"CREATE DATABASE IF NOT EXISTS "+cfg.PrivateDatabase())
}

// DropDatabase removes cfg.Database and its private database and everything in them.
// Tests use it to clean up.
func DropDatabase(ctx context.Context, cfg Config) error {
	return execServer(ctx, cfg,
		"DROP DATABASE IF EXISTS "+cfg.Database,
		"DROP DATABASE IF EXISTS "+cfg.PrivateDatabase())
}

// execServer runs statements about cfg.Database over a connection to the always present
// default database, since cfg.Database itself may not exist.
func execServer(ctx context.Context, cfg Config, stmts ...string) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	conn, err := open(ctx, cfg, "default")
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, stmt := range stmts {
		if err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}

// ConnectAs opens a connection pool like Connect, to cfg's server and database, but as
// another ClickHouse user and with a pool of its own size, so that one component's queries
// cannot take the connections of another. The analyst SQL endpoint opens its pool with it.
// Everything else of cfg (address, database, dial timeout, transport settings) is kept;
// its credentials are replaced by username and password.
func ConnectAs(ctx context.Context, cfg Config, username, password string, maxOpenConns int) (driver.Conn, error) {
	// The password file is cfg's own credential in another form: clear it too, or the
	// other user would be sent the application's secret.
	cfg.Username, cfg.Password, cfg.PasswordFile, cfg.MaxOpenConns = username, password, "", maxOpenConns
	return Connect(ctx, cfg)
}
