package holidays

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/table"
)

// Columns are the columns of the calendar CSV format, in any order; name may be left out.
var Columns = []string{"region", "date", "kind", "name"}

// maxName is the longest name of an entry, in characters.
const maxName = 200

// ParseCSV reads the calendar CSV format: a header naming the columns region, date, kind
// and (optionally) name in any order, then one row per date: the region, the date as
// YYYY-MM-DD, the kind (holiday, special or working) and the holiday's name. Lines starting
// with # are comments. When region is not empty every row must be of that region. Errors
// are fault.FieldErrors whose field is the column and whose message names the line
// ("line 3: …"); two rows for one region and date are an error.
func ParseCSV(r io.Reader, region string) ([]Entry, error) {
	cr, err := table.NewCSVReader(r, Columns[:3]...)
	if err != nil {
		return nil, err
	}
	var out []Entry
	seen := map[string]string{}
	for {
		ok, err := cr.Next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		at := fmt.Sprintf("line %d", cr.Line())
		e, err := entryOf(at, region, cr.Cell("region"), cr.Cell("date"), cr.Cell("kind"), cr.Cell("name"))
		if err != nil {
			return nil, err
		}
		if err := noDuplicate(seen, at, e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
}

// jsonEntry is one element of the JSON format.
type jsonEntry struct {
	Region string `json:"region"`
	Date   string `json:"date"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
}

// ParseJSON reads the calendar JSON format: an array of objects with the fields of the CSV
// format ({"region":"CN","date":"2026-02-14","kind":"working","name":"…"}); region may be
// left out when region is given. Errors name the field and the element ("element 2: …",
// counting from 1).
func ParseJSON(r io.Reader, region string) ([]Entry, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var in []jsonEntry
	if err := dec.Decode(&in); err != nil {
		return nil, fault.Invalid("body", "not a JSON array of {region, date, kind, name}: %v", err)
	}
	out := make([]Entry, 0, len(in))
	seen := map[string]string{}
	for i, j := range in {
		at := fmt.Sprintf("element %d", i+1)
		if j.Region == "" {
			j.Region = region
		}
		e, err := entryOf(at, region, j.Region, j.Date, j.Kind, j.Name)
		if err != nil {
			return nil, err
		}
		if err := noDuplicate(seen, at, e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// entryOf checks the cells of one entry; at says where it is ("line 3").
func entryOf(at, want, region, date, kind, name string) (Entry, error) {
	if err := schema.CheckRegion("region", region); err != nil {
		return Entry{}, prefix(at, err)
	}
	if want != "" && region != want {
		return Entry{}, fault.Invalid("region", "%s: region %q in the calendar of %q", at, region, want)
	}
	d, err := ParseDate("date", date)
	if err != nil {
		return Entry{}, prefix(at, err)
	}
	k, err := ParseEntryKind("kind", kind)
	if err != nil {
		return Entry{}, prefix(at, err)
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxName {
		return Entry{}, fault.Invalid("name", "%s: want at most %d characters of UTF-8", at, maxName)
	}
	return Entry{Region: region, Date: d, Kind: k, Name: name}, nil
}

func noDuplicate(seen map[string]string, at string, e Entry) error {
	key := e.Region + " " + e.Date.Format(time.DateOnly)
	if first, dup := seen[key]; dup {
		return fault.Invalid("date", "%s: %s of %s is given again (first on %s)", at, e.Date.Format(time.DateOnly), e.Region, first)
	}
	seen[key] = at
	return nil
}

// prefix puts where into the message of a FieldError.
func prefix(at string, err error) error {
	var fe *fault.FieldError
	if errors.As(err, &fe) {
		return fault.Invalid(fe.Field, "%s: %s", at, fe.Message)
	}
	return fmt.Errorf("%s: %w", at, err)
}

// ParseDate parses v, the value of field, as a date YYYY-MM-DD that ClickHouse's Date
// holds (1970-01-01 to 2105-12-31), returning midnight UTC.
func ParseDate(field, v string) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, fault.Invalid(field, "%q is not a date like 2026-01-01", v)
	}
	if d.Year() < 1970 || d.Year() > 2105 {
		return time.Time{}, fault.Invalid(field, "%s is outside 1970-01-01 .. 2105-12-31, the dates the store holds", v)
	}
	return d, nil
}
