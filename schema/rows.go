package schema

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/fault"
)

// Reading is one register reading as a meter reported it: the cumulative import register in
// whole watt-hours at the end of an interval. TS is that end, in UTC, to the second.
type Reading struct {
	// MeterID identifies the meter (1 to 64 characters of A-Z a-z 0-9 . _ : -).
	MeterID string
	// TS is the end of the interval the reading closes, in UTC.
	TS time.Time
	// RegisterWh is the cumulative import register in Wh; never negative.
	RegisterWh int64
	// Quality is the reading's quality code as the meter reports it, 0 to 255; 0 when it
	// reports none.
	Quality uint8
}

// Meter is one meter of the registry.
type Meter struct {
	// MeterID identifies the meter.
	MeterID string
	// CustomerClass is residential, commercial or industrial.
	CustomerClass string
	// Feeder names the distribution feeder the meter hangs off.
	Feeder string
	// Region names the service region.
	Region string
	// Tariff names the tariff the customer is billed on.
	Tariff string
	// TimeZone is the customer's IANA time zone, used for calendars and billing periods.
	TimeZone string
	// LifeSupport marks premises with life-support equipment, which must never be
	// disconnected remotely.
	LifeSupport bool
	// Status is active, inactive or removed.
	Status string
	// UpdatedAt is when this version of the registry entry was written; the newest wins.
	UpdatedAt time.Time
}

// MeterIDMaxLen is the longest meter id accepted.
const MeterIDMaxLen = 64

// ValidMeterID reports whether id is 1 to 64 characters from A-Z a-z 0-9 . _ : -.
// It takes bytes so that decoders can check ids without converting them to strings.
func ValidMeterID(id []byte) bool {
	if len(id) == 0 || len(id) > MeterIDMaxLen {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// InsertMeters writes registry entries; an entry for an existing meter replaces it once
// its UpdatedAt is newer.
func InsertMeters(ctx context.Context, conn driver.Conn, meters []Meter) error {
	if len(meters) == 0 {
		return nil
	}
	bctx, sent := BatchContext(ctx)
	defer sent()
	batch, err := conn.PrepareBatch(bctx, "INSERT INTO meters (meter_id, customer_class, feeder, region, tariff, time_zone, life_support, status, updated_at)")
	if err != nil {
		return fmt.Errorf("prepare meters insert: %w", err)
	}
	defer batch.Abort() //nolint:errcheck // a no-op once sent
	for _, m := range meters {
		var ls uint8
		if m.LifeSupport {
			ls = 1
		}
		if err := batch.Append(m.MeterID, m.CustomerClass, m.Feeder, m.Region, m.Tariff, m.TimeZone, ls, m.Status, m.UpdatedAt.UTC()); err != nil {
			return fmt.Errorf("meter %s: %w", m.MeterID, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d meters: %w", len(meters), err)
	}
	return nil
}

// CheckRegion returns a fault.FieldError naming field unless region is a value the
// registry's region column may take in reference data (calendars, weather): 1 to 64
// characters from A-Z a-z 0-9 . _ : -, the alphabet of meter ids.
func CheckRegion(field, region string) error {
	if !ValidMeterID([]byte(region)) {
		return fault.Invalid(field, "%q is not a region: want 1-64 characters of A-Z a-z 0-9 . _ : -", region)
	}
	return nil
}
