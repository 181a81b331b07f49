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
)

// Config says how to reach ClickHouse. Meterhouse speaks the native protocol only.
type Config struct {
	// Addr is host:port of the server's native protocol listener.
	Addr string `yaml:"addr"`
	// Database holds every Meterhouse table; migrate creates it when missing.
	Database string `yaml:"database"`
	// Username is the ClickHouse user.
	Username string `yaml:"username"`
	// Password is that user's password; it is redacted when configuration is printed.
	Password string `yaml:"password" secret:"true"`
	// DialTimeout bounds connecting to the server.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// MaxOpenConns bounds the connections one pool keeps open.
	MaxOpenConns int `yaml:"max_open_conns"`
}

// DefaultConfig returns the settings of the local development server.
func DefaultConfig() Config {
	return Config{
		Addr:         "127.0.0.1:9000",
		Database:     "meterhouse",
		Username:     "default",
		DialTimeout:  5 * time.Second,
		MaxOpenConns: 8,
	}
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// Validate reports the first field that cannot work, naming it.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("clickhouse.addr: %q is not host:port: %w", c.Addr, err)
	}
	if !identifier.MatchString(c.Database) {
		return fmt.Errorf("clickhouse.database: %q is not a plain identifier", c.Database)
	}
	if c.Username == "" {
		return errors.New("clickhouse.username: must not be empty")
	}
	if c.DialTimeout <= 0 {
		return errors.New("clickhouse.dial_timeout: must be positive")
	}
	if c.MaxOpenConns < 1 {
		return errors.New("clickhouse.max_open_conns: must be at least 1")
	}
	return nil
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
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol: clickhouse.Native,
		Addr:     []string{cfg.Addr},
		Auth: clickhouse.Auth{
			Database: database,
			Username: cfg.Username,
			Password: cfg.Password,
		},
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

// EnsureDatabase creates cfg.Database when it does not exist yet.
func EnsureDatabase(ctx context.Context, cfg Config) error {
	return execServer(ctx, cfg, "CREATE DATABASE IF NOT EXISTS "+cfg.Database)
}

// DropDatabase removes cfg.Database and everything in it. Tests use it to clean up.
func DropDatabase(ctx context.Context, cfg Config) error {
	return execServer(ctx, cfg, "DROP DATABASE IF EXISTS "+cfg.Database)
}

// execServer runs one statement about cfg.Database over a connection to the always
// present default database, since cfg.Database itself may not exist.
func execServer(ctx context.Context, cfg Config, stmt string) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	conn, err := open(ctx, cfg, "default")
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}

// ConnectAs opens a connection pool like Connect, to cfg's server and database, but as
// another ClickHouse user and with a pool of its own size, so that one component's queries
// cannot take the connections of another. The analyst SQL endpoint opens its pool with it.
// Everything else of cfg (address, database, dial timeout, transport settings) is kept;
// its credentials are replaced by username and password.
func ConnectAs(ctx context.Context, cfg Config, username, password string, maxOpenConns int) (driver.Conn, error) {
	// Every field that carries cfg's own credentials in another form (a password file)
	// must be cleared here too, or the other user would be sent the application's secret.
	cfg.Username, cfg.Password, cfg.MaxOpenConns = username, password, maxOpenConns
	return Connect(ctx, cfg)
}
