package query

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/meterhouse/meterhouse/api"
)

// TestParseTimeBounds checks that times the store cannot hold (before 1970, or after the
// end of 2105, past which ClickHouse 18.16 misreads DateTime text) are refused with the
// field named, and the bounds themselves accepted.
func TestParseTimeBounds(t *testing.T) {
	for _, c := range []struct {
		v, msg string // msg "" when valid
	}{
		{"1970-01-01T00:00:00Z", ""},
		{"2105-12-31T23:59:59Z", ""},
		{"2106-01-01T00:59:59+01:00", ""},
		{"1969-12-31T23:59:59Z", "from: 1969-12-31T23:59:59Z is before 1970-01-01T00:00:00Z, the earliest time the store holds"},
		{"1900-01-01T00:00:00Z", "before 1970-01-01T00:00:00Z"},
		{"2106-01-01T00:00:00Z", "after 2105-12-31T23:59:59Z"}, // 18.16 misreads it as text
		{"2106-02-07T06:28:15Z", "after 2105-12-31T23:59:59Z"}, // schema.MaxDateTime
		{"2105-12-31T23:59:59.5Z", "after 2105-12-31T23:59:59Z"},
		{"2163-01-01T00:00:00Z", "after 2105-12-31T23:59:59Z"},
		{"2200-01-01T00:00:00Z", "from: 2200-01-01T00:00:00Z is after 2105-12-31T23:59:59Z, the latest time the store holds"},
	} {
		_, err := ParseTime("from", c.v)
		if c.msg == "" {
			if err != nil {
				t.Errorf("%s: %v", c.v, err)
			}
			continue
		}
		var fe *api.FieldError
		if !errors.As(err, &fe) || fe.Field != "from" || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want a from error containing %q", c.v, err, c.msg)
		}
	}
}

// TestConsumptionRangeRounding checks that a range whose rounding to whole steps, local
// days or local months leaves what the store holds is refused, naming the field, before
// any query runs.
func TestConsumptionRangeRounding(t *testing.T) {
	sp, err := time.LoadLocation("America/Sao_Paulo")
	if err != nil {
		t.Fatal(err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{cfg: DefaultConfig()} // no connection: every case is refused first
	at := func(v string) time.Time {
		x, err := time.Parse(time.RFC3339, v)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	for _, c := range []struct {
		from, to string
		step     Step
		loc      *time.Location
		field    string
	}{
		{"1970-01-01T00:00:00Z", "1970-01-02T00:00:00Z", Step1d, sp, "from"},        // local day starts on 1969-12-31
		{"1970-01-05T00:00:00Z", "1970-01-06T00:00:00Z", Step1mo, berlin, "from"},   // the local month starts at 1969-12-31T23:00Z
		{"2105-12-01T00:00:00Z", "2105-12-31T23:30:00Z", Step1h, time.UTC, "to"},    // rounded up to 2106-01-01T00:00
		{"2105-12-01T00:00:00Z", "2105-12-31T00:00:01Z", Step1d, time.UTC, "to"},    // rounded up to 2106-01-01
		{"2105-11-01T00:00:00Z", "2105-12-02T00:00:00Z", Step1mo, time.UTC, "to"},   // rounded up to 2106-01-01
		{"2200-01-01T00:00:00Z", "2200-01-02T00:00:00Z", Step15m, time.UTC, "from"}, // outside before rounding
		{"2026-01-01T00:00:00Z", "2200-01-02T00:00:00Z", Step15m, time.UTC, "to"},   // outside before rounding
	} {
		_, err := s.Consumption(context.Background(), Request{MeterID: "m", From: at(c.from), To: at(c.to), Step: c.step, Location: c.loc})
		var fe *api.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(fe.Message, "time the store holds") {
			t.Errorf("%s..%s %s %s: %v, want a %s error on the store's bounds", c.from, c.to, c.step, c.loc, err, c.field)
		}
	}
}

// TestTimeRangeBounds checks the range parameters of the analytics routes.
func TestTimeRangeBounds(t *testing.T) {
	for _, c := range []struct {
		query, field string
	}{
		{"from=1900-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"},
		{"from=2026-01-01T00:00:00Z&to=2200-01-01T00:00:00Z", "to"},
		{"from=2105-12-31T00:00:00Z&to=2105-12-31T23:20:00Z", "to"}, // rounded up to 2106-01-01T00:00
	} {
		c2 := echo.New().NewContext(httptest.NewRequest("GET", "/v1/fleet/load?"+c.query, nil), httptest.NewRecorder())
		_, _, err := timeRange(c2, time.Hour, 1000)
		var fe *api.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(fe.Message, "time the store holds") {
			t.Errorf("%s: %v, want a %s error on the store's bounds", c.query, err, c.field)
		}
	}
	c2 := echo.New().NewContext(httptest.NewRequest("GET", "/v1/fleet/load?from=2105-12-31T00:00:00Z&to=2105-12-31T23:00:00Z", nil), httptest.NewRecorder())
	if _, _, err := timeRange(c2, time.Hour, 1000); err != nil {
		t.Errorf("a range ending on the last whole hour: %v", err)
	}
}
