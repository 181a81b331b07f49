package consumption

import (
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/table"
)

// Register adds the query routes to srv.
func (s *Service) Register(srv *api.Server) error {
	return srv.Handle(api.Route{
		Method: http.MethodGet, Path: "/v1/meters/:meter_id/consumption",
		Summary: "A meter's consumption per interval in Wh: raw register differences, or validated consumption with quality.",
		Description: "source=raw (default) gives register differences of the stored readings; source=validated gives the " +
			"VEE job's consumption, estimated and edited where needed, with quality code, estimated, edited and questionable " +
			"interval counts and completeness per point. JSON by default; text/csv or application/vnd.apache.arrow.stream " +
			"by the Accept header.",
		Roles: []api.Role{api.RoleAnalyst, api.RoleBilling},
		Params: []api.Param{
			{Name: "meter_id", In: "path", Required: true, Description: "Meter id."},
			{Name: "from", In: "query", Required: true, Description: "Start of the range, RFC 3339; rounded down to a whole step."},
			{Name: "to", In: "query", Required: true, Description: "End of the range (exclusive), RFC 3339; rounded up to a whole step."},
			{Name: "step", In: "query", Description: "Interval length: 15m, 1h (default), 1d or 1mo."},
			{Name: "tz", In: "query", Description: "IANA time zone of 1d and 1mo steps (default UTC); its days last 23 to 25 hours across daylight-saving changes."},
			{Name: "source", In: "query", Description: "raw (default) or validated."},
		},
		Handler: s.handleConsumption,
	})
}

func (s *Service) handleConsumption(c echo.Context) error {
	id := c.Param("meter_id")
	if !schema.ValidMeterID([]byte(id)) {
		return fault.Invalid("meter_id", "%q is not 1-64 characters of A-Z a-z 0-9 . _ : -", id)
	}
	from, err := TimeParam(c, "from")
	if err != nil {
		return err
	}
	to, err := TimeParam(c, "to")
	if err != nil {
		return err
	}
	req := Request{MeterID: id, From: from, To: to, Step: Step1h, Location: time.UTC, Source: SourceRaw}
	if v := c.QueryParam("step"); v != "" {
		if req.Step, err = ParseMeterStep(v); err != nil {
			return fault.Invalid("step", "%v", err)
		}
	}
	if v := c.QueryParam("tz"); v != "" {
		if req.Location, err = time.LoadLocation(v); err != nil || v == "Local" {
			return fault.Invalid("tz", "%q is not an IANA time zone like Europe/Berlin", v)
		}
	}
	if v := c.QueryParam("source"); v != "" {
		if req.Source, err = ParseSource(v); err != nil {
			return fault.Invalid("source", "%v", err)
		}
	}
	f, err := table.Accepted(c)
	if err != nil {
		return err
	}
	res, err := s.Consumption(c.Request().Context(), req)
	if err != nil {
		return err
	}
	if f == table.FormatJSON {
		buf := jsonBuffers.Get().(*[]byte)
		*buf = append(res.AppendJSON((*buf)[:0]), '\n') // as json.Encoder ends it
		err := c.JSONBlob(http.StatusOK, *buf)
		if cap(*buf) <= maxPooledJSON {
			jsonBuffers.Put(buf)
		}
		return err
	}
	return table.RespondAs(c, f, table.Result{Table: res.Table()})
}

// jsonBuffers holds the buffers JSON answers are appended to, reused across requests: a
// month of hourly points is about 40 KB, a year of 15-minute points a few MB.
// A buffer grown beyond maxPooledJSON by a long range is left to the garbage collector.
var jsonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// maxPooledJSON is the largest buffer kept in jsonBuffers.
const maxPooledJSON = 4 << 20

// TimeParam reads a required RFC 3339 query parameter, within what the store holds.
func TimeParam(c echo.Context, name string) (time.Time, error) {
	v := c.QueryParam(name)
	if v == "" {
		return time.Time{}, fault.Invalid(name, "is required (RFC 3339, like 2026-01-01T00:00:00Z)")
	}
	return schema.ParseTime(name, v)
}
