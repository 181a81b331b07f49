package registry

import (
	"encoding/json"
	"errors"
	"time"

	"io"
	"strconv"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/table"
)

// MeterColumns are the columns of the meter CSV format, in any order; status may be left
// out (active).
var MeterColumns = []string{"meter_id", "valid_from", "feeder", "region", "time_zone", "status"}

// AgreementColumns are the columns of the agreement CSV format, in any order; the first
// seven are required.
var AgreementColumns = []string{"agreement_id", "account_id", "service_point_id", "meter_id", "tariff", "customer_class",
	"start_date", "end_date", "valid_from", "cycle_day", "cycle_calendar", "customer_name", "address", "life_support", "notice_date"}

// MeterInput is a meter version as a request gives it (the JSON body of
// PUT /v1/admin/meters/{id}, one row of the CSV format).
type MeterInput struct {
	// MeterID is the meter; in a PUT it may be left out (the path's).
	MeterID string `json:"meter_id"`
	// ValidFrom is the first date the version holds, YYYY-MM-DD.
	ValidFrom string `json:"valid_from"`
	// Feeder, Region and TimeZone are the meter's physical attributes.
	Feeder   string `json:"feeder"`
	Region   string `json:"region"`
	TimeZone string `json:"time_zone"`
	// Status is active (the default) or retired.
	Status string `json:"status"`
}

// Version validates the input and returns the version it describes.
func (in MeterInput) Version() (MeterVersion, error) {
	v := MeterVersion{MeterID: in.MeterID, Feeder: in.Feeder, Region: in.Region, TimeZone: in.TimeZone, Status: Status(in.Status)}
	if v.Status == "" {
		v.Status = StatusActive
	}
	var err error
	if v.ValidFrom, err = ParseDate("valid_from", in.ValidFrom); err != nil {
		return MeterVersion{}, err
	}
	return v, v.Check()
}

// AgreementInput is an agreement version as a request gives it (the JSON body of
// PUT /v1/admin/agreements/{id}, one row of the CSV format). Dates are YYYY-MM-DD;
// EndDate is empty while the agreement is open, ValidFrom empty for StartDate.
type AgreementInput struct {
	// AgreementID is the agreement; in a PUT it may be left out (the path's).
	AgreementID string `json:"agreement_id"`
	// AccountID, ServicePointID and MeterID are the account, where it is supplied and the
	// meter from ValidFrom.
	AccountID      string `json:"account_id"`
	ServicePointID string `json:"service_point_id"`
	MeterID        string `json:"meter_id"`
	// Tariff and CustomerClass are the tariff id billed and the customer class.
	Tariff        string `json:"tariff"`
	CustomerClass string `json:"customer_class"`
	// CycleDay (1-28) or CycleCalendar, exactly one, is the billing cycle.
	CycleDay      int    `json:"cycle_day"`
	CycleCalendar string `json:"cycle_calendar"`
	// StartDate and EndDate are the move-in and move-out dates (EndDate empty while open).
	StartDate string `json:"start_date"`
	EndDate   string `json:"end_date"`
	// ValidFrom is the first date the version holds; empty for StartDate.
	ValidFrom string `json:"valid_from"`
	// CustomerName, Address and LifeSupport are the personal data, kept private.
	CustomerName string `json:"customer_name"`
	Address      string `json:"address"`
	LifeSupport  bool   `json:"life_support"`
	// NoticeDate is the date a disconnect notice was given, YYYY-MM-DD; empty for none.
	NoticeDate string `json:"notice_date"`
}

// Version validates the input and returns the version it describes.
func (in AgreementInput) Version() (AgreementVersion, error) {
	a := AgreementVersion{AgreementID: in.AgreementID, AccountID: in.AccountID, ServicePointID: in.ServicePointID,
		MeterID: in.MeterID, Tariff: in.Tariff, CustomerClass: in.CustomerClass, CycleDay: in.CycleDay, CycleCalendar: in.CycleCalendar,
		Customer: Customer{Name: in.CustomerName, Address: in.Address, LifeSupport: in.LifeSupport}}
	var err error
	if a.Start, err = ParseDate("start_date", in.StartDate); err != nil {
		return AgreementVersion{}, err
	}
	if in.EndDate != "" {
		if a.End, err = ParseDate("end_date", in.EndDate); err != nil {
			return AgreementVersion{}, err
		}
	}
	if in.NoticeDate != "" {
		if a.NoticeDate, err = ParseDate("notice_date", in.NoticeDate); err != nil {
			return AgreementVersion{}, err
		}
	}
	a.ValidFrom = a.Start
	if in.ValidFrom != "" {
		if a.ValidFrom, err = ParseDate("valid_from", in.ValidFrom); err != nil {
			return AgreementVersion{}, err
		}
	}
	return a, a.Check()
}

