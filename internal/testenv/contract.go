package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/schema"
)

// The fixtures and result decoding below are shared by the tests of the read paths that
// answer with tables (query/analytics and the analyst SQL endpoint, query/sql): rows
// written straight into the contract tables, and the JSON form of a table.Result.

// ResultJSON is the JSON form of a table.Result.
type ResultJSON struct {
	// Columns are the result's columns, with their names and types.
	Columns []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"columns"`
	// Rows are the result's rows, numbers kept as json.Number.
	Rows []map[string]any `json:"rows"`
	// NextCursor is the next page's cursor of a paginated result.
	NextCursor string `json:"next_cursor"`
	// Totals holds a result's totals, if any.
	Totals map[string]any `json:"totals"`
	// Error is the error of a refused request.
	Error *api.ErrorDetail `json:"error"`
}

// DecodeResult decodes body, an answer of status, as a ResultJSON, failing the test when
// it is not one.
func DecodeResult(t testing.TB, status int, body []byte) ResultJSON {
	t.Helper()
	var out ResultJSON
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("status %d, body %s: %v", status, body, err)
	}
	return out
}

// Project returns the named fields of each row, as strings; a list's elements are joined
// with "+".
func Project(rows []map[string]any, fields ...string) [][]string {
	out := [][]string{}
	for _, r := range rows {
		var rec []string
		for _, f := range fields {
			switch v := r[f].(type) {
			case []any:
				var parts []string
				for _, x := range v {
					parts = append(parts, x.(string))
				}
				rec = append(rec, strings.Join(parts, "+"))
			default:
				rec = append(rec, strings.TrimSpace(strings.Trim(JSONText(v), `"`)))
			}
		}
		out = append(out, rec)
	}
	return out
}

// JSONText returns v encoded as JSON, or "" when it cannot be.
func JSONText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// ConsumptionRow is one fixture row of the consumption table. Times are RFC 3339; an empty
// ComputedAt is 2026-11-01T00:00:00Z.
type ConsumptionRow struct {
	Res, Meter, Start                                    string
	Wh                                                   int64
	Intervals, Expected, Estimated, Edited, Questionable uint32
	Flags                                                []string
	ComputedAt                                           string
}

// InsertConsumption writes rows into the consumption table.
func InsertConsumption(t testing.TB, conn driver.Conn, rows []ConsumptionRow) {
	t.Helper()
	ctx := context.Background()
	b, err := conn.PrepareBatch(ctx, "INSERT INTO consumption (resolution, meter_id, start, wh, quality, intervals, expected_intervals, estimated, edited, questionable, flags, reasons, computed_at)")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.ComputedAt == "" {
			r.ComputedAt = "2026-11-01T00:00:00Z"
		}
		if r.Flags == nil {
			r.Flags = []string{}
		}
		if err := b.Append(r.Res, r.Meter, fixtureTime(t, r.Start), r.Wh, uint8(0), r.Intervals, r.Expected, r.Estimated, r.Edited, r.Questionable, r.Flags, []string{}, fixtureTime(t, r.ComputedAt)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// InsertRegistry writes the meters M1 and M2 (feeder F1), M3 and M4 (F2) and P (F9), all
// residential, region north, tariff T1, in Europe/Berlin; M3 is written twice, first on
// feeder F2 and then moved to F1, so only FINAL readers see it where it is.
func InsertRegistry(t testing.TB, conn driver.Conn) {
	t.Helper()
	m := func(id, feeder, tz string, at string) schema.Meter {
		return schema.Meter{MeterID: id, CustomerClass: "residential", Feeder: feeder, Region: "north", Tariff: "T1",
			TimeZone: tz, Status: "active", UpdatedAt: fixtureTime(t, at)}
	}
	meters := []schema.Meter{
		m("M1", "F1", "Europe/Berlin", "2026-01-01T00:00:00Z"),
		m("M2", "F1", "Europe/Berlin", "2026-01-01T00:00:00Z"),
		m("M3", "F2", "Europe/Berlin", "2026-01-01T00:00:00Z"),
		m("M4", "F2", "Europe/Berlin", "2026-01-01T00:00:00Z"),
		m("P", "F9", "Europe/Berlin", "2026-01-01T00:00:00Z"),
	}
	if err := schema.InsertMeters(context.Background(), conn, meters); err != nil {
		t.Fatal(err)
	}
	if err := schema.InsertMeters(context.Background(), conn, []schema.Meter{m("M3", "F1", "Europe/Berlin", "2026-02-01T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
}

// QualityRows is the quality and top-consumer fixture of consumption rows: hours
// 00:00–03:00 UTC of 2026-03-28.
var QualityRows = []ConsumptionRow{
	// M1: an early computation of 00:00, replaced by the later one below.
	{Res: "1h", Meter: "M1", Start: "2026-03-28T00:00:00Z", Wh: 999, Intervals: 1, Expected: 4, ComputedAt: "2026-10-01T00:00:00Z"},
	{Res: "1h", Meter: "M1", Start: "2026-03-28T00:00:00Z", Wh: 100, Intervals: 4, Expected: 4},
	{Res: "1h", Meter: "M1", Start: "2026-03-28T01:00:00Z", Wh: 50, Intervals: 4, Expected: 4, Estimated: 1, Flags: []string{"spike"}},
	{Res: "1h", Meter: "M1", Start: "2026-03-28T03:00:00Z", Wh: 7000, Intervals: 4, Expected: 4}, // outside the range
	{Res: "1h", Meter: "M2", Start: "2026-03-28T00:00:00Z", Wh: 200, Intervals: 3, Expected: 4, Edited: 1, Questionable: 1, Flags: []string{"spike", "gap"}},
	{Res: "1h", Meter: "M4", Start: "2026-03-28T00:00:00Z", Wh: 120, Intervals: 4, Expected: 4},
	{Res: "1h", Meter: "M4", Start: "2026-03-28T01:00:00Z", Wh: 10, Intervals: 4, Expected: 4},
	{Res: "15m", Meter: "M2", Start: "2026-03-28T00:00:00Z", Wh: 1000000, Intervals: 1, Expected: 1}, // another resolution
}

// fixtureTime parses an RFC 3339 time of a fixture, failing the test when it is not one.
func fixtureTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
