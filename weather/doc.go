// Package weather keeps observed and forecast temperature per region and hour, the
// exogenous data that forecasts (and later billing's weather normalisation) share.
//
// Every value is for one hour of one region (its valid time, the start of the hour in
// UTC) and is either an observation or a forecast; a forecast keeps its source and the
// time it was issued, because a forecast made on Monday for Wednesday is not Wednesday's
// observation, nor Tuesday's forecast for it. A model trained or run for an issue time t
// asks Store.Forecast for the latest forecast issued at or before t, hour by hour; it gets
// observations only from Store.Observed, never by accident.
//
// Values are loaded from the CSV format of ParseCSV (meterhouse weather load, PUT
// /v1/admin/weather) into ClickHouse's weather table, where reloading the same region,
// kind, source, issue and hour replaces the value.
package weather