// ParseMetersCSV reads the meter CSV format: a header naming MeterColumns in any order
// (status optional), then one version per row. Errors are fault.FieldErrors naming the
// column and the line ("line 3: …"); two rows of one meter and valid_from are an error.
func ParseMetersCSV(r io.Reader) ([]MeterVersion, error) {
	return parseVersions(r, MeterColumns[:5], "meter", func(cr *table.CSVReader) (MeterVersion, string, time.Time, error) {
		in := MeterInput{MeterID: cr.Cell("meter_id"), ValidFrom: cr.Cell("valid_from"), Feeder: cr.Cell("feeder"),
			Region: cr.Cell("region"), TimeZone: cr.Cell("time_zone"), Status: cr.Cell("status")}
		v, err := in.Version()
		return v, v.MeterID, v.ValidFrom, err
	})
}

// ParseAgreementsCSV reads the agreement CSV format: a header naming AgreementColumns in
// any order (the first seven required), then one version per row; life_support is true,
// false, 1, 0 or empty (false); notice_date is a date or empty (no notice). Errors name
// the column and the line.
func ParseAgreementsCSV(r io.Reader) ([]AgreementVersion, error) {
	return parseVersions(r, AgreementColumns[:7], "agreement", func(cr *table.CSVReader) (AgreementVersion, string, time.Time, error) {
		in := AgreementInput{AgreementID: cr.Cell("agreement_id"), AccountID: cr.Cell("account_id"),
			ServicePointID: cr.Cell("service_point_id"), MeterID: cr.Cell("meter_id"), Tariff: cr.Cell("tariff"),
			CustomerClass: cr.Cell("customer_class"), CycleCalendar: cr.Cell("cycle_calendar"), StartDate: cr.Cell("start_date"),
			EndDate: cr.Cell("end_date"), ValidFrom: cr.Cell("valid_from"), CustomerName: cr.Cell("customer_name"), Address: cr.Cell("address"),
			NoticeDate: cr.Cell("notice_date")}
		var err error
		if s := cr.Cell("cycle_day"); s != "" {
			if in.CycleDay, err = strconv.Atoi(s); err != nil {
				return AgreementVersion{}, "", time.Time{}, fault.Invalid("cycle_day", "%q is not a day 1-28", s)
			}
		}
		if s := cr.Cell("life_support"); s != "" {
			if in.LifeSupport, err = strconv.ParseBool(s); err != nil {
				return AgreementVersion{}, "", time.Time{}, fault.Invalid("life_support", "%q: want true or false", s)
			}
		}
		v, err := in.Version()
		return v, v.AgreementID, v.ValidFrom, err
	})
}

// parseVersions reads a CSV of versions with the required columns: row turns the current
// row into a version with its id and valid_from (an error is reported with the row's
// line), and two rows of one id and valid_from are an error. what names the rows ("meter").
func parseVersions[V any](r io.Reader, required []string, what string, row func(*table.CSVReader) (V, string, time.Time, error)) ([]V, error) {
	cr, err := table.NewCSVReader(r, required...)
	if err != nil {
		return nil, err
	}
	var out []V
	seen := map[string]int{}
	for {
		ok, err := cr.Next()
		if err != nil {
			return nil, err
		}
		if !ok {
			if len(out) == 0 {
				return nil, fault.Invalid("body", "no %ss in the file", what)
			}
			return out, nil
		}
		v, id, from, err := row(cr)
		if err != nil {
			return nil, cr.Invalid(err)
		}
		key := id + " " + day(from)
		if first, dup := seen[key]; dup {
			return nil, cr.Invalid(fault.Invalid("valid_from", "%s %s from %s is given again (first on line %d)", what, id, day(from), first))
		}
		seen[key] = cr.Line()
		out = append(out, v)
	}
}

// decodeJSON decodes one JSON object into v, refusing unknown fields.
func decodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fault.Invalid(te.Field, "want a JSON %s", te.Type)
		}
		return fault.Invalid("body", "not a JSON object: %v", err)
	}
	return nil
}

// mustMatch checks that a body's id, when given, is the path's.
func mustMatch(field, path, body string) error {
	if body != "" && body != path {
		return fault.Invalid(field, "%q in the body, %q in the path", body, path)
	}
	return nil
}
