package holidays

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/fault"
)

func date(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

// cnCSV is China's 2026 Spring Festival as announced: 2026-02-15..23 off, with Saturday
// 2026-02-14 and Saturday 2026-02-28 worked in exchange (调休).
const cnCSV = `region,date,kind,name
# Spring Festival 2026
CN,2026-02-14,working,调休
CN,2026-02-16,holiday,春节
CN,2026-02-17,holiday,春节
CN,2026-02-28,working,调休
CN,2026-02-27,special,bridge
`

// TestDayKinds checks the kind of every day of a week with a substituted working day, a
// holiday, a special day, ordinary weekdays and weekends, and a working entry on a weekday.
func TestDayKinds(t *testing.T) {
	es, err := ParseCSV(strings.NewReader(cnCSV+"CN,2026-02-18,working,\n"), "CN")
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDays("CN", date("2026-02-01"), date("2026-03-01"), es)
	if err != nil {
		t.Fatal(err)
	}
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		date    time.Time
		kind    DayKind
		working bool
	}{
		{date("2026-02-13"), Working, true},            // Friday
		{date("2026-02-14"), SubstitutedWorking, true}, // Saturday worked
		{date("2026-02-15"), Weekend, false},           // Sunday
		{date("2026-02-16"), Holiday, false},           // Monday off
		{date("2026-02-18"), Working, true},            // working entry on a weekday
		{date("2026-02-21"), Weekend, false},
		{date("2026-02-27"), Special, true},
		{date("2026-02-28"), SubstitutedWorking, true},
		// 2026-02-14 00:30 in Shanghai is still 2026-02-13 in UTC: the zone's date counts.
		{time.Date(2026, 2, 14, 0, 30, 0, 0, shanghai), SubstitutedWorking, true},
		{time.Date(2026, 2, 14, 0, 30, 0, 0, shanghai).UTC(), Working, true},
	} {
		if got := d.Kind(tc.date); got != tc.kind {
			t.Errorf("Kind(%s) = %s, want %s", tc.date, got, tc.kind)
		}
		if got := d.IsWorking(tc.date); got != tc.working {
			t.Errorf("IsWorking(%s) = %v, want %v", tc.date, got, tc.working)
		}
	}
	seen := map[DayKind]bool{}
	for day := date("2026-02-01"); day.Before(date("2026-03-01")); day = day.AddDate(0, 0, 1) {
		seen[d.Kind(day)] = true
	}
	for _, k := range Kinds() {
		if !seen[k] {
			t.Errorf("kind %s of Kinds() does not occur in February 2026", k)
		}
	}
	if len(seen) != len(Kinds()) {
		t.Errorf("kinds seen %v, Kinds() %v", seen, Kinds())
	}
	if d.Name(date("2026-02-16")) != "春节" || !d.Covers(date("2026-02-28")) || d.Covers(date("2026-03-01")) {
		t.Errorf("Name or Covers wrong")
	}
	if _, err := NewDays("CN", date("2026-02-01"), date("2026-02-10"), es); err == nil {
		t.Error("NewDays accepted entries outside its range")
	}
}

