package invoice

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/meterhouse/meterhouse/schema"
)

// Store keeps invoices in ClickHouse's invoices table. It is safe for concurrent use.
type Store struct {
	conn driver.Conn
}

// NewStore returns a store over conn.
func NewStore(conn driver.Conn) (*Store, error) {
	if conn == nil {
		return nil, errors.New("invoice: NewStore needs a connection")
	}
	return &Store{conn: conn}, nil
}

const insertSQL = `INSERT INTO invoices (id, kind, sequence, original, agreement_id, account_id, period_from, period_to,
tariff_id, tariff_version, currency, total, estimated_wh, estimated_intervals,
line_name, line_quantity, line_unit, line_rate, line_amount, issued)`

// Write stores the invoices in one insert.
func (s *Store) Write(ctx context.Context, ins []Invoice) error {
	if len(ins) == 0 {
		return nil
	}
	bctx, done := schema.BatchContext(ctx)
	defer done()
	b, err := s.conn.PrepareBatch(bctx, insertSQL)
	if err != nil {
		return fmt.Errorf("write invoices: %w", err)
	}
	for _, in := range ins {
		var names, qty, units, rates, amounts []string
		for _, l := range in.Lines {
			names, units = append(names, l.Name), append(units, l.Unit)
			qty, rates, amounts = append(qty, l.Quantity.String()), append(rates, l.Rate.String()), append(amounts, l.Amount.String())
		}
		if err := b.Append(in.ID, string(in.Kind), uint16(in.Sequence), in.Original, in.AgreementID, in.AccountID,
			in.From, in.To, in.TariffID, in.TariffVersion, in.Currency, in.Total.String(), in.EstimatedWh,
			uint32(in.EstimatedIntervals), names, qty, units, rates, amounts, in.Issued.UTC().Truncate(time.Second)); err != nil {
			_ = b.Abort()
			return fmt.Errorf("write invoice %s: %w", in.ID, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("write invoices: %w", err)
	}
	return nil
}

// Period returns the invoices issued for an agreement's period [from, to), bill first.
func (s *Store) Period(ctx context.Context, agreementID string, from, to time.Time) ([]Invoice, error) {
	return s.query(ctx, `WHERE agreement_id = ? AND period_from = toDate(?) AND period_to = toDate(?) ORDER BY sequence`,
		agreementID, from.Format(time.DateOnly), to.Format(time.DateOnly))
}

// Within returns the invoices of the agreements whose periods lie within [from, to).
func (s *Store) Within(ctx context.Context, agreementIDs []string, from, to time.Time) ([]Invoice, error) {
	return s.query(ctx, `WHERE agreement_id IN (SELECT arrayJoin(?)) AND period_from >= toDate(?) AND period_to <= toDate(?)
ORDER BY agreement_id, period_from, sequence`, agreementIDs, from.Format(time.DateOnly), to.Format(time.DateOnly))
}

// Agreement returns every invoice of an agreement, oldest period first.
func (s *Store) Agreement(ctx context.Context, agreementID string) ([]Invoice, error) {
	return s.query(ctx, `WHERE agreement_id = ? ORDER BY period_from, sequence`, agreementID)
}

func (s *Store) query(ctx context.Context, where string, args ...any) ([]Invoice, error) {
	rows, err := s.conn.Query(ctx, `SELECT id, kind, sequence, original, agreement_id, account_id, period_from, period_to,
tariff_id, tariff_version, currency, total, estimated_wh, estimated_intervals,
line_name, line_quantity, line_unit, line_rate, line_amount, issued FROM invoices FINAL `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read invoices: %w", err)
	}
	defer rows.Close()
	var out []Invoice
	for rows.Next() {
		var in Invoice
		var kind, total string
		var seq uint16
		var estIntervals uint32
		var names, qty, units, rates, amounts []string
		if err := rows.Scan(&in.ID, &kind, &seq, &in.Original, &in.AgreementID, &in.AccountID, &in.From, &in.To,
			&in.TariffID, &in.TariffVersion, &in.Currency, &total, &in.EstimatedWh, &estIntervals,
			&names, &qty, &units, &rates, &amounts, &in.Issued); err != nil {
			return nil, fmt.Errorf("read invoices: %w", err)
		}
		in.Kind, in.Sequence, in.EstimatedIntervals = Kind(kind), int(seq), int(estIntervals)
		if in.Total, err = decimal.NewFromString(total); err != nil {
			return nil, fmt.Errorf("invoice %s: total %q: %w", in.ID, total, err)
		}
		for i := range names {
			l := Line{Name: names[i], Unit: units[i]}
			for _, f := range []struct {
				dst  *decimal.Decimal
				text string
			}{{&l.Quantity, qty[i]}, {&l.Rate, rates[i]}, {&l.Amount, amounts[i]}} {
				if *f.dst, err = decimal.NewFromString(f.text); err != nil {
					return nil, fmt.Errorf("invoice %s line %d: %q: %w", in.ID, i, f.text, err)
				}
			}
			in.Lines = append(in.Lines, l)
		}
		in.From, in.To = date(in.From), date(in.To)
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read invoices: %w", err)
	}
	return out, nil
}

// date is t's calendar date as a UTC midnight.
func date(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
