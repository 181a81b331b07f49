// Package billing will turn validated consumption into bills: billing determinants per
// TOU bucket, tier and demand period, bills in exact decimals under a tariff's own rules,
// and idempotent billing runs. Its parts live in subpackages; billing/tariff holds the
// tariff documents (their format, validation, storage and the URDB import) that the bill
// calculation reads; billing/calc computes determinants and bills from them.
package billing
