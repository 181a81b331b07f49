package tariff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
)

// Store keeps tariff versions in ClickHouse's tariffs table, append-only.
type Store struct {
	conn driver.Conn
	now  func() time.Time
}

// NewStore returns a store over conn, a connection to the platform database.
func NewStore(conn driver.Conn) (*Store, error) {
	if conn == nil {
		return nil, errors.New("tariff: NewStore needs a ClickHouse connection")
	}
	return &Store{conn: conn, now: time.Now}, nil
}

// Version describes one stored version of a tariff.
type Version struct {
	// ID is the tariff's id.
	ID string `json:"id"`
	// Name is the document's name.
	Name string `json:"name"`
	// EffectiveFrom is the version's first local date.
	EffectiveFrom Date `json:"effective_from"`
	// EffectiveTo is its first local date no longer in force, nil when open-ended.
	EffectiveTo *Date `json:"effective_to,omitempty"`
	// LoadedAt is when the version was loaded (to the second, UTC).
	LoadedAt time.Time `json:"loaded_at"`
}

const insertTariff = `INSERT INTO tariffs (tariff_id, effective_from, effective_to, name, document, version, loaded_at)`

// Load stores a document, which it validates first, as a new version. Loading a version
// of the same id and effective_from again supersedes the earlier load in reads; the
// earlier row stays.
func (s *Store) Load(ctx context.Context, d *Document) (Version, error) {
	if err := d.Validate(); err != nil {
		return Version{}, err
	}
	text, err := d.JSON()
	if err != nil {
		return Version{}, fmt.Errorf("store tariff: %w", err)
	}
	if d.EffectiveFrom.UTC().Year() > 2105 || (d.EffectiveTo != nil && d.EffectiveTo.UTC().Year() > 2105) || d.EffectiveFrom.UTC().Year() < 1970 {
		return Version{}, fault.Invalid("effective_from", "effective dates must be within 1970-01-01 .. 2105-12-31")
	}
	now := s.now().UTC()
	v := Version{ID: d.ID, Name: d.Name, EffectiveFrom: d.EffectiveFrom, EffectiveTo: d.EffectiveTo, LoadedAt: now.Truncate(time.Second)}
	to := time.Unix(0, 0).UTC()
	if d.EffectiveTo != nil {
		to = d.EffectiveTo.UTC()
	}
	bctx, sent := schema.BatchContext(ctx)
	defer sent()
	b, err := s.conn.PrepareBatch(bctx, insertTariff)
	if err != nil {
		return Version{}, fmt.Errorf("store tariff: %w", err)
	}
	defer b.Abort() //nolint:errcheck // a no-op once sent
	if err := b.Append(d.ID, d.EffectiveFrom.UTC(), to, d.Name, string(text), uint64(now.UnixNano()), v.LoadedAt); err != nil {
		return Version{}, fmt.Errorf("store tariff: %w", err)
	}
	if err := b.Send(); err != nil {
		return Version{}, fmt.Errorf("store tariff: %w", err)
	}
	return v, nil
}

const versionsSQL = `SELECT effective_from, argMax(document, version), max(loaded_at) FROM tariffs
WHERE tariff_id = ? GROUP BY effective_from ORDER BY effective_from`

// Get returns the version of tariff id in force at the instant at (read as a local date
// in the version's time zone): the one with the latest effective_from on or before that
// date, unless its effective_to has come. It returns an error wrapping fault.ErrNotFound
// when no version is in force.
func (s *Store) Get(ctx context.Context, id string, at time.Time) (*Document, error) {
	return s.pick(ctx, id, func(d *Document) Date {
		loc, _ := d.Location()
		return DateOf(at, loc)
	})
}

// GetOn is Get for a local date of the tariff's time zone.
func (s *Store) GetOn(ctx context.Context, id string, date Date) (*Document, error) {
	return s.pick(ctx, id, func(*Document) Date { return date })
}

// Within returns the versions of tariff id in force on some date of [from, to), oldest
// first: each version holds from its effective_from until its effective_to or the next
// version's effective_from. It returns an error wrapping fault.ErrNotFound when the tariff
// does not exist; a period only partly covered returns the versions that cover it (the
// calculation refuses the dates without one).
func (s *Store) Within(ctx context.Context, id string, from, to Date) ([]*Document, error) {
	docs, err := s.versions(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []*Document
	for i, d := range docs {
		end := d.EffectiveTo
		if i+1 < len(docs) && (end == nil || docs[i+1].EffectiveFrom.Before(*end)) {
			end = &docs[i+1].EffectiveFrom
		}
		if d.EffectiveFrom.Before(to) && (end == nil || from.Before(*end)) {
			out = append(out, d)
		}
	}
	return out, nil
}

// versions reads every version of tariff id, oldest first.
func (s *Store) versions(ctx context.Context, id string) ([]*Document, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	rows, err := s.conn.Query(ctx, versionsSQL, id)
	if err != nil {
		return nil, fmt.Errorf("read tariff: %w", err)
	}
	defer rows.Close()
	var docs []*Document
	for rows.Next() {
		var (
			from   time.Time
			text   string
			loaded time.Time
		)
		if err := rows.Scan(&from, &text, &loaded); err != nil {
			return nil, fmt.Errorf("read tariff: %w", err)
		}
		d, err := Parse(bytes.NewReader([]byte(text)))
		if err != nil {
			return nil, fmt.Errorf("tariff %s, version of %s: stored document: %w", id, from.Format(time.DateOnly), err)
		}
		docs = append(docs, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read tariff: %w", err)
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%w: no tariff %q", fault.ErrNotFound, id)
	}
	return docs, nil
}

func (s *Store) pick(ctx context.Context, id string, dateOf func(*Document) Date) (*Document, error) {
	docs, err := s.versions(ctx, id)
	if err != nil {
		return nil, err
	}
	var found *Document
	var on Date
	for _, d := range docs {
		date := dateOf(d)
		if !date.Before(d.EffectiveFrom) {
			found, on = d, date
		}
	}
	if found == nil {
		on = dateOf(docs[0])
		return nil, fmt.Errorf("%w: tariff %q has no version in force on %s (the first is of %s)", fault.ErrNotFound, id, on, docs[0].EffectiveFrom)
	}
	if found.EffectiveTo != nil && !on.Before(*found.EffectiveTo) {
		return nil, fmt.Errorf("%w: tariff %q has no version in force on %s (the version of %s ended on %s)", fault.ErrNotFound, id, on, found.EffectiveFrom, found.EffectiveTo)
	}
	return found, nil
}

const listSQL = `SELECT tariff_id, effective_from, argMax(effective_to, version), argMax(name, version), max(loaded_at)
FROM tariffs GROUP BY tariff_id, effective_from ORDER BY tariff_id, effective_from`

// List returns every tariff's versions (the latest load of each id and effective_from),
// by id and date.
func (s *Store) List(ctx context.Context) ([]Version, error) {
	rows, err := s.conn.Query(ctx, listSQL)
	if err != nil {
		return nil, fmt.Errorf("list tariffs: %w", err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		var (
			v        Version
			from, to time.Time
		)
		if err := rows.Scan(&v.ID, &from, &to, &v.Name, &v.LoadedAt); err != nil {
			return nil, fmt.Errorf("list tariffs: %w", err)
		}
		v.EffectiveFrom = DateOf(from, time.UTC)
		if to.Unix() > 0 {
			e := DateOf(to, time.UTC)
			v.EffectiveTo = &e
		}
		v.LoadedAt = v.LoadedAt.UTC()
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tariffs: %w", err)
	}
	return out, nil
}
