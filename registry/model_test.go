package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/fault"
)

func d(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func goodMeter() MeterInput {
	return MeterInput{MeterID: "MTR-1", ValidFrom: "2026-01-01", Feeder: "F1", Region: "R1", TimeZone: "Europe/Berlin"}
}

func goodAgreement() AgreementInput {
	return AgreementInput{AgreementID: "AG-1", AccountID: "ACC-1", ServicePointID: "SP-1", MeterID: "MTR-1",
		Tariff: "T-RES", CustomerClass: "residential", CycleDay: 17, StartDate: "2026-01-01"}
}

// TestMeterInputValidation checks that each bad attribute of a meter version is refused
// with a FieldError naming its field.
func TestMeterInputValidation(t *testing.T) {
	for name, tc := range map[string]struct {
		edit  func(*MeterInput)
		field string
	}{
		"good":           {func(*MeterInput) {}, ""},
		"retired":        {func(m *MeterInput) { m.Status = "retired" }, ""},
		"bad id":         {func(m *MeterInput) { m.MeterID = "MTR 1" }, "meter_id"},
		"empty id":       {func(m *MeterInput) { m.MeterID = "" }, "meter_id"},
		"bad date":       {func(m *MeterInput) { m.ValidFrom = "2026-02-30" }, "valid_from"},
		"epoch":          {func(m *MeterInput) { m.ValidFrom = "1970-01-01" }, "valid_from"},
		"no date":        {func(m *MeterInput) { m.ValidFrom = "" }, "valid_from"},
		"unknown zone":   {func(m *MeterInput) { m.TimeZone = "Mars/Olympus" }, "time_zone"},
		"local zone":     {func(m *MeterInput) { m.TimeZone = "Local" }, "time_zone"},
		"no zone":        {func(m *MeterInput) { m.TimeZone = "" }, "time_zone"},
		"no feeder":      {func(m *MeterInput) { m.Feeder = "" }, "feeder"},
		"bad region":     {func(m *MeterInput) { m.Region = "R 1" }, "region"},
		"unknown status": {func(m *MeterInput) { m.Status = "removed" }, "status"},
	} {
		in := goodMeter()
		tc.edit(&in)
		_, err := in.Version()
		checkField(t, name, err, tc.field)
	}
}

// TestAgreementInputValidation checks that each bad attribute of an agreement version is
// refused with a FieldError naming its field, and the defaults.
func TestAgreementInputValidation(t *testing.T) {
	for name, tc := range map[string]struct {
		edit  func(*AgreementInput)
		field string
	}{
		"good":              {func(*AgreementInput) {}, ""},
		"cycle calendar":    {func(a *AgreementInput) { a.CycleDay, a.CycleCalendar = 0, "CYC-A" }, ""},
		"end equals start":  {func(a *AgreementInput) { a.EndDate = "2026-01-01" }, ""},
		"end before start":  {func(a *AgreementInput) { a.EndDate = "2025-12-31" }, "end_date"},
		"cycle day 0":       {func(a *AgreementInput) { a.CycleDay = 0 }, "cycle_day"},
		"cycle day 29":      {func(a *AgreementInput) { a.CycleDay = 29 }, "cycle_day"},
		"cycle day and cal": {func(a *AgreementInput) { a.CycleCalendar = "CYC-A" }, "cycle_day"},
		"bad calendar":      {func(a *AgreementInput) { a.CycleDay, a.CycleCalendar = 0, "a b" }, "cycle_calendar"},
		"bad meter":         {func(a *AgreementInput) { a.MeterID = "M/1" }, "meter_id"},
		"no account":        {func(a *AgreementInput) { a.AccountID = "" }, "account_id"},
		"no service point":  {func(a *AgreementInput) { a.ServicePointID = "" }, "service_point_id"},
		"no tariff":         {func(a *AgreementInput) { a.Tariff = "" }, "tariff"},
		"no class":          {func(a *AgreementInput) { a.CustomerClass = "" }, "customer_class"},
		"no start":          {func(a *AgreementInput) { a.StartDate = "" }, "start_date"},
		"bad valid_from":    {func(a *AgreementInput) { a.ValidFrom = "26-01-01" }, "valid_from"},
		"name on two lines": {func(a *AgreementInput) { a.CustomerName = "A\nB" }, "customer_name"},
		"long address":      {func(a *AgreementInput) { a.Address = strings.Repeat("x", 201) }, "address"},
		"notice date":       {func(a *AgreementInput) { a.NoticeDate = "2026-02-01" }, ""},
		"bad notice date":   {func(a *AgreementInput) { a.NoticeDate = "2026-02-30" }, "notice_date"},
		"epoch notice date": {func(a *AgreementInput) { a.NoticeDate = "1970-01-01" }, "notice_date"},
	} {
		in := goodAgreement()
		tc.edit(&in)
		_, err := in.Version()
		checkField(t, name, err, tc.field)
	}
	v, err := goodAgreement().Version()
	if err != nil || !v.ValidFrom.Equal(d("2026-01-01")) || !v.End.IsZero() {
		t.Errorf("defaults: valid_from %v end %v (%v), want the start date and open", v.ValidFrom, v.End, err)
	}
}

func checkField(t *testing.T, name string, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		return
	}
	var fe *fault.FieldError
	if !errors.As(err, &fe) || fe.Field != field {
		t.Errorf("%s: %v, want a FieldError on %s", name, err, field)
	}
}

