package invoice

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/table"
)

// ReadRoles may read invoices, besides admin.
var ReadRoles = []api.Role{api.RoleBilling}

// Register adds the invoice routes to srv: an agreement's invoices, and one invoice with
// its lines (role billing).
func (s *Store) Register(srv *api.Server) error {
	agreement := api.Param{Name: "agreement_id", In: "path", Required: true, Description: "The service agreement's id."}
	if err := srv.Handle(api.Route{
		Method: http.MethodGet, Path: "/v1/agreements/:agreement_id/invoices",
		Summary: "Lists an agreement's invoices, bills and adjustments, oldest period first.",
		Description: "Columns id, kind (bill or adjustment), sequence, original (the bill an adjustment corrects), period_from, " +
			"period_to (exclusive), tariff_id, tariff_version, currency, total (an exact decimal as text), estimated_wh, " +
			"estimated_intervals, issued. Output by Accept: application/json (default), text/csv or application/vnd.apache.arrow.stream.",
		Roles:    ReadRoles,
		Params:   []api.Param{agreement},
		Response: "One row per invoice.",
		Handler:  s.handleList,
	}); err != nil {
		return err
	}
	return srv.Handle(api.Route{
		Method: http.MethodGet, Path: "/v1/agreements/:agreement_id/invoices/:invoice_id",
		Summary: "Returns one invoice with its lines.",
		Description: "JSON: the invoice with lines (name, quantity, unit, rate, amount; decimals as exact text) and total. " +
			"text/csv or Arrow by the Accept header: the lines as rows. 404 when the agreement has no such invoice.",
		Roles:    ReadRoles,
		Params:   []api.Param{agreement, {Name: "invoice_id", In: "path", Required: true, Description: "The invoice id (INV-…)."}},
		Response: "The invoice.",
		Handler:  s.handleGet,
	})
}

func (s *Store) agreementParam(c echo.Context) (string, error) {
	id := c.Param("agreement_id")
	if id == "" || len(id) > 64 {
		return "", fault.Invalid("agreement_id", "%q is not an agreement id (1-64 characters)", id)
	}
	return id, nil
}

func (s *Store) handleList(c echo.Context) error {
	id, err := s.agreementParam(c)
	if err != nil {
		return err
	}
	ins, err := s.Agreement(c.Request().Context(), id)
	if err != nil {
		return err
	}
	var ids, kinds, originals, tariffs, versions, currencies, totals []string
	var seqs, estWh, estN []int64
	var froms, tos, issued []time.Time
	for _, in := range ins {
		ids, kinds, originals = append(ids, in.ID), append(kinds, string(in.Kind)), append(originals, in.Original)
		tariffs, versions, currencies = append(tariffs, in.TariffID), append(versions, in.TariffVersion), append(currencies, in.Currency)
		totals, seqs = append(totals, in.Total.String()), append(seqs, int64(in.Sequence))
		estWh, estN = append(estWh, in.EstimatedWh), append(estN, int64(in.EstimatedIntervals))
		froms, tos, issued = append(froms, in.From), append(tos, in.To), append(issued, in.Issued)
	}
	t := table.New(table.Strings("id", ids), table.Strings("kind", kinds), table.Int64s("sequence", seqs), table.Strings("original", originals),
		table.Dates("period_from", froms), table.Dates("period_to", tos), table.Strings("tariff_id", tariffs), table.Strings("tariff_version", versions),
		table.Strings("currency", currencies), table.Strings("total", totals), table.Int64s("estimated_wh", estWh),
		table.Int64s("estimated_intervals", estN), table.Times("issued", issued))
	return table.Respond(c, table.Result{Table: t})
}

func (s *Store) handleGet(c echo.Context) error {
	id, err := s.agreementParam(c)
	if err != nil {
		return err
	}
	want := c.Param("invoice_id")
	ins, err := s.Agreement(c.Request().Context(), id)
	if err != nil {
		return err
	}
	for _, in := range ins {
		if in.ID != want {
			continue
		}
		f, err := table.Accepted(c)
		if err != nil {
			return err
		}
		if f == table.FormatJSON {
			return c.JSON(http.StatusOK, in)
		}
		var names, qty, units, rates, amounts []string
		for _, l := range in.Lines {
			names, qty, units = append(names, l.Name), append(qty, l.Quantity.String()), append(units, l.Unit)
			rates, amounts = append(rates, l.Rate.String()), append(amounts, l.Amount.String())
		}
		return table.RespondAs(c, f, table.Result{Table: table.New(table.Strings("name", names), table.Strings("quantity", qty),
			table.Strings("unit", units), table.Strings("rate", rates), table.Strings("amount", amounts))})
	}
	return fmt.Errorf("%w: agreement %s has no invoice %s", fault.ErrNotFound, id, want)
}
