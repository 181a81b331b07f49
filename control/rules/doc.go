// Package rules holds remote control's safety rules of disconnection: a control.Checker
// that refuses a disconnect, naming the rule and why, when
//
//   - life_support: the customer of the agreement in force on the meter has the
//     life-support flag (registry), unless Check.Override (a supervisor's approval) allows it;
//   - notice_period: the agreement's disconnect notice date + the region's notice_days has
//     not been reached, or there is no notice date (or no agreement) at all;
//   - weekend, holiday, day_before_holiday: the local date is a Saturday or Sunday (not a
//     substituted working day), a public holiday, or the day before one, in the meter's
//     region's calendar (package calendar/holidays); with either holiday rule on, a region
//     with no holiday loaded within half a year of the date is refused as well;
//   - cutoff_hour: the local hour in the meter's time zone is at or after the cut-off hour;
//   - weather_moratorium: the latest forecast temperature (package weather) of the
//     meter's region for an hour of the next hours is beyond the thresholds, or missing.
//
// The rules are evaluated in that order and the first refusal is returned. Only
// disconnects are checked: reconnects (emergency or not), arm and read_now pass every
// rule. Rules and thresholds are configuration per region (Config). The data are read at
// each Check through the narrow interfaces of Deps, which the registry, holidays and
// weather stores implement (a region's calendar and forecasts are reused for
// Config.CacheTTL); a read that fails is an error, never a pass.
package rules
