package registry

import (
	"mime"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/table"
)

// Register adds the registry routes to srv: meters are written by admin and their versions
// read by analysts and billing (no personal data); agreements are written by admin and
// billing and read by billing only, as they carry the customer's personal data.
func (s *Store) Register(srv *api.Server) error {
	meter := api.Param{Name: "meter_id", In: "path", Required: true, Description: "The meter id."}
	agreement := api.Param{Name: "agreement_id", In: "path", Required: true, Description: "The agreement id."}
	meterCSV := &api.Body{ContentTypes: []string{"text/csv"}, Required: true,
		Description: "The meter CSV format: header meter_id,valid_from,feeder,region,time_zone[,status], one version per row.",
		Example:     "meter_id,valid_from,feeder,region,time_zone,status\nMTR-1,2026-01-01,F1,R1,Europe/Berlin,active\n"}
	agreementCSV := &api.Body{ContentTypes: []string{"text/csv"}, Required: true,
		Description: "The agreement CSV format (see the README): agreement_id,account_id,service_point_id,meter_id,tariff," +
			"customer_class,start_date required; end_date,valid_from,cycle_day,cycle_calendar,customer_name,address,life_support,notice_date optional.",
		Example: "agreement_id,account_id,service_point_id,meter_id,tariff,customer_class,start_date,cycle_day\nAG-1,ACC-1,SP-1,MTR-1,T-RES,residential,2026-01-01,1\n"}
	routes := []api.Route{{
		Method: http.MethodPut, Path: "/v1/admin/meters/:meter_id",
		Summary:     "Stores a new version of a meter: creates, updates or retires it from valid_from.",
		Description: `The body is {"valid_from":"2026-01-01","feeder":…,"region":…,"time_zone":…,"status":"active"|"retired"}. A meter is retired once; a retired meter takes no new version (409).`,
		Roles:       []api.Role{api.RoleAdmin}, Params: []api.Param{meter},
		Body:     &api.Body{ContentTypes: []string{"application/json"}, Required: true, Description: "The version."},
		Response: "The version stored.", Handler: s.handlePutMeter,
	}, {
		Method: http.MethodPut, Path: "/v1/admin/meters",
		Summary: "Imports meter versions from CSV, stored whole or not at all.",
		Roles:   []api.Role{api.RoleAdmin}, Body: meterCSV,
		Response: "The number of versions stored.", Handler: s.handleImportMeters,
	}, {
		Method: http.MethodGet, Path: "/v1/meters/:meter_id/versions",
		Summary: "Lists every registry version of a meter in date order.",
		Roles:   []api.Role{api.RoleAnalyst, api.RoleBilling}, Params: []api.Param{meter},
		Response: "One row per version, as JSON, CSV or Arrow by the Accept header.", Handler: s.handleMeterVersions,
	}, {
		Method: http.MethodPut, Path: "/v1/admin/agreements/:agreement_id",
		Summary: "Stores a new version of a service agreement from valid_from (default: start_date).",
		Description: "The body has the columns of the agreement CSV format as JSON fields (cycle_day a number, life_support a boolean, " +
			"notice_date the date a disconnect notice was given, YYYY-MM-DD or empty). " +
			"A meter exchange is a version with the new meter_id from the exchange date; a move-out sets end_date. " +
			"Two agreements on one meter on the same day are refused (409).",
		Roles: []api.Role{api.RoleBilling}, Params: []api.Param{agreement},
		Body:     &api.Body{ContentTypes: []string{"application/json"}, Required: true, Description: "The version."},
		Response: "The version stored.", Handler: s.handlePutAgreement,
	}, {
		Method: http.MethodPut, Path: "/v1/admin/agreements",
		Summary: "Imports service agreement versions from CSV, stored whole or not at all.",
		Roles:   []api.Role{api.RoleBilling}, Body: agreementCSV,
		Response: "The number of versions stored.", Handler: s.handleImportAgreements,
	}, {
		Method: http.MethodGet, Path: "/v1/agreements/:agreement_id",
		Summary:  "Returns the version of a service agreement in force on a date, with the customer's personal data.",
		Roles:    []api.Role{api.RoleBilling},
		Params:   []api.Param{agreement, {Name: "at", In: "query", Description: "The date, YYYY-MM-DD; today (UTC) when left out."}},
		Response: `{"in_force": bool, "version": {…}}`, Handler: s.handleAgreementAt,
	}, {
		Method: http.MethodGet, Path: "/v1/agreements/:agreement_id/versions",
		Summary: "Lists every version of a service agreement in date order, with the customer's personal data.",
		Roles:   []api.Role{api.RoleBilling}, Params: []api.Param{agreement},
		Response: `{"versions": [{…}]}`, Handler: s.handleAgreementVersions,
	}}
	for _, r := range routes {
		if err := srv.Handle(r); err != nil {
			return err
		}
	}
	return nil
}

