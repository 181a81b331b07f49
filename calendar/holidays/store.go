package holidays

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
)

// Store keeps the calendars in ClickHouse's calendar_days table.
type Store struct {
	conn driver.Conn
	now  func() time.Time
}

// NewStore returns a store over conn, a connection to the platform database.
func NewStore(conn driver.Conn) (*Store, error) {
	if conn == nil {
		return nil, errors.New("holidays: NewStore needs a ClickHouse connection")
	}
	return &Store{conn: conn, now: time.Now}, nil
}

const insertDays = `INSERT INTO calendar_days (region, date, kind, name, source, version, loaded_at)`

// Load stores entries, replacing the entries of the same region and date; source says
// where they came from ("file", "api", "rules:DE"). It returns the number stored. All the
// entries go in one insert, so a load is stored whole or not at all.
func (s *Store) Load(ctx context.Context, entries []Entry, source string) (int, error) {
	if len(entries) == 0 {
		return 0, fault.Invalid("body", "no entries to load")
	}
	now := s.now().UTC()
	version, loaded := uint64(now.UnixNano()), now.Truncate(time.Second)
	bctx, sent := schema.BatchContext(ctx)
	defer sent()
	b, err := s.conn.PrepareBatch(bctx, insertDays)
	if err != nil {
		return 0, fmt.Errorf("store calendar: %w", err)
	}
	defer b.Abort() //nolint:errcheck // a no-op once sent
	for _, e := range entries {
		if err := b.Append(e.Region, dateKey(e.Date), string(e.Kind), e.Name, source, version, loaded); err != nil {
			return 0, fmt.Errorf("store calendar: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return 0, fmt.Errorf("store calendar: %w", err)
	}
	return len(entries), nil
}

const entriesSQL = `SELECT date, kind, name FROM calendar_days FINAL
WHERE region = ? AND date >= toDate(?) AND date < toDate(?) ORDER BY date`

// Entries returns the entries of region over the dates [from, to) (their calendar dates in
// their own locations), in date order.
func (s *Store) Entries(ctx context.Context, region string, from, to time.Time) ([]Entry, error) {
	if err := schema.CheckRegion("region", region); err != nil {
		return nil, err
	}
	// Dates are bound as text: 18.16 compares a Date with a bound DateTime as numbers
	// (days against seconds).
	rows, err := s.conn.Query(ctx, entriesSQL, region, dateKey(from).Format(time.DateOnly), dateKey(to).Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("read calendar: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var (
			d          time.Time
			kind, name string
		)
		if err := rows.Scan(&d, &kind, &name); err != nil {
			return nil, fmt.Errorf("read calendar: %w", err)
		}
		y, m, dd := d.Date()
		out = append(out, Entry{Region: region, Date: time.Date(y, m, dd, 0, 0, 0, 0, time.UTC), Kind: EntryKind(kind), Name: name})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read calendar: %w", err)
	}
	return out, nil
}

// Days returns the calendar of region over the dates [from, to), what a forecast asks
// Kind and IsWorking of.
func (s *Store) Days(ctx context.Context, region string, from, to time.Time) (*Days, error) {
	es, err := s.Entries(ctx, region, from, to)
	if err != nil {
		return nil, err
	}
	return NewDays(region, from, to, es)
}
