package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/meterhouse/meterhouse/schema"
)

// Writer stores batches of readings. Write returns nil only once the store has accepted
// every reading in cols; after an error some, all or none of them may be stored, and the
// caller retries the whole batch, which is safe because storage deduplicates on
// (meter_id, ts). Write must not retain cols after it returns. Implementations must be safe
// for concurrent use by several consumers.
type Writer interface {
	Write(ctx context.Context, cols *Columns) error
}

// ClickHouseWriter inserts batches into the readings table with one native-protocol
// columnar INSERT per batch.
type ClickHouseWriter struct {
	conn driver.Conn
}

// NewClickHouseWriter returns a writer over conn, whose pool should allow one connection
// per concurrent consumer.
func NewClickHouseWriter(conn driver.Conn) (*ClickHouseWriter, error) {
	if conn == nil {
		return nil, errors.New("ingest: NewClickHouseWriter needs a connection")
	}
	return &ClickHouseWriter{conn: conn}, nil
}

const insertReadings = "INSERT INTO readings (meter_id, ts, register_wh, quality)"

// Write implements Writer by handing each column to the driver whole.
func (w *ClickHouseWriter) Write(ctx context.Context, cols *Columns) error {
	if cols.Len() == 0 {
		return nil
	}
	bctx, sent := schema.BatchContext(ctx)
	defer sent()
	batch, err := w.conn.PrepareBatch(bctx, insertReadings)
	if err != nil {
		return fmt.Errorf("prepare insert: %w", err)
	}
	defer batch.Abort() //nolint:errcheck // a no-op once sent
	for i, col := range []any{cols.MeterID, cols.TS, cols.RegisterWh, cols.Quality} {
		if err := batch.Column(i).Append(col); err != nil {
			return fmt.Errorf("append column %d: %w", i, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d readings: %w", cols.Len(), err)
	}
	return nil
}