// author names the principal of a request.
func author(c echo.Context) string {
	if p, ok := api.PrincipalFrom(c.Request().Context()); ok {
		return "api:" + p.String()
	}
	return "api:unknown"
}

// wantType checks the request's Content-Type.
func wantType(c echo.Context, want string) error {
	ct, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if ct != want {
		return fault.Invalid("Content-Type", "%q: want %s", ct, want)
	}
	return nil
}

// stored is the body of a successful import.
type stored struct {
	// Stored is the number of versions stored.
	Stored int `json:"stored"`
}

func (s *Store) handlePutMeter(c echo.Context) error {
	if err := wantType(c, "application/json"); err != nil {
		return err
	}
	var in MeterInput
	if err := decodeJSON(c.Request().Body, &in); err != nil {
		return err
	}
	if err := mustMatch("meter_id", c.Param("meter_id"), in.MeterID); err != nil {
		return err
	}
	in.MeterID = c.Param("meter_id")
	v, err := in.Version()
	if err != nil {
		return err
	}
	out, err := s.PutMeters(c.Request().Context(), author(c), []MeterVersion{v})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out[0])
}

func (s *Store) handleImportMeters(c echo.Context) error {
	if err := wantType(c, "text/csv"); err != nil {
		return err
	}
	vs, err := ParseMetersCSV(c.Request().Body)
	if err != nil {
		return err
	}
	out, err := s.PutMeters(c.Request().Context(), author(c), vs)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, stored{len(out)})
}

func (s *Store) handleMeterVersions(c echo.Context) error {
	vs, err := s.MeterVersions(c.Request().Context(), c.Param("meter_id"))
	if err != nil {
		return err
	}
	var ids, from, feeder, region, tz, status, author []string
	var recorded []time.Time
	for _, v := range vs {
		ids, from, feeder, region = append(ids, v.MeterID), append(from, day(v.ValidFrom)), append(feeder, v.Feeder), append(region, v.Region)
		tz, status, author, recorded = append(tz, v.TimeZone), append(status, string(v.Status)), append(author, v.Author), append(recorded, v.RecordedAt)
	}
	return table.Respond(c, table.Result{Table: table.New(table.Strings("meter_id", ids), table.Strings("valid_from", from),
		table.Strings("feeder", feeder), table.Strings("region", region), table.Strings("time_zone", tz),
		table.Strings("status", status), table.Times("recorded_at", recorded), table.Strings("author", author))})
}

func (s *Store) handlePutAgreement(c echo.Context) error {
	if err := wantType(c, "application/json"); err != nil {
		return err
	}
	var in AgreementInput
	if err := decodeJSON(c.Request().Body, &in); err != nil {
		return err
	}
	if err := mustMatch("agreement_id", c.Param("agreement_id"), in.AgreementID); err != nil {
		return err
	}
	in.AgreementID = c.Param("agreement_id")
	v, err := in.Version()
	if err != nil {
		return err
	}
	out, err := s.PutAgreements(c.Request().Context(), author(c), []AgreementVersion{v})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out[0])
}

func (s *Store) handleImportAgreements(c echo.Context) error {
	if err := wantType(c, "text/csv"); err != nil {
		return err
	}
	vs, err := ParseAgreementsCSV(c.Request().Body)
	if err != nil {
		return err
	}
	out, err := s.PutAgreements(c.Request().Context(), author(c), vs)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, stored{len(out)})
}

// agreementAt is the body of GET /v1/agreements/{id}.
type agreementAt struct {
	// At is the date asked about.
	At string `json:"at"`
	// InForce says whether the agreement supplies on At.
	InForce bool `json:"in_force"`
	// Version is the version in force on At (or the nearest one when not in force).
	Version AgreementVersion `json:"version"`
}

func (s *Store) handleAgreementAt(c echo.Context) error {
	d := dateOf(s.now().UTC())
	if at := c.QueryParam("at"); at != "" {
		var err error
		if d, err = ParseDate("at", at); err != nil {
			return err
		}
	}
	v, ok, err := s.AgreementAt(c.Request().Context(), c.Param("agreement_id"), d)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, agreementAt{At: day(d), InForce: ok, Version: v})
}

func (s *Store) handleAgreementVersions(c echo.Context) error {
	vs, err := s.AgreementVersions(c.Request().Context(), c.Param("agreement_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"versions": vs})
}
