package schema

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrSchemaNewer means the database was migrated by a newer Meterhouse than this binary:
// running against it could misread tables this binary does not know.
var ErrSchemaNewer = errors.New("database schema is newer than this binary")

// ErrMigrationChanged means a migration already applied to the database differs from the
// one embedded in this binary.
var ErrMigrationChanged = errors.New("applied migration differs from this binary's")

// Migration is one embedded migration: a numbered template of SQL statements separated by
// semicolons at line ends. Unqualified names are tables of the platform database (the
// migrator's connection's); a table of the private database is written
// {{private}}.name, and {{private}} expands to that database's name (see
// Config.PrivateDatabase).
type Migration struct {
	// Version orders migrations; it is the file name's numeric prefix.
	Version uint32
	// Name is the file name without its prefix and extension.
	Name string
	// Checksum is the SHA-256 of the template text, recorded when applied.
	Checksum string
	text     string
}

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		prefix, rest, ok := strings.Cut(name, "_")
		if !ok || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration %s: want NNNN_name.sql", name)
		}
		v, err := strconv.ParseUint(prefix, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("migration %s: version: %w", name, err)
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", name))
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", name, err)
		}
		sum := sha256.Sum256(b)
		out = append(out, Migration{
			Version:  uint32(v),
			Name:     strings.TrimSuffix(rest, ".sql"),
			Checksum: hex.EncodeToString(sum[:]),
			text:     string(b),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", out[i-1].Name, out[i].Name, out[i].Version)
		}
	}
	return out, nil
}

// Statements renders m for a server with caps and the platform database database, and
// splits it into single statements.
func (m Migration) Statements(caps Capabilities, database string) ([]string, error) {
	if !identifier.MatchString(database) {
		return nil, fmt.Errorf("migration %d %s: database %q is not a plain identifier", m.Version, m.Name, database)
	}
	tmpl, err := template.New(m.Name).Funcs(template.FuncMap{
		// private names the private database, which holds credentials and audit trails.
		"private": func() string { return privateDatabase(database) },
		// lc wraps a type in LowCardinality where the server has it as a stable type.
		"lc": func(typ string) string {
			if caps.LowCardinality {
				return "LowCardinality(" + typ + ")"
			}
			return typ
		},
		// codec adds a column codec clause where the server supports codecs.
		"codec": func(spec string) string {
			if caps.Codecs {
				return " CODEC(" + spec + ")"
			}
			return ""
		},
	}).Option("missingkey=error").Parse(m.text)
	if err != nil {
		return nil, fmt.Errorf("migration %d %s: %w", m.Version, m.Name, err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, caps); err != nil {
		return nil, fmt.Errorf("migration %d %s: %w", m.Version, m.Name, err)
	}
	return splitStatements(buf.String()), nil
}

// splitStatements splits SQL on semicolons that end a line and drops comment-only parts.
// The migrations are our own, so no semicolon ends a line inside a string literal.
func splitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s != "" {
			out = append(out, s)
		}
	}
	for _, line := range strings.Split(sql, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") {
			continue
		}
		if strings.HasSuffix(trimmed, ";") {
			cur.WriteString(strings.TrimSuffix(trimmed, ";"))
			flush()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return out
}

// Applied is one row of the migrations table.
type Applied struct {
	// Version and Name identify the migration.
	Version uint32
	Name    string
	// Checksum is the SHA-256 of the template applied.
	Checksum string
	// AppliedAt is when it was applied.
	AppliedAt time.Time
}

// Migrator applies the embedded migrations to one platform database and its private
// database. It records them in the platform database's schema_migrations. It is not safe
// to run two migrators on the same database at once.
type Migrator struct {
	conn     driver.Conn
	log      *slog.Logger
	caps     Capabilities
	database string
	loaded   []Migration
}