// TestParseErrorsNameLineAndColumn checks that every refusal of the CSV and JSON formats
// is a FieldError naming the column and the line (or element).
func TestParseErrorsNameLineAndColumn(t *testing.T) {
	for _, tc := range []struct {
		name, body, region, field, where string
	}{
		{"empty", "", "", "header", "empty"},
		{"no kind column", "region,date,name\nCN,2026-01-01,x\n", "", "kind", "line 1"},
		{"twice", "region,date,kind,kind\n", "", "kind", "line 1"},
		{"bad date", "region,date,kind,name\nCN,2026-01-01,holiday,a\nCN,2026-13-01,holiday,b\n", "", "date", "line 3"},
		{"date out of range", "region,date,kind\nCN,1969-12-31,holiday\n", "", "date", "line 2"},
		{"bad kind", "region,date,kind\nCN,2026-01-01,vacation\n", "", "kind", "line 2"},
		{"bad region", "region,date,kind\nC N,2026-01-01,holiday\n", "", "region", "line 2"},
		{"empty region", "region,date,kind\n,2026-01-01,holiday\n", "", "region", "line 2"},
		{"other region", "region,date,kind\nDE,2026-01-01,holiday\n", "CN", "region", "line 2"},
		{"short row", "region,date,kind,name\nCN,2026-01-01\n", "", "kind", "line 2"},
		{"duplicate", "region,date,kind\nCN,2026-01-01,holiday\n# c\nCN,2026-01-01,special\n", "", "date", "line 4"},
		{"quote", "region,date,kind\nCN,\"2026,holiday\n", "", "body", "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCSV(strings.NewReader(tc.body), tc.region)
			assertField(t, err, tc.field, tc.where)
		})
	}
	for _, tc := range []struct {
		name, body, field, where string
	}{
		{"not an array", `{"date":"2026-01-01"}`, "body", "JSON"},
		{"unknown field", `[{"date":"2026-01-01","kind":"holiday","day":"x"}]`, "body", "day"},
		{"bad kind", `[{"date":"2026-01-01","kind":"holiday"},{"date":"2026-01-02","kind":"off"}]`, "kind", "element 2"},
		{"duplicate", `[{"date":"2026-01-01","kind":"holiday"},{"region":"CN","date":"2026-01-01","kind":"special"}]`, "date", "element 2"},
	} {
		t.Run("json "+tc.name, func(t *testing.T) {
			_, err := ParseJSON(strings.NewReader(tc.body), "CN")
			assertField(t, err, tc.field, tc.where)
		})
	}
}

func assertField(t *testing.T, err error, field, where string) {
	t.Helper()
	var fe *fault.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a FieldError", err)
	}
	if fe.Field != field || !strings.Contains(fe.Message, where) {
		t.Errorf("error %q (field %q), want field %q and a message naming %q", fe.Message, fe.Field, field, where)
	}
}

// TestParseJSONFillsRegion checks that JSON elements without a region take the path's.
func TestParseJSONFillsRegion(t *testing.T) {
	es, err := ParseJSON(strings.NewReader(`[{"date":"2026-02-14","kind":"working","name":"调休"}]`), "CN")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Region != "CN" || !es[0].Date.Equal(date("2026-02-14")) || es[0].Kind != EntryWorking {
		t.Errorf("entries %+v", es)
	}
}

// TestCountryHolidays checks a few holidays of the library's rules: Good Friday in
// Germany, the Victorian Melbourne Cup, and a US New Year observed in the year before.
func TestCountryHolidays(t *testing.T) {
	has := func(es []Entry, d string) bool {
		for _, e := range es {
			if e.Date.Equal(date(d)) && e.Kind == EntryHoliday && e.Region == "R" {
				return true
			}
		}
		return false
	}
	de, err := CountryHolidays("DE", "R", 2026, 2026)
	if err != nil {
		t.Fatal(err)
	}
	if !has(de, "2026-04-03") || !has(de, "2026-12-25") || has(de, "2026-04-02") {
		t.Errorf("DE 2026: %v", de)
	}
	vic, err := CountryHolidays("AU-VIC", "R", 2014, 2014)
	if err != nil {
		t.Fatal(err)
	}
	if !has(vic, "2014-11-04") { // Melbourne Cup: first Tuesday of November
		t.Errorf("AU-VIC 2014 lacks the Melbourne Cup: %v", vic)
	}
	us, err := CountryHolidays("US", "R", 2021, 2021)
	if err != nil {
		t.Fatal(err)
	}
	if !has(us, "2021-12-31") { // 2022-01-01 is a Saturday
		t.Errorf("US 2021 lacks New Year 2022 observed on 2021-12-31: %v", us)
	}
	for _, e := range append(append(de, vic...), us...) {
		if e.Date.Year() < 2014 || e.Date.Year() > 2026 {
			t.Errorf("entry %v outside the years asked", e)
		}
	}
	if _, err := CountryHolidays("CN", "R", 2026, 2026); err == nil {
		t.Error("CountryHolidays(CN) did not refuse a country without rules")
	}
	if _, err := CountryHolidays("DE", "R", 2027, 2026); err == nil {
		t.Error("CountryHolidays accepted years 2027..2026")
	}
}
