package holidays

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/au"
	"github.com/rickar/cal/v2/de"
	"github.com/rickar/cal/v2/fr"
	"github.com/rickar/cal/v2/gb"
	"github.com/rickar/cal/v2/jp"
	"github.com/rickar/cal/v2/nl"
	"github.com/rickar/cal/v2/us"

	"github.com/meterhouse/meterhouse/fault"
)

// countries are the rule sets of github.com/rickar/cal/v2 that CountryHolidays offers, by
// the name given to --country: ISO 3166 codes, with the subdivision where public holidays
// differ by state. The library has no rules for China, whose holidays and substituted
// working days are announced each year: load them from a file.
var countries = map[string][]*cal.Holiday{
	"AU-NSW": au.HolidaysNSW,
	"AU-VIC": au.HolidaysVIC,
	"DE":     de.Holidays,
	"FR":     fr.Holidays,
	"GB":     gb.Holidays,
	"JP":     jp.Holidays,
	"NL":     nl.Holidays,
	"US":     us.Holidays,
}

// Countries returns the names CountryHolidays accepts, sorted.
func Countries() []string {
	out := make([]string, 0, len(countries))
	for c := range countries {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// CountryHolidays returns the public holidays of country (one of Countries) from fromYear
// to toYear inclusive as entries of region, on the day each is observed (a holiday moved
// off a weekend is on its substitute day). Holidays that share a date become one entry
// whose name joins theirs with " / ". The library's religious and other observances that
// are not days off (its types other than public and bank holiday) are left out.
func CountryHolidays(country, region string, fromYear, toYear int) ([]Entry, error) {
	rules, ok := countries[country]
	if !ok {
		return nil, fault.Invalid("country", "%q has no rules here; want one of %s", country, strings.Join(Countries(), ", "))
	}
	if fromYear < 1970 || toYear > 2105 || fromYear > toYear {
		return nil, fault.Invalid("years", "%d..%d: want a range of years within 1970..2105", fromYear, toYear)
	}
	byDate := map[time.Time]*Entry{}
	// A holiday can be observed in the year before its own (New Year on a Saturday,
	// observed on Friday the 31st), so the years around the range are computed too.
	for y := fromYear - 1; y <= toYear+1; y++ {
		for _, h := range rules {
			if h.Type != cal.ObservancePublic && h.Type != cal.ObservanceBank {
				continue
			}
			_, observed := h.Calc(y)
			if observed.IsZero() || observed.Year() < fromYear || observed.Year() > toYear {
				continue
			}
			d := dateKey(observed)
			if e := byDate[d]; e != nil {
				if !slices.Contains(strings.Split(e.Name, " / "), h.Name) {
					e.Name += " / " + h.Name
				}
				continue
			}
			byDate[d] = &Entry{Region: region, Date: d, Kind: EntryHoliday, Name: h.Name}
		}
	}
	out := make([]Entry, 0, len(byDate))
	for _, e := range byDate {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Date.Before(out[j].Date) })
	return out, nil
}
