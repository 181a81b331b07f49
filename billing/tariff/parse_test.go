package tariff

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/meterhouse/meterhouse/fault"
)

func readExample(t *testing.T, name string) *Document {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

// TestParseExamples parses the worked examples, YAML and JSON, and checks values that only
// an exact, float-free reading keeps, and that the JSON the store keeps parses back to the
// same document.
func TestParseExamples(t *testing.T) {
	cn := readExample(t, "cn-residential.yaml")
	if got := cn.Energy.TOU.Periods[0].Tiers[0].Rate.String(); got != "0.8383" {
		t.Errorf("critical peak tier 1 rate %s, want 0.8383", got)
	}
	if cn.Energy.TierAllocation != Chronological || cn.Energy.TierBasis != BasisAnnual {
		t.Errorf("allocation %q basis %q", cn.Energy.TierAllocation, cn.Energy.TierBasis)
	}
	us := readExample(t, "us-commercial.json")
	meter := us.FixedCharges[1].Amount
	// 0.2 as a float64 is 0.200000000000000011102230246251565...; read as text it is exact.
	if !meter.Mul(D("3").Decimal).Equal(D("0.6").Decimal) {
		t.Errorf("0.2 × 3 = %s, want exactly 0.6", meter.Mul(D("3").Decimal))
	}
	if us.Demand.Ratchet.Share.String() != "0.8" || us.EffectiveTo.String() != "2027-03-01" {
		t.Errorf("ratchet %s, effective_to %s", us.Demand.Ratchet.Share, us.EffectiveTo)
	}
	for _, d := range []*Document{cn, us} {
		b, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: its own JSON does not parse: %v\n%s", d.ID, err, b)
		}
		b2, _ := again.JSON()
		if !bytes.Equal(b, b2) {
			t.Errorf("%s: JSON round trip changed:\n%s\n%s", d.ID, b, b2)
		}
		y, err := d.YAML()
		if err != nil {
			t.Fatal(err)
		}
		fromYAML, err := Parse(bytes.NewReader(y))
		if err != nil {
			t.Fatalf("%s: its own YAML does not parse: %v\n%s", d.ID, err, y)
		}
		b3, _ := fromYAML.JSON()
		if !bytes.Equal(b, b3) {
			t.Errorf("%s: YAML round trip changed:\n%s\n%s", d.ID, b, b3)
		}
	}
}

// TestDocumentHelpers checks the season and TOU look-ups the bill calculation uses, and
// rounding by mode and currency.
func TestDocumentHelpers(t *testing.T) {
	cn := readExample(t, "cn-residential.yaml")
	for _, tc := range []struct {
		date, want string
	}{{"2026-07-01", "summer"}, {"2026-08-31", "summer"}, {"2026-09-01", "other"}, {"2026-01-01", "other"}, {"2028-02-29", "other"}} {
		d, _ := ParseDate(tc.date)
		if got := cn.SeasonOf(d); got != tc.want {
			t.Errorf("SeasonOf(%s) = %q, want %q", tc.date, got, tc.want)
		}
	}
	tou := cn.Energy.TOU
	for _, tc := range []struct {
		season, day string
		hour        int
		want        string
	}{{"summer", Weekday, 11, "critical_peak"}, {"other", Weekday, 11, "peak"}, {"summer", Holiday, 23, "valley"}, {"other", Weekend, 16, "flat"}} {
		if i := tou.PeriodAt(tc.season, tc.day, tc.hour); i < 0 || tou.Periods[i].Name != tc.want {
			t.Errorf("PeriodAt(%s, %s, %d) = %d, want %s", tc.season, tc.day, tc.hour, i, tc.want)
		}
	}
	for _, tc := range []struct {
		currency, mode, x, want string
	}{
		{"USD", "", "2.345", "2.35"}, {"USD", "", "-2.345", "-2.35"}, {"USD", "half_even", "2.345", "2.34"},
		{"USD", "down", "2.349", "2.34"}, {"USD", "up", "2.341", "2.35"}, {"JPY", "", "1234.5", "1235"}, {"KWD", "", "1.2345", "1.235"},
	} {
		d := Document{Currency: tc.currency, Rounding: Rounding{Mode: tc.mode}}
		if got := d.Round(D(tc.x).Decimal).String(); got != tc.want {
			t.Errorf("%s %s Round(%s) = %s, want %s", tc.currency, tc.mode, tc.x, got, tc.want)
		}
	}
}

