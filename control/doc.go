// Package control is remote control of meters: operators request connect, disconnect,
// arm and on-demand reads; supervisors approve what needs a second person; safety rules
// refuse disconnections that must not happen; commands are signed (control/wire), sent
// through the DAS over Kafka exactly once per meter sequence, and followed to their
// result; every step goes to a hash-chained audit log (control/audit).
//
// This file holds the types the safety rules (control/rules) and the command service
// share: what a rule is asked (Check) and how it refuses (Refusal).
package control
