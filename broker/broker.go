// Package broker says how Meterhouse reaches Kafka: addresses, SASL and TLS. Every Kafka
// client of the code base (ingest's reader, dead-letter writer and lag client, the HTTP
// ingest producer, the readiness check, the benchmarks and the tests) is built from one
// Config through Dialer or Transport, so that authentication and encryption are set in one
// place, the kafka section of the configuration.
package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/meterhouse/meterhouse/credentials"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// SASL mechanisms Config.SASL.Mechanism may name. The empty mechanism means no SASL.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Config says where the Kafka brokers are and how to authenticate to them.
type Config struct {
	// Brokers lists the bootstrap addresses, host:port.
	Brokers []string `yaml:"brokers"`
	// SASL authenticates the client; its Mechanism empty means no authentication.
	SASL SASL `yaml:"sasl"`
	// TLS encrypts the connections and, with a client certificate, authenticates them.
	TLS credentials.TLS `yaml:"tls"`
	// Timeout bounds opening one connection, TLS and SASL included.
	Timeout time.Duration `yaml:"timeout"`
}

// SASL holds the SASL credentials. The password comes from Password (set it from the
// environment, MH_KAFKA_SASL_PASSWORD) or from the file PasswordFile names, never both.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, or empty for no SASL.
	Mechanism string `yaml:"mechanism"`
	// Username is the Kafka user.
	Username string `yaml:"username"`
	// Password is the user's password.
	Password string `yaml:"password" secret:"true"`
	// PasswordFile names a file holding the password (one line; a final newline is
	// ignored). It is read whenever a client is built.
	PasswordFile string `yaml:"password_file"`
}

// DefaultConfig returns the settings of the local services (deploy/local/services.sh):
// SCRAM-SHA-512 as the application user meterhouse. The password is not known here: the
// services script generates it into .services/secrets/kafka-meterhouse.password, which
// deploy/local/run.sh passes as MH_KAFKA_SASL_PASSWORD_FILE.
func DefaultConfig() Config {
	return Config{
		Brokers: []string{"127.0.0.1:9092"},
		SASL:    SASL{Mechanism: ScramSHA512, Username: "meterhouse"},
		Timeout: 10 * time.Second,
	}
}

// Validate reports the first setting that cannot work, naming its key (kafka.…). It does
// not read the password and TLS files, nor require a password (the default has none: the
// local services generate it): Dialer and Transport do, each time, and their errors name
// the key too.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka.brokers: at least one broker is needed")
	}
	for i, b := range c.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			return fmt.Errorf("kafka.brokers[%d]: %q is not host:port", i, b)
		}
	}
	if c.Timeout <= 0 {
		return errors.New("kafka.timeout: must be positive")
	}
	if err := c.SASL.check(); err != nil {
		return err
	}
	return c.TLS.Check("kafka.tls")
}

// Addr returns the bootstrap addresses for kafka.Writer and kafka.Client.
func (c Config) Addr() net.Addr { return kafka.TCP(c.Brokers...) }

// Dialer returns a dialer with the TLS and SASL settings, for kafka.Reader
// (ReaderConfig.Dialer) and kafka.Conn.
func (c Config) Dialer() (*kafka.Dialer, error) {
	m, err := c.SASL.mechanism()
	if err != nil {
		return nil, err
	}
	t, err := c.TLS.Config("kafka.tls")
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{Timeout: c.Timeout, DualStack: true, TLS: t, SASLMechanism: m}, nil
}

// Transport returns a transport with the TLS and SASL settings, for kafka.Writer and
// kafka.Client. It keeps idle connections for a while; close them with
// CloseIdleConnections when done.
func (c Config) Transport() (*kafka.Transport, error) {
	m, err := c.SASL.mechanism()
	if err != nil {
		return nil, err
	}
	t, err := c.TLS.Config("kafka.tls")
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{DialTimeout: c.Timeout, TLS: t, SASL: m}, nil
}

// Client returns an admin and metadata client whose requests time out after timeout.
func (c Config) Client(timeout time.Duration) (*kafka.Client, error) {
	t, err := c.Transport()
	if err != nil {
		return nil, err
	}
	return &kafka.Client{Addr: c.Addr(), Timeout: timeout, Transport: t}, nil
}

