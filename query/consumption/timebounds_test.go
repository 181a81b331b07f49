package consumption

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/fault"
)

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
		var fe *fault.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(fe.Message, "time the store holds") {
			t.Errorf("%s..%s %s %s: %v, want a %s error on the store's bounds", c.from, c.to, c.step, c.loc, err, c.field)
		}
	}
}