// TestCSVErrorsNameLineAndColumn checks that the CSV formats say where a bad cell is.
func TestCSVErrorsNameLineAndColumn(t *testing.T) {
	for name, tc := range map[string]struct {
		agreements  bool
		body, field string
		line        string
	}{
		"meter zone":           {false, "meter_id,valid_from,feeder,region,time_zone\nM1,2026-01-01,F,R,UTC\nM2,2026-01-01,F,R,Nowhere/X\n", "time_zone", "line 3"},
		"meter missing column": {false, "meter_id,valid_from,feeder,region\nM1,2026-01-01,F,R\n", "time_zone", "line 1"},
		"meter duplicate":      {false, "meter_id,valid_from,feeder,region,time_zone\nM1,2026-01-01,F,R,UTC\nM1,2026-01-01,F,R,UTC\n", "valid_from", "line 3"},
		"agreement cycle day": {true, "agreement_id,account_id,service_point_id,meter_id,tariff,customer_class,start_date,cycle_day\n" +
			"A1,C1,S1,M1,T,res,2026-01-01,31\n", "cycle_day", "line 2"},
		"agreement life support": {true, "agreement_id,account_id,service_point_id,meter_id,tariff,customer_class,start_date,cycle_day,life_support\n" +
			"A1,C1,S1,M1,T,res,2026-01-01,1,maybe\n", "life_support", "line 2"},
		"agreement notice date": {true, "agreement_id,account_id,service_point_id,meter_id,tariff,customer_class,start_date,cycle_day,notice_date\n" +
			"A1,C1,S1,M1,T,res,2026-01-01,1,\nA2,C1,S1,M1,T,res,2026-03-01,1,1.3.2026\n", "notice_date", "line 3"},
		"agreement end": {true, "agreement_id,account_id,service_point_id,meter_id,tariff,customer_class,start_date,cycle_day,end_date\n" +
			"A1,C1,S1,M1,T,res,2026-01-01,1,\nA2,C1,S1,M1,T,res,2026-03-01,1,2026-02-01\n", "end_date", "line 3"},
	} {
		var err error
		if tc.agreements {
			_, err = ParseAgreementsCSV(strings.NewReader(tc.body))
		} else {
			_, err = ParseMetersCSV(strings.NewReader(tc.body))
		}
		var fe *fault.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.HasPrefix(fe.Message, tc.line+":") {
			t.Errorf("%s: %v, want a FieldError on %s at %s", name, err, tc.field, tc.line)
		}
	}
	vs, err := ParseAgreementsCSV(strings.NewReader("agreement_id,account_id,service_point_id,meter_id,tariff,customer_class,start_date,cycle_day,valid_from,life_support,customer_name\n" +
		"A1,C1,S1,M1,T,res,2026-01-01,1,,true,\"Li, Wei\"\nA1,C1,S1,M2,T,res,2026-01-01,1,2026-02-10,1,\"Li, Wei\"\n"))
	if err != nil || len(vs) != 2 || vs[1].MeterID != "M2" || !vs[1].ValidFrom.Equal(d("2026-02-10")) || !vs[0].Customer.LifeSupport || vs[0].Customer.Name != "Li, Wei" {
		t.Errorf("a meter exchange in CSV: %+v, %v", vs, err)
	}
	vs, err = ParseAgreementsCSV(strings.NewReader("agreement_id,account_id,service_point_id,meter_id,tariff,customer_class,start_date,cycle_day,valid_from,notice_date\n" +
		"A1,C1,S1,M1,T,res,2026-01-01,1,,\nA1,C1,S1,M1,T,res,2026-01-01,1,2026-02-10,2026-02-10\n"))
	if err != nil || len(vs) != 2 || !vs[0].NoticeDate.IsZero() || !vs[1].NoticeDate.Equal(d("2026-02-10")) {
		t.Errorf("notice dates in CSV: %+v, %v", vs, err)
	}
}

