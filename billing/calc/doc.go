// Package calc computes bills: billing determinants from validated interval energy (kWh
// per TOU period and tier, maximum demand per period, days, estimated intervals) and the
// bill's lines under a tariff document, in exact decimals (shopspring/decimal; never
// float64 in money). It is pure logic: no database, no HTTP. A billing run reads the
// intervals and the tariff versions and calls Compute; `meterhouse bill preview` calls it
// on files.
package calc
