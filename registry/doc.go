// Package registry is the meter registry worth billing from: meters and service
// agreements, each kept as an append-only history of versions with a validity date, so that
// any date's state can be read back ("as of"), loaded through the API
// (PUT /v1/admin/meters/{id}, PUT /v1/admin/agreements/{id}, their CSV bulk forms) and the
// CLI (meterhouse registry import).
//
// Each attribute has one owner. The meter owns its physical attributes: feeder, region,
// time zone and status (active or retired, once). The service agreement owns the account,
// the service point, the meter(s) over time, the tariff, the customer class, the billing
// cycle (a cycle day or a cycle calendar), the start and end dates (move-in and move-out)
// and, in the private database, the customer's name, address and life-support flag.
//
// The meters table that VEE, forecast and the group roll-ups read stays the flattened
// current view: on every change Store rewrites the rows of the meters touched, with the
// meter's own newest attributes and the customer class and tariff of the agreement in
// force on the meter today. The package is top level, not under billing, because those
// readers' view is its output and billing is only one of its readers.
package registry