// TestAgreementJSONNoticeDate checks the API's JSON of a version: notice_date as a date,
// "" without a notice.
func TestAgreementJSONNoticeDate(t *testing.T) {
	for notice, want := range map[string]string{"": `"notice_date":""`, "2026-02-10": `"notice_date":"2026-02-10"`} {
		in := goodAgreement()
		in.NoticeDate = notice
		v, err := in.Version()
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(v)
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("notice %q: %s (%v), want %s", notice, b, err, want)
		}
	}
}

func mv(from string, status Status, zone string, version uint64) MeterVersion {
	return MeterVersion{MeterID: "M1", ValidFrom: d(from), Feeder: "F1", Region: "R1", TimeZone: zone, Status: status, Version: version}
}

// TestMeterAt checks the as-of rule of meters: the latest valid_from on or before the date,
// a correction (same valid_from, later write) wins, before every version the earliest.
func TestMeterAt(t *testing.T) {
	vs := []MeterVersion{mv("2026-03-01", StatusActive, "Asia/Shanghai", 3), mv("2026-01-01", StatusActive, "UTC", 1),
		mv("2026-03-01", StatusActive, "Europe/Berlin", 4), mv("2026-06-01", StatusRetired, "Europe/Berlin", 2)}
	for at, want := range map[string]string{
		"2025-12-01": "UTC 1", "2026-01-01": "UTC 1", "2026-02-28": "UTC 1", "2026-03-01": "Europe/Berlin 4",
		"2026-05-31": "Europe/Berlin 4", "2026-06-01": "Europe/Berlin 2", "2030-01-01": "Europe/Berlin 2",
	} {
		v, ok := MeterAt(vs, d(at))
		if got := fmt.Sprintf("%s %d", v.TimeZone, v.Version); !ok || got != want {
			t.Errorf("MeterAt(%s) = %s, want %s", at, got, want)
		}
	}
	if _, ok := MeterAt(nil, d("2026-01-01")); ok {
		t.Error("MeterAt of no versions is found")
	}
}

// TestCheckMeterHistory checks that a meter is retired once and takes no version after.
func TestCheckMeterHistory(t *testing.T) {
	active, retired := mv("2026-01-01", StatusActive, "UTC", 1), mv("2026-06-01", StatusRetired, "UTC", 2)
	for name, tc := range map[string]struct {
		stored, added []MeterVersion
		conflict      bool
	}{
		"create":                                {nil, []MeterVersion{active}, false},
		"retire":                                {[]MeterVersion{active}, []MeterVersion{retired}, false},
		"create and retire":                     {nil, []MeterVersion{active, retired}, false},
		"retire again":                          {[]MeterVersion{active, retired}, []MeterVersion{mv("2026-07-01", StatusRetired, "UTC", 3)}, true},
		"update after retirement":               {[]MeterVersion{active, retired}, []MeterVersion{mv("2026-07-01", StatusActive, "UTC", 3)}, true},
		"two retirements at once":               {nil, []MeterVersion{retired, mv("2026-07-01", StatusRetired, "UTC", 3)}, true},
		"version after retirement in one write": {nil, []MeterVersion{retired, mv("2026-07-01", StatusActive, "UTC", 3)}, true},
		"retire before a later version":         {[]MeterVersion{active, mv("2026-09-01", StatusActive, "UTC", 3)}, []MeterVersion{retired}, true},
	} {
		err := CheckMeterHistory(tc.stored, tc.added)
		if got := errors.Is(err, fault.ErrConflict); got != tc.conflict {
			t.Errorf("%s: %v, want conflict %v", name, err, tc.conflict)
		}
	}
}

func av(id, meter, tariff, from, start, end string, version uint64) AgreementVersion {
	a := AgreementVersion{AgreementID: id, AccountID: "ACC", ServicePointID: "SP", MeterID: meter, Tariff: tariff,
		CustomerClass: "residential", CycleDay: 1, Start: d(start), ValidFrom: d(from), Version: version}
	if end != "" {
		a.End = d(end)
	}
	return a
}