// NewMigrator reads the server's capabilities over conn, which must be connected to the
// target (platform) database; migrations create the private database when they need it.
func NewMigrator(ctx context.Context, conn driver.Conn, log *slog.Logger) (*Migrator, error) {
	if conn == nil || log == nil {
		return nil, errors.New("schema: NewMigrator needs a connection and a logger")
	}
	caps, err := Detect(ctx, conn)
	if err != nil {
		return nil, err
	}
	var database string
	if err := conn.QueryRow(ctx, "SELECT currentDatabase()").Scan(&database); err != nil {
		return nil, fmt.Errorf("read current database: %w", err)
	}
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	return &Migrator{conn: conn, log: log, caps: caps, database: database, loaded: ms}, nil
}

// Capabilities returns what the connected server supports.
func (m *Migrator) Capabilities() Capabilities { return m.caps }

const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime
) ENGINE = MergeTree ORDER BY version`

// Applied lists the migrations recorded in the database, in version order.
func (m *Migrator) Applied(ctx context.Context) ([]Applied, error) {
	if err := m.conn.Exec(ctx, migrationsTable); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	rows, err := m.conn.Query(ctx, "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	var out []Applied
	for rows.Next() {
		var a Applied
		if err := rows.Scan(&a.Version, &a.Name, &a.Checksum, &a.AppliedAt); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Up applies every migration not yet recorded, in order, and returns how many it applied.
// It refuses a database migrated by a newer binary (ErrSchemaNewer) or whose applied
// migrations differ from the embedded ones (ErrMigrationChanged). Each migration's
// statements are idempotent (IF NOT EXISTS), so a migration interrupted half-way is simply
// applied again.
func (m *Migrator) Up(ctx context.Context) (int, error) {
	applied, err := m.Applied(ctx)
	if err != nil {
		return 0, err
	}
	known := make(map[uint32]Migration, len(m.loaded))
	var latest uint32
	for _, mg := range m.loaded {
		known[mg.Version] = mg
		latest = max(latest, mg.Version)
	}
	for _, a := range applied {
		if a.Version > latest {
			return 0, fmt.Errorf("%w: database has migration %d (%s), this binary knows up to %d", ErrSchemaNewer, a.Version, a.Name, latest)
		}
	}
	done := make(map[uint32]bool, len(applied))
	for _, a := range applied {
		if mg, ok := known[a.Version]; ok && mg.Checksum != a.Checksum {
			return 0, fmt.Errorf("%w: migration %d (%s)", ErrMigrationChanged, a.Version, a.Name)
		}
		done[a.Version] = true
	}
	n := 0
	for _, mg := range m.loaded {
		if done[mg.Version] {
			continue
		}
		stmts, err := mg.Statements(m.caps, m.database)
		if err != nil {
			return n, err
		}
		for _, s := range stmts {
			if err := m.conn.Exec(ctx, s); err != nil {
				return n, fmt.Errorf("migration %d %s: %w", mg.Version, mg.Name, err)
			}
		}
		if err := m.record(ctx, mg); err != nil {
			return n, fmt.Errorf("record migration %d: %w", mg.Version, err)
		}
		m.log.Info("applied migration", "version", mg.Version, "name", mg.Name, "server", m.caps.Version.String())
		n++
	}
	return n, nil
}

// record writes mg to the migrations table. It uses a native batch: ClickHouse 18.16 does
// not accept bound VALUES over the native protocol.
func (m *Migrator) record(ctx context.Context, mg Migration) error {
	bctx, sent := BatchContext(ctx)
	defer sent()
	b, err := m.conn.PrepareBatch(bctx, "INSERT INTO schema_migrations (version, name, checksum, applied_at)")
	if err != nil {
		return err
	}
	defer b.Abort() //nolint:errcheck // a no-op once sent
	if err := b.Append(mg.Version, mg.Name, mg.Checksum, time.Now().UTC().Truncate(time.Second)); err != nil {
		return err
	}
	return b.Send()
}

// Render returns every migration's statements as they would run on a server with caps for
// the platform database database, in order. It needs no server: `meterhouse migrate
// --print` and the DDL checks use it.
func Render(caps Capabilities, database string) ([]string, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range ms {
		stmts, err := m.Statements(caps, database)
		if err != nil {
			return nil, err
		}
		out = append(out, stmts...)
	}
	return out, nil
}
