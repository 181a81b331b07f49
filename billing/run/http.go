package run

import (
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

// Register adds the billing run's route to srv: the agreements held (role billing).
func (r *Runner) Register(srv *api.Server) error {
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
