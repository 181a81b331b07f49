package analytics

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/meterhouse/meterhouse/fault"
)

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
		var fe *fault.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(fe.Message, "time the store holds") {
			t.Errorf("%s: %v, want a %s error on the store's bounds", c.query, err, c.field)
		}
	}
	c2 := echo.New().NewContext(httptest.NewRequest("GET", "/v1/fleet/load?from=2105-12-31T00:00:00Z&to=2105-12-31T23:00:00Z", nil), httptest.NewRecorder())
	if _, _, err := timeRange(c2, time.Hour, 1000); err != nil {
		t.Errorf("a range ending on the last whole hour: %v", err)
	}
}
