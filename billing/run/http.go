package run

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/billing/invoice"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/table"
)

// maxHolds bounds one answer of the holds route.
const maxHolds = 100_000

// Register adds the billing run's routes to srv: the agreements held and the cycle
// calendars (role billing).
func (r *Runner) Register(srv *api.Server) error {
	name := api.Param{Name: "calendar", In: "path", Required: true, Description: "The cycle calendar's name (an agreement's cycle_calendar)."}
	if err := srv.Handle(api.Route{
		Method: http.MethodPut, Path: "/v1/billing/cycles/:calendar",
		Summary: "Loads a cycle calendar: the billing periods of the agreements that follow it.",
		Description: "The body is a JSON list of periods {from, to} (dates, to exclusive) that follow each other without gap or " +
			"overlap, 1 to 62 days each. Periods stored earlier that start on the same dates are replaced; those inside the " +
			"new range that start on other dates are withdrawn. The scheduled run bills a calendar's period on the days after it ends.",
		Roles:    invoice.ReadRoles,
		Params:   []api.Param{name},
		Body:     &api.Body{ContentTypes: []string{"application/json"}, Required: true, Description: "The periods.", Example: `[{"from": "2026-01-05", "to": "2026-02-04"}, {"from": "2026-02-04", "to": "2026-03-06"}]`},
		Response: "The calendar's periods as stored.",
		Handler:  r.handlePutCycles,
	}); err != nil {
		return err
	}
	if err := srv.Handle(api.Route{
		Method: http.MethodGet, Path: "/v1/billing/cycles/:calendar",
		Summary:  "Returns a cycle calendar's periods: columns period_from, period_to (exclusive).",
		Roles:    invoice.ReadRoles,
		Params:   []api.Param{name},
		Response: "One row per period, as JSON, CSV or Arrow by the Accept header; 404 for an unknown calendar.",
		Handler:  r.handleGetCycles,
	}); err != nil {
		return err
	}
	return srv.Handle(api.Route{
		Method: http.MethodGet, Path: "/v1/billing/holds",
		Summary: "Lists the agreements the billing runs held, with the reason, for the periods starting in [from, to).",
		Description: "Columns agreement_id, period_from, period_to (exclusive), cycle_day, reason, since (when the latest run held it). " +
			"A hold is released when a later run bills the agreement. At most limit rows (default and most 100000); " +
			"the JSON answer says truncated. Output by Accept: application/json (default), text/csv or application/vnd.apache.arrow.stream.",
		Roles: invoice.ReadRoles,
		Params: []api.Param{
			{Name: "from", In: "query", Required: true, Description: "First period start date, YYYY-MM-DD."},
			{Name: "to", In: "query", Description: "Date after the last period start; default one month after from."},
			{Name: "limit", In: "query", Description: "Most rows, 1 … 100000."},
		},
		Response: "One row per held agreement and period.",
		Handler:  r.handleHolds,
	})
}

func (r *Runner) handleHolds(c echo.Context) error {
	from, err := time.Parse(time.DateOnly, c.QueryParam("from"))
	if err != nil {
		return fault.Invalid("from", "%q is not a date like 2026-03-01", c.QueryParam("from"))
	}
	to := from.AddDate(0, 1, 0)
	if v := c.QueryParam("to"); v != "" {
		if to, err = time.Parse(time.DateOnly, v); err != nil || !to.After(from) {
			return fault.Invalid("to", "%q is not a date after from", v)
		}
	}
	limit := maxHolds
	if v := c.QueryParam("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxHolds {
			return fault.Invalid("limit", "%q: want 1 … %d", v, maxHolds)
		}
	}
	hs, truncated, err := r.Holds(c.Request().Context(), from, to, limit)
	if err != nil {
		return err
	}
	var ids, reasons []string
	var froms, tos, since []time.Time
	var cycles []int64
	for _, h := range hs {
		ids, reasons = append(ids, h.AgreementID), append(reasons, h.Reason)
		froms, tos, since = append(froms, h.From), append(tos, h.To), append(since, h.Since)
		cycles = append(cycles, int64(h.CycleDay))
	}
	t := table.New(table.Strings("agreement_id", ids), table.Dates("period_from", froms), table.Dates("period_to", tos),
		table.Int64s("cycle_day", cycles), table.Strings("reason", reasons), table.Times("since", since))
	return table.Respond(c, table.Result{Table: t, Meta: map[string]any{"truncated": truncated}})
}

// cycleJSON is a period of a cycle calendar in a request body.
type cycleJSON struct {
	From string `json:"from"`
	To   string `json:"to"`
}

func (r *Runner) handlePutCycles(c echo.Context) error {
	name := c.Param("calendar")
	var body []cycleJSON
	dec := json.NewDecoder(io.LimitReader(c.Request().Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return fault.Invalid("body", "want a JSON list of {from, to} periods: %v", err)
	}
	var ps []Period
	for i, p := range body {
		from, err := time.Parse(time.DateOnly, p.From)
		if err != nil {
			return fault.Invalid(fmt.Sprintf("periods[%d].from", i), "%q is not a date like 2026-01-05", p.From)
		}
		to, err := time.Parse(time.DateOnly, p.To)
		if err != nil {
			return fault.Invalid(fmt.Sprintf("periods[%d].to", i), "%q is not a date like 2026-02-04", p.To)
		}
		ps = append(ps, Period{From: from, To: to, Calendar: name})
	}
	if err := r.LoadCycles(c.Request().Context(), name, ps); err != nil {
		return err
	}
	return r.handleGetCycles(c)
}

func (r *Runner) handleGetCycles(c echo.Context) error {
	name := c.Param("calendar")
	if !calendarName.MatchString(name) {
		return fault.Invalid("calendar", "%q: want 1 to 64 letters, digits, '.', '_' or '-'", name)
	}
	ps, err := r.Cycles(c.Request().Context(), name)
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		return fmt.Errorf("%w: no cycle calendar %q", fault.ErrNotFound, name)
	}
	var froms, tos []time.Time
	for _, p := range ps {
		froms, tos = append(froms, p.From), append(tos, p.To)
	}
	return table.Respond(c, table.Result{Table: table.New(table.Dates("period_from", froms), table.Dates("period_to", tos))})
}
