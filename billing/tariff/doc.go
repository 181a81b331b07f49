// Package tariff holds tariffs as versioned documents: the document format (YAML or JSON,
// the same snake_case field names), its strict parsing and validation, a ClickHouse store
// of versions (append-only, table tariffs), the routes that load and read them, and the
// conversion of an OpenEI Utility Rate Database (URDB) rate into a document.
//
// Every amount, rate and quantity is a decimal.Decimal (github.com/shopspring/decimal)
// read from the document's literal text, never through float64, so that "0.1" stays
// exactly 0.1 and a bill is exact to the minor unit. Parse accepts YAML and JSON alike
// (both become one node tree that keeps every number's text), refuses unknown and
// repeated fields, and Validate reports the first fault with the path of the offending
// field, like energy.tou.periods[2].hours[0]. Read documents with Parse, not with
// encoding/json or yaml.Unmarshal, which are neither strict nor validating.
//
// Bills are computed elsewhere (the billing calculation reads Document); this package
// only guarantees that a document it accepts is complete and unambiguous: every hour of
// every day type and season belongs to exactly one TOU period, tiers increase, seasons
// cover the year once, and so on (see Validate).
package tariff
