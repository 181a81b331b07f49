package schema

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/fault"
)

// GroupKind is a way of grouping meters in group_consumption: by feeder, region, customer
// class, tariff, or the whole fleet.
type GroupKind string

// The group kinds of the group_consumption table. Except the fleet, whose only group id is
// FleetID, each is also the name of the column of the meters table that holds a meter's
// group.
const (
	KindFeeder        GroupKind = "feeder"
	KindRegion        GroupKind = "region"
	KindCustomerClass GroupKind = "customer_class"
	KindTariff        GroupKind = "tariff"
	KindFleet         GroupKind = "fleet"
)

// GroupKinds lists the group kinds in the order the VEE job writes them.
var GroupKinds = []GroupKind{KindFeeder, KindRegion, KindCustomerClass, KindTariff, KindFleet}

// FleetID is the group id of the whole fleet.
const FleetID = "all"

// ParseGroupKind validates a group kind.
func ParseGroupKind(s string) (GroupKind, error) {
	switch k := GroupKind(s); k {
	case KindFeeder, KindRegion, KindCustomerClass, KindTariff, KindFleet:
		return k, nil
	}
	return "", fmt.Errorf("%q is not a group kind: want feeder, region, customer_class, tariff or fleet", s)
}

// RegistryColumn returns the column of the meters table holding a meter's group of kind k,
// or "" for the fleet. The names are constants, never request text, so they may be
// written into SQL.
func (k GroupKind) RegistryColumn() string {
	if k == KindFleet {
		return ""
	}
	return string(k)
}

// MeterKnownSQL counts a meter's registry entries and readings (parameters: the id twice).
const MeterKnownSQL = `SELECT (SELECT count() FROM meters WHERE meter_id = ?) + (SELECT count() FROM readings WHERE meter_id = ?)`

// MeterKnown reports whether the registry lists the meter or any reading names it: a meter
// is known once either holds it.
func MeterKnown(ctx context.Context, conn driver.Conn, meterID string) (bool, error) {
	var n uint64
	if err := conn.QueryRow(ctx, MeterKnownSQL, meterID, meterID).Scan(&n); err != nil {
		return false, fmt.Errorf("look up meter: %w", err)
	}
	return n > 0, nil
}

// GroupIDMaxLen is the longest group id accepted.
const GroupIDMaxLen = 256

// CheckGroupID returns a fault.FieldError naming field unless id is a group id of kind k:
// FleetID for the fleet, otherwise 1 to GroupIDMaxLen printable characters of valid UTF-8.
// Every group id a request or a job gives goes through it.
func CheckGroupID(field string, k GroupKind, id string) error {
	switch {
	case k == KindFleet && id != FleetID:
		return fault.Invalid(field, "the fleet's only group id is %q", FleetID)
	case id == "":
		return fault.Invalid(field, "is required")
	case len(id) > GroupIDMaxLen || !utf8.ValidString(id) || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fault.Invalid(field, "is not a group id: at most %d printable characters", GroupIDMaxLen)
	}
	return nil
}
