// Package vee validates, estimates and edits smart-meter interval data (VEE).
//
// A meter reports a cumulative import register in whole watt-hours at the end
// of each interval. Process takes one meter's readings over a window [From, To)
// together with some history, and returns one Interval per nominal slot of the
// window. Each interval carries its energy in whole Wh, a NAESB ESPI quality
// code, the flags raised by the validation rules, and, when it was edited by
// hand, the edit record and the value it had before the edit.
//
// The package is the VEE engine and pure logic: it talks to no database or broker. Its
// rules are configured per customer class through Config and RuleSet. The VEE job, package
// vee/job, runs it over the readings stored in ClickHouse.
//
// Guarantees:
//
//   - Flagged data is kept, never dropped: rules annotate intervals with Flags,
//     and an interval that is flagged questionable and not estimated gets
//     QualityQuestionable.
//   - Energy is exact: every Wh in the output is an integer, and when the
//     registers at both ends of a run of missing intervals are known, the
//     estimated intervals sum exactly to the (rollover-adjusted) register
//     difference. Consequently, when the registers at From and To are known
//     and no meter replacement happened inside the window, the window's
//     intervals sum exactly to register(To) − register(From).
//   - No estimate invents consumption while the relay is open: a missing interval
//     during all of which Input.Relay says the relay was disconnected or armed is
//     estimated as 0 Wh, and a gap across a disconnect or reconnect shares its register
//     difference over its connected intervals only. Energy the registers recorded while
//     the relay was open is kept and flagged (RuleConsumptionWhileDisconnected).
//   - Time is UTC. A *time.Location is only used to find local days (for the
//     daily-usage rule and like-day estimation).
package vee
