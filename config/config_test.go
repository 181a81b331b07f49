package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "meterhouse.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestLayers checks the order: defaults, then the file, then the environment, then --set.
func TestLayers(t *testing.T) {
	path := writeFile(t, "api:\n  listen: 127.0.0.1:9001\n  request_timeout: 5s\nauth:\n  token_ttl: 24h\nkafka:\n  brokers: [a:1, b:2]\n  sasl:\n    username: app\n")
	cfg, err := Load(path, []string{"MH_API_LISTEN=127.0.0.1:9002", "MH_AUTH_CACHE_TTL=0s", "OTHER=1", "MH_UNKNOWN_THING=x",
		"MH_KAFKA_SASL_PASSWORD_FILE=/run/secrets/kafka", "MH_KAFKA_TLS_ENABLED=true", "MH_KAFKA_PORT=29092"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Set("api.body_limit", "1M"); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key       string
		got, want any
	}{
		{"api.listen (env over file)", cfg.API.Listen, "127.0.0.1:9002"},
		{"api.request_timeout (file)", cfg.API.RequestTimeout, 5 * time.Second},
		{"api.body_limit (--set)", cfg.API.BodyLimit, "1M"},
		{"auth.token_ttl (file)", cfg.Auth.TokenTTL, 24 * time.Hour},
		{"auth.cache_ttl (env)", cfg.Auth.CacheTTL, time.Duration(0)},
		{"kafka.brokers (file list)", strings.Join(cfg.Kafka.Brokers, ","), "a:1,b:2"},
		{"kafka.sasl.username (file)", cfg.Kafka.SASL.Username, "app"},
		{"kafka.sasl.mechanism (default)", cfg.Kafka.SASL.Mechanism, "SCRAM-SHA-512"},
		{"kafka.sasl.password_file (env)", cfg.Kafka.SASL.PasswordFile, "/run/secrets/kafka"},
		{"kafka.tls.enabled (env)", cfg.Kafka.TLS.Enabled, true},
		{"clickhouse.addr (default)", cfg.ClickHouse.Addr, Default().ClickHouse.Addr},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.key, tc.got, tc.want)
		}
	}
}

// TestErrorsNameTheKey checks that every way of setting a bad value gives an error naming
// the key (and, for the environment, the variable).
func TestErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    string
		env     []string
		set     string // key=value
		want    []string
		atLoad  bool // the error comes from Load or Set, not Validate
		setFail bool
	}{
		{name: "unknown file key", file: "api:\n  listn: x\n", want: []string{"api.listn"}, atLoad: true},
		{name: "unknown file section", file: "authz:\n  token_ttl: 1h\n", want: []string{"authz"}, atLoad: true},
		{name: "bad file type", file: "api:\n  listen: 127.0.0.1:1\n  read_timeout: fast\n", want: []string{"api.read_timeout"}, atLoad: true},
		{name: "bad file list", file: "kafka:\n  brokers: {a: b}\n", want: []string{"kafka.brokers"}, atLoad: true},
		{name: "ingest.brokers is gone", file: "ingest:\n  brokers: [a:1]\n", want: []string{"ingest.brokers"}, atLoad: true},
		{name: "bad kafka mechanism from env", env: []string{"MH_KAFKA_SASL_MECHANISM=GSSAPI"}, want: []string{"kafka.sasl.mechanism"}},
		{name: "kafka password twice", env: []string{"MH_KAFKA_SASL_PASSWORD=x", "MH_KAFKA_SASL_PASSWORD_FILE=/f"}, want: []string{"kafka.sasl.password", "kafka.sasl.password_file"}},
		{name: "kafka TLS key without cert", env: []string{"MH_KAFKA_TLS_ENABLED=true", "MH_KAFKA_TLS_KEY_FILE=/k"}, want: []string{"kafka.tls.cert_file"}},
		{name: "bad kafka broker", env: []string{"MH_KAFKA_BROKERS=a:1,nohost"}, want: []string{"kafka.brokers[1]"}},
		{name: "invalid file value", file: "auth:\n  token_ttl: -1h\n", want: []string{"auth.token_ttl"}},
		{name: "bad env type", env: []string{"MH_API_READ_TIMEOUT=fast"}, want: []string{"api.read_timeout", "MH_API_READ_TIMEOUT"}, atLoad: true},
		{name: "invalid env value", env: []string{"MH_API_LISTEN=nohostport"}, want: []string{"api.listen"}},
		{name: "invalid env value in auth", env: []string{"MH_AUTH_CACHE_TTL=-5s"}, want: []string{"auth.cache_ttl"}},
		{name: "bad log format", env: []string{"MH_LOG_FORMAT=xml"}, want: []string{"log.format"}},
		{name: "unknown --set key", set: "api.nope=1", want: []string{"api.nope"}, setFail: true},
		{name: "bad --set type", set: "auth.token_ttl=forever", want: []string{"auth.token_ttl"}, setFail: true},
		{name: "invalid --set value", set: "api.body_limit=lots", want: []string{"api.body_limit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, tc.file)
			}
			cfg, err := Load(path, tc.env)
			if tc.atLoad {
				checkNames(t, err, tc.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.set != "" {
				k, v, _ := strings.Cut(tc.set, "=")
				err := cfg.Set(k, v)
				if tc.setFail {
					checkNames(t, err, tc.want)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			checkNames(t, cfg.Validate(), tc.want)
		})
	}
}

func checkNames(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %v", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %s", err, w)
		}
	}
}

