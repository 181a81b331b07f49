package schema

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/meterhouse/meterhouse/credentials"
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
	TLS credentials.TLS `yaml:"tls"`
	// DialTimeout bounds connecting to the server.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// ReadTimeout bounds the wait for the server's next packet of a statement: a
	// statement that sends nothing back for this long (an INSERT … SELECT over a large
	// range, such as a fleet's group roll-up) fails with an i/o timeout.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// MaxOpenConns bounds the connections one pool keeps open.
	MaxOpenConns int `yaml:"max_open_conns"`
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
		ReadTimeout:  5 * time.Minute,
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
	if _, err := c.ReadPassword(); err != nil {
		return err
	}
	if _, err := c.TLS.Config("clickhouse.tls"); err != nil {
		return err
	}
	if c.DialTimeout <= 0 {
		return errors.New("clickhouse.dial_timeout: must be positive")
	}
	if c.ReadTimeout <= 0 {
		return errors.New("clickhouse.read_timeout: must be positive")
	}
	if c.MaxOpenConns < 1 {
		return errors.New("clickhouse.max_open_conns: must be at least 1")
	}
	return nil
}

// ReadPassword returns the user's password: Password, or read from PasswordFile; empty
// when neither is set. An error names the key at fault.
func (c Config) ReadPassword() (string, error) {
	return credentials.OptionalSecret("clickhouse.password", c.Password, c.PasswordFile)
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
	password, err := cfg.ReadPassword()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := cfg.TLS.Config("clickhouse.tls")
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
		ReadTimeout:  cfg.ReadTimeout,
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