// TestParseJSONAsWritten parses JSON as encoders and editors write it: tab indentation,
// escapes YAML does not know (\/), a byte order mark, numbers and strings for decimals.
func TestParseJSONAsWritten(t *testing.T) {
	doc := "\ufeff{\n\t\"id\": \"X\",\n\t\"name\": \"caf\\u00e9 \\/ \\\"night\\\"\",\n\t\"effective_from\": \"2026-01-01\",\n" +
		"\t\"time_zone\": \"UTC\",\n\t\"currency\": \"EUR\",\n\t\"energy\": {\n\t\t\"tiers\": [{\"up_to\": \"100\", \"rate\": 1.10}, {\"rate\": 0.9}]\n\t}\n}\n"
	d, err := Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != `café / "night"` || d.Energy.Tiers[0].Rate.String() != "1.1" || d.Energy.Tiers[0].UpTo.String() != "100" {
		t.Errorf("name %q, tier %s up to %s", d.Name, d.Energy.Tiers[0].Rate, d.Energy.Tiers[0].UpTo)
	}
}

// TestParseRefuses checks strict decoding: each malformed document is refused with a
// fault.FieldError naming the path of the offending field.
func TestParseRefuses(t *testing.T) {
	base := `id: X
effective_from: 2026-01-01
time_zone: UTC
currency: EUR
energy: {rate: 0.25}
`
	for _, tc := range []struct {
		name, doc, field string
	}{
		{"unknown top-level field", base + "colour: red\n", "colour"},
		{"unknown nested field", strings.Replace(base, "{rate: 0.25}", "{rate: 0.25, price: 1}", 1), "energy.price"},
		{"field twice", base + "currency: USD\n", "currency"},
		{"rate not a number", strings.Replace(base, "0.25", "cheap", 1), "energy.rate"},
		{"rate hex", strings.Replace(base, "0.25", "0x10", 1), "energy.rate"},
		{"rate a list", strings.Replace(base, "0.25", "[1]", 1), "energy.rate"},
		{"bad date", strings.Replace(base, "2026-01-01", "2026-13-01", 1), "effective_from"},
		{"null value", base + "name: ~\n", "name"},
		{"unknown field in json", `{"id":"X","effective_from":"2026-01-01","time_zone":"UTC","currency":"EUR","energy":{"rate":"0.25","tou":{"periods":[{"name":"a","rate":1,"hours":[{"ranges":["0-24"],"when":1}]}]}}}`, "energy.tou.periods[0].hours[0].when"},
		{"not a mapping", "- 1\n- 2\n", "body"},
		{"empty", "  \n", "body"},
		{"two documents", base + "---\n" + base, "body"},
		{"field twice in json", `{"id":"X","id":"Y"}`, "id"},
		{"two json values", `{"id":"X"} {"id":"Y"}`, "body"},
		{"json exponent", `{"id":"X","effective_from":"2026-01-01","time_zone":"UTC","currency":"EUR","energy":{"rate":1e-1}}`, "energy.rate"},
		{"json null", `{"id":"X","effective_from":"2026-01-01","time_zone":"UTC","currency":"EUR","energy":{"rate":null}}`, "energy.rate"},
		{"months not numbers", base + "demand: {flat: [{name: d, months: [jan], rate: 1}]}\n", "demand.flat[0].months[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.doc))
			var fe *fault.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("Parse: %v, want a fault on %s", err, tc.field)
			}
			if !errors.Is(err, fault.ErrInvalid) {
				t.Errorf("%v is not fault.ErrInvalid", err)
			}
		})
	}
	if _, err := Parse(strings.NewReader(base)); err != nil {
		t.Fatalf("the base document: %v", err)
	}
}

// TestReadmeExampleIsValid parses the worked example of the README's Tariffs section, so
// that the documentation never shows a document the validator refuses.
func TestReadmeExampleIsValid(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n### Tariffs\n")
	if i < 0 {
		t.Fatal("README.md has no Tariffs section")
	}
	s = s[i:]
	start := strings.Index(s, "```yaml\n")
	if start < 0 {
		t.Fatal("the Tariffs section has no YAML example")
	}
	s = s[start+len("```yaml\n"):]
	example := s[:strings.Index(s, "```")]
	d, err := Parse(strings.NewReader(example))
	if err != nil {
		t.Fatalf("the README's example: %v", err)
	}
	want := readExample(t, "cn-residential.yaml")
	a, _ := d.JSON()
	w, _ := want.JSON()
	if !bytes.Equal(a, w) {
		t.Errorf("the README's example is not testdata/cn-residential.yaml:\n%s\n%s", a, w)
	}
}