// Dial opens a connection to the first broker that accepts one, authenticated.
func (c Config) Dial(ctx context.Context) (*kafka.Conn, error) {
	d, err := c.Dialer()
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, b := range c.Brokers {
		conn, err := d.DialContext(ctx, "tcp", b)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, c.explain(b, err))
	}
	return nil, errors.Join(errs...)
}

// DialController opens a connection to the cluster's controller (in KRaft, the broker the
// metadata names as such), where topics are created and deleted.
func (c Config) DialController(ctx context.Context) (*kafka.Conn, error) {
	conn, err := c.Dial(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return nil, fmt.Errorf("kafka: find the controller: %w", err)
	}
	d, err := c.Dialer()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port))
	cc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, c.explain(addr, err)
	}
	return cc, nil
}

// Ping checks that one of the brokers accepts the credentials and answers a metadata
// request; it is the readiness check of the Kafka dependency.
func (c Config) Ping(ctx context.Context) error {
	d, err := c.Dialer()
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range c.Brokers {
		conn, err := d.DialContext(ctx, "tcp", b)
		if err != nil {
			errs = append(errs, c.explain(b, err))
			continue
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		_, err = conn.Brokers()
		conn.Close()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("kafka %s: metadata: %w", b, err))
	}
	return errors.Join(errs...)
}

// explain wraps a dial error with the broker and, for a refused login, the user and
// mechanism, so that "wrong password" reads as such.
func (c Config) explain(addr string, err error) error {
	if errors.Is(err, kafka.SASLAuthenticationFailed) || errors.Is(err, kafka.UnsupportedSASLMechanism) ||
		errors.Is(err, kafka.IllegalSASLState) {
		return fmt.Errorf("kafka %s: SASL %s login as %q refused (check kafka.sasl.username and the password): %w",
			addr, c.SASL.Mechanism, c.SASL.Username, err)
	}
	return fmt.Errorf("kafka %s: %w", addr, err)
}

// check reports settings that cannot work, without reading the password file.
func (s SASL) check() error {
	switch s.Mechanism {
	case "":
		if s.Username != "" || s.Password != "" || s.PasswordFile != "" {
			return errors.New("kafka.sasl.mechanism: must be set (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) when a username or password is")
		}
		return nil
	case Plain, ScramSHA256, ScramSHA512:
	default:
		return fmt.Errorf("kafka.sasl.mechanism: %q: want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or empty (no SASL)", s.Mechanism)
	}
	switch {
	case s.Username == "":
		return fmt.Errorf("kafka.sasl.username: must be set for %s", s.Mechanism)
	case s.Password != "" && s.PasswordFile != "":
		return errors.New("kafka.sasl.password, kafka.sasl.password_file: set one, not both")
	}
	return nil
}

// mechanism returns the SASL mechanism, nil when none is configured.
func (s SASL) mechanism() (sasl.Mechanism, error) {
	if err := s.check(); err != nil || s.Mechanism == "" {
		return nil, err
	}
	pw, err := s.password()
	if err != nil {
		return nil, err
	}
	switch s.Mechanism {
	case Plain:
		return plain.Mechanism{Username: s.Username, Password: pw}, nil
	case ScramSHA256:
		m, err := scram.Mechanism(scram.SHA256, s.Username, pw)
		if err != nil {
			return nil, fmt.Errorf("kafka.sasl: %w", err)
		}
		return m, nil
	default:
		m, err := scram.Mechanism(scram.SHA512, s.Username, pw)
		if err != nil {
			return nil, fmt.Errorf("kafka.sasl: %w", err)
		}
		return m, nil
	}
}

// password returns the password from the field or the file (check has passed). No
// password at all is an error here, not in Validate, so that the commands that never reach
// Kafka (migrate, token) need none.
func (s SASL) password() (string, error) {
	pw, err := credentials.Secret("kafka.sasl.password", s.Password, s.PasswordFile)
	if errors.Is(err, credentials.ErrNoSecret) {
		return "", fmt.Errorf("kafka.sasl.password_file: needed for %s (or kafka.sasl.password, e.g. from MH_KAFKA_SASL_PASSWORD); the local services write .services/secrets/kafka-%s.password",
			s.Mechanism, s.Username)
	}
	return pw, err
}