func TestYAMLRedactsSecrets(t *testing.T) {
	cfg := Default()
	cfg.ClickHouse.Password = "hunter2"
	cfg.Kafka.SASL.Password = "kafka-hunter3"
	b, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	if strings.Contains(out, "hunter2") || strings.Contains(out, "hunter3") || strings.Count(out, "password: REDACTED") != 2 {
		t.Errorf("secret not redacted:\n%s", out)
	}
	for _, section := range []string{"clickhouse:", "kafka:", "ingest:", "api:", "query:", "auth:", "log:"} {
		if !strings.Contains(out, section) {
			t.Errorf("printed configuration lacks %s", section)
		}
	}
	if cfg.ClickHouse.Password != "hunter2" {
		t.Error("YAML changed the configuration it printed")
	}
	// What config print shows loads back (apart from the redacted secret).
	back, err := Load(writeFile(t, out), nil)
	if err != nil {
		t.Fatalf("printed configuration does not load: %v", err)
	}
	// Compared as printed: an empty list (api.trusted_proxies) loads back empty, not nil.
	if fmt.Sprintf("%+v", back.API) != fmt.Sprintf("%+v", cfg.API) || back.Auth != cfg.Auth {
		t.Errorf("round trip changed api or auth: %+v %+v", back.API, back.Auth)
	}
}

// TestAPIProxyAndTLSKeys: api.trusted_proxies and api.tls load from the file and the
// environment, the TLS keys keep their defaults when only the files are given, and a bad
// proxy entry is refused naming the key.
func TestAPIProxyAndTLSKeys(t *testing.T) {
	path := writeFile(t, "api:\n  trusted_proxies: [10.0.0.0/8, 127.0.0.1]\n  tls:\n    cert_file: /etc/mh/tls.crt\n")
	cfg, err := Load(path, []string{"MH_API_TLS_KEY_FILE=/etc/mh/tls.key"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.API.TrustedProxies, ","); got != "10.0.0.0/8,127.0.0.1" {
		t.Errorf("api.trusted_proxies = %s", got)
	}
	if tls := cfg.API.TLS; tls.CertFile != "/etc/mh/tls.crt" || tls.KeyFile != "/etc/mh/tls.key" || tls.MinVersion != "1.2" || tls.ReloadInterval != 5*time.Second {
		t.Errorf("api.tls = %+v", tls)
	}
	// The files do not exist, so the start is refused naming the certificate's key.
	if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), "api.tls.cert_file:") {
		t.Errorf("Validate() = %v, want api.tls.cert_file", err)
	}
	cfg, err = Load("", []string{"MH_API_TRUSTED_PROXIES=10.0.0.1, proxy.local"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), "api.trusted_proxies:") {
		t.Errorf("Validate() = %v, want api.trusted_proxies", err)
	}
}

// TestPrintRedactsEnvSecrets checks that the secrets given in the environment, the auth
// secret and the ClickHouse password, are loaded but printed as REDACTED, while the files
// that hold secrets are named as they are.
func TestPrintRedactsEnvSecrets(t *testing.T) {
	const key, pw = "an-auth-secret-of-at-least-32-bytes!", "a-clickhouse-password"
	cfg, err := Load("", []string{"MH_AUTH_SECRET=" + key, "MH_CLICKHOUSE_PASSWORD=" + pw,
		"MH_AUTH_SECRET_FILE=", "MH_CLICKHOUSE_TLS_ENABLED=true", "MH_CLICKHOUSE_TLS_SERVER_NAME=ch.example"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Auth.Secret != key || cfg.ClickHouse.Password != pw || !cfg.ClickHouse.TLS.Enabled || cfg.ClickHouse.TLS.ServerName != "ch.example" {
		t.Fatalf("environment not applied: %+v %+v", cfg.Auth, cfg.ClickHouse)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	if strings.Contains(out, key) || strings.Contains(out, pw) || strings.Count(out, ": REDACTED") != 2 {
		t.Errorf("secrets not redacted:\n%s", out)
	}
	for _, k := range []string{"password_file:", "secret_file:", "server_name: ch.example"} {
		if !strings.Contains(out, k) {
			t.Errorf("printed configuration lacks %s", k)
		}
	}
}