// spansText renders spans as "from..to meter tariff" (to "open").
func spansText(spans []Span) string {
	var b []string
	for _, s := range spans {
		to := "open"
		if !s.To.IsZero() {
			to = day(s.To)
		}
		b = append(b, fmt.Sprintf("%s..%s %s %s", day(s.From), to, s.Version.MeterID, s.Version.Tariff))
	}
	return strings.Join(b, "; ")
}

// TestTimeline checks the as-of logic of agreements: a meter exchange mid-period, a tariff
// change, move-in and move-out, a correction, and clipping to a billing period.
func TestTimeline(t *testing.T) {
	for name, tc := range map[string]struct {
		vs       []AgreementVersion
		from, to string
		want     string
	}{
		"open": {[]AgreementVersion{av("A", "M1", "T1", "2026-01-10", "2026-01-10", "", 1)}, "", "",
			"2026-01-10..open M1 T1"},
		"meter exchange mid-period": {[]AgreementVersion{av("A", "M1", "T1", "2026-01-10", "2026-01-10", "", 1),
			av("A", "M2", "T1", "2026-03-17", "2026-01-10", "", 2)}, "2026-03-01", "2026-04-01",
			"2026-03-01..2026-03-17 M1 T1; 2026-03-17..2026-04-01 M2 T1"},
		"move-in inside the period": {[]AgreementVersion{av("A", "M1", "T1", "2026-03-10", "2026-03-10", "", 1)}, "2026-03-01", "2026-04-01",
			"2026-03-10..2026-04-01 M1 T1"},
		"move-out recorded later": {[]AgreementVersion{av("A", "M1", "T1", "2026-01-01", "2026-01-01", "", 1),
			av("A", "M1", "T1", "2026-05-01", "2026-01-01", "2026-03-20", 2)}, "2026-03-01", "2026-04-01",
			"2026-03-01..2026-03-21 M1 T1"},
		"after move-out": {[]AgreementVersion{av("A", "M1", "T1", "2026-01-01", "2026-01-01", "2026-02-27", 1)}, "2026-03-01", "2026-04-01",
			""},
		"tariff change": {[]AgreementVersion{av("A", "M1", "T1", "2026-01-01", "2026-01-01", "", 1),
			av("A", "M1", "T2", "2026-03-16", "2026-01-01", "", 2)}, "", "",
			"2026-01-01..2026-03-16 M1 T1; 2026-03-16..open M1 T2"},
		"correction wins": {[]AgreementVersion{av("A", "M1", "T2", "2026-01-01", "2026-01-01", "", 2),
			av("A", "M1", "T1", "2026-01-01", "2026-01-01", "", 1)}, "", "",
			"2026-01-01..open M1 T2"},
		"first version before start": {[]AgreementVersion{av("A", "M1", "T1", "2026-02-01", "2026-01-15", "", 1)}, "", "2026-03-01",
			"2026-01-15..2026-03-01 M1 T1"},
		"one day": {[]AgreementVersion{av("A", "M1", "T1", "2026-02-28", "2026-02-28", "2026-02-28", 1)}, "", "",
			"2026-02-28..2026-03-01 M1 T1"},
	} {
		var from, to time.Time
		if tc.from != "" {
			from = d(tc.from)
		}
		if tc.to != "" {
			to = d(tc.to)
		}
		if got := spansText(Timeline(tc.vs, from, to)); got != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
	spans := Timeline([]AgreementVersion{av("A", "M1", "T1", "2026-01-10", "2026-01-10", "", 1), av("A", "M2", "T2", "2026-03-17", "2026-01-10", "", 2)}, time.Time{}, time.Time{})
	for at, want := range map[string]string{"2026-01-09": "", "2026-03-16": "M1", "2026-03-17": "M2"} {
		s, ok := At(spans, d(at))
		if got := s.Version.MeterID; got != want || ok != (want != "") {
			t.Errorf("At(%s) = %q %v, want %q", at, got, ok, want)
		}
	}
}

// TestCheckOverlap checks that two agreements may not use one meter on the same day, and
// that a move-out followed by a move-in on the next day, and a meter exchange, are fine.
func TestCheckOverlap(t *testing.T) {
	for name, tc := range map[string]struct {
		agreements map[string][]AgreementVersion
		conflict   bool
	}{
		"move-out then move-in": {map[string][]AgreementVersion{
			"A": {av("A", "M1", "T", "2026-01-01", "2026-01-01", "2026-03-15", 1)},
			"B": {av("B", "M1", "T", "2026-03-16", "2026-03-16", "", 2)}}, false},
		"move-in on the move-out day": {map[string][]AgreementVersion{
			"A": {av("A", "M1", "T", "2026-01-01", "2026-01-01", "2026-03-15", 1)},
			"B": {av("B", "M1", "T", "2026-03-15", "2026-03-15", "", 2)}}, true},
		"open agreement": {map[string][]AgreementVersion{
			"A": {av("A", "M1", "T", "2026-01-01", "2026-01-01", "", 1)},
			"B": {av("B", "M1", "T", "2027-01-01", "2027-01-01", "", 2)}}, true},
		"meter exchange frees the old meter": {map[string][]AgreementVersion{
			"A": {av("A", "M1", "T", "2026-01-01", "2026-01-01", "", 1), av("A", "M2", "T", "2026-03-17", "2026-01-01", "", 2)},
			"B": {av("B", "M1", "T", "2026-04-01", "2026-04-01", "", 3)}}, false},
		"exchange onto a used meter": {map[string][]AgreementVersion{
			"A": {av("A", "M1", "T", "2026-01-01", "2026-01-01", "", 1), av("A", "M2", "T", "2026-03-17", "2026-01-01", "", 2)},
			"B": {av("B", "M2", "T", "2026-01-01", "2026-01-01", "2026-03-17", 3)}}, true},
	} {
		err := CheckOverlap(tc.agreements)
		if got := errors.Is(err, fault.ErrConflict); got != tc.conflict {
			t.Errorf("%s: %v, want conflict %v", name, err, tc.conflict)
		}
	}
}

// TestCurrent checks the flattened row: the meter's own zone and feeder, the tariff and
// class of the agreement supplying through it today, none after a meter exchange away.
func TestCurrent(t *testing.T) {
	meter := []MeterVersion{mv("2026-01-01", StatusActive, "UTC", 1), mv("2026-02-01", StatusActive, "Asia/Shanghai", 2)}
	agreements := map[string][]AgreementVersion{
		"A": {av("A", "M1", "T1", "2026-01-01", "2026-01-01", "", 1), av("A", "M9", "T2", "2026-04-01", "2026-01-01", "", 2)},
	}
	for at, want := range map[string]string{
		"2026-01-15": "UTC T1", "2026-03-01": "Asia/Shanghai T1", "2026-04-01": "Asia/Shanghai ",
	} {
		m, ok := Current(meter, agreements, d(at))
		if got := m.TimeZone + " " + m.Tariff; !ok || got != want || m.LifeSupport {
			t.Errorf("Current at %s: %q (%v, life support %v), want %q", at, got, ok, m.LifeSupport, want)
		}
	}
}

// TestCheckRetired checks that no agreement may use a meter on or after its retirement.
func TestCheckRetired(t *testing.T) {
	meters := map[string][]MeterVersion{"M1": {mv("2026-01-01", StatusActive, "UTC", 1), mv("2026-06-01", StatusRetired, "UTC", 2)}}
	for name, tc := range map[string]struct {
		vs       []AgreementVersion
		conflict bool
	}{
		"open":                    {[]AgreementVersion{av("A", "M1", "T", "2026-01-01", "2026-01-01", "", 1)}, true},
		"ends the day before":     {[]AgreementVersion{av("A", "M1", "T", "2026-01-01", "2026-01-01", "2026-05-31", 1)}, false},
		"ends on the day":         {[]AgreementVersion{av("A", "M1", "T", "2026-01-01", "2026-01-01", "2026-06-01", 1)}, true},
		"exchanged before":        {[]AgreementVersion{av("A", "M1", "T", "2026-01-01", "2026-01-01", "", 1), av("A", "M2", "T", "2026-06-01", "2026-01-01", "", 2)}, false},
		"another meter":           {[]AgreementVersion{av("A", "M2", "T", "2026-01-01", "2026-01-01", "", 1)}, false},
		"exchanged onto it after": {[]AgreementVersion{av("A", "M2", "T", "2026-01-01", "2026-01-01", "", 1), av("A", "M1", "T", "2026-07-01", "2026-01-01", "", 2)}, true},
	} {
		err := CheckRetired(map[string][]AgreementVersion{"A": tc.vs}, meters)
		if got := errors.Is(err, fault.ErrConflict); got != tc.conflict {
			t.Errorf("%s: %v, want conflict %v", name, err, tc.conflict)
		}
	}
}
