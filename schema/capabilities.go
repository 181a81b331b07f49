package schema

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Version is a ClickHouse server version such as 18.16.1 or 24.8.4.13.
type Version struct {
	Major, Minor, Patch int
}

// ParseVersion reads the leading major.minor[.patch] of a version string.
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) < 2 {
		return Version{}, fmt.Errorf("server version %q: want major.minor", s)
	}
	var nums [3]int
	for i := 0; i < 3 && i < len(parts); i++ {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return Version{}, fmt.Errorf("server version %q: %w", s, err)
		}
		nums[i] = n
	}
	return Version{Major: nums[0], Minor: nums[1], Patch: nums[2]}, nil
}

// AtLeast reports whether v is major.minor or newer.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

// String formats v as major.minor.patch.
func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// Capabilities says which DDL features the connected server supports. Migrations are
// templates that consult it, so one set of migrations serves the 18.16 floor that tests
// run on and the current servers that production runs.
type Capabilities struct {
	// Version is the server's version.
	Version Version
	// Codecs is true when columns accept CODEC(Delta, DoubleDelta, Gorilla, ZSTD) (19.11+).
	Codecs bool
	// TTL is true when tables accept a TTL clause (19.6+).
	TTL bool
	// LowCardinality is true when LowCardinality(String) is a stable type (19.9+; it is
	// experimental before).
	LowCardinality bool
	// DateTime64 is true when the DateTime64 type exists (20.1+).
	DateTime64 bool
}

// CapabilitiesOf derives the capabilities of a server version.
func CapabilitiesOf(v Version) Capabilities {
	return Capabilities{
		Version:        v,
		Codecs:         v.AtLeast(19, 11),
		TTL:            v.AtLeast(19, 6),
		LowCardinality: v.AtLeast(19, 9),
		DateTime64:     v.AtLeast(20, 1),
	}
}

// Detect asks the server for its version and derives its capabilities.
func Detect(ctx context.Context, conn driver.Conn) (Capabilities, error) {
	var s string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&s); err != nil {
		return Capabilities{}, fmt.Errorf("read server version: %w", err)
	}
	v, err := ParseVersion(s)
	if err != nil {
		return Capabilities{}, err
	}
	return CapabilitiesOf(v), nil
}
