// Package analytics answers analysts' questions over groups of meters from the tables the
// VEE job writes: the load curve of a feeder, region, customer class, tariff or the whole
// fleet (group_consumption), the top consumers, average daily profiles in a local time
// zone, and paginated data-quality summaries. Steps are package consumption's.
package analytics
