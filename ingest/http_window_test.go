package ingest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/ingest"
	"github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
)

// postReadings posts body and returns the decoded 202 answer, failing on any other.
func postReadings(t *testing.T, url, token, contentType string, body []byte) ingest.HTTPResult {
	t.Helper()
	status, resp := post(t, url, token, contentType, body)
	var res ingest.HTTPResult
	if status != http.StatusAccepted {
		t.Fatalf("%s: status %d: %.300s", contentType, status, resp)
	}
	if err := json.Unmarshal(resp, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func jsonArray(rs []schema.Reading) []byte {
	return append(append([]byte("["), bytes.Join(jsonLines(rs), []byte(","))...), ']')
}

func arrowOf(t *testing.T, rs []schema.Reading) []byte {
	t.Helper()
	var cols ingest.Columns
	for _, r := range rs {
		cols.Append(r.MeterID, r.TS, r.RegisterWh, 0)
	}
	b, err := wire.AppendArrow(nil, &cols)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHTTPAcceptedNeverDeadLettered reproduces issue 8's loss of accepted readings: with a
// window of seconds, readings at every second of it are accepted over HTTP (JSON array,
// NDJSON, Arrow and the form), the consumer starts only once every one of them is outside
// the window as its clock sees it, and every accepted reading must be stored, none
// dead-lettered: the window is judged against the messages' timestamps, which HTTP ingest
// sets to the acceptance time.
func TestHTTPAcceptedNeverDeadLettered(t *testing.T) {
	p := newPipeline(t)
	p.cfg.Window = ingest.Window{MaxAge: 6 * time.Second, MaxFuture: 2 * time.Second}
	hs, token := p.httpIngest(t, ingest.DefaultHTTPConfig(), p.writer)
	ingestToken := token(api.RoleIngest)

	now := time.Now().UTC().Truncate(time.Second)
	byMeter := make([][]schema.Reading, 4)
	for m := range byMeter {
		for k := -4; k <= 2; k++ { // 7 seconds of the window, to its future edge
			byMeter[m] = append(byMeter[m], schema.Reading{MeterID: fmt.Sprintf("EDGE-%d", m),
				TS: now.Add(time.Duration(k) * time.Second), RegisterWh: int64(1000*m + k + 10)})
		}
	}
	readings := hs.URL + "/v1/readings"
	accepted := 0
	for _, body := range []struct {
		contentType string
		body        []byte
	}{
		{wire.ContentTypeJSON, jsonArray(append(byMeter[0], byMeter[1]...))},
		{wire.ContentTypeNDJSON, bytes.Join(jsonLines(byMeter[2]), []byte("\n"))},
		{wire.ContentTypeArrow, arrowOf(t, byMeter[3])},
	} {
		res := postReadings(t, readings, ingestToken, body.contentType, body.body)
		if len(res.Refused) != 0 {
			t.Fatalf("%s: refused %+v; the test's readings must all be inside the window", body.contentType, res.Refused)
		}
		accepted += res.Accepted
	}
	form := url.Values{"meter_id": {"EDGE-FORM"}, "reading": {"1.5"}}.Encode()
	if status, body := post(t, hs.URL+"/meter_reading", ingestToken, "application/x-www-form-urlencoded", []byte(form)); status != http.StatusAccepted {
		t.Fatalf("form: status %d: %s", status, body)
	}
	accepted++
	if accepted != 29 {
		t.Fatalf("accepted %d readings, want 29", accepted)
	}

	// Past the edge: to a consumer judging by its own clock, every reading is now too old.
	edge := now.Add(2*time.Second + p.cfg.Window.MaxAge + time.Second)
	time.Sleep(time.Until(edge))
	r := startIngester(t, p.cfg, p.conn)
	p.waitCommitted(t)
	if got := p.distinctStored(t); got != uint64(accepted) {
		t.Errorf("stored %d of the %d readings answered 202", got, accepted)
	}
	if got := r.metric(t, "meterhouse_ingest_dead_letters_total"); got != 0 {
		t.Errorf("%v accepted readings went to the dead-letter topic", got)
	}
}

// TestHTTPTimestampRange posts the bounds of a reading's ts (a second after the DateTime
// epoch, and the DateTime maximum) and a second beyond each in every body format, under a
// window wide enough to hold both bounds: the bounds are accepted, the others refused as
// bad_timestamp naming ts.
func TestHTTPTimestampRange(t *testing.T) {
	p := newPipeline(t)
	p.cfg.Window = ingest.Window{MaxAge: 100 * 365 * 24 * time.Hour, MaxFuture: 100 * 365 * 24 * time.Hour}
	hs, token := p.httpIngest(t, ingest.DefaultHTTPConfig(), p.writer)
	ingestToken := token(api.RoleIngest)
	rs := []schema.Reading{
		{MeterID: "R-MIN", TS: schema.MinDateTime.Add(time.Second), RegisterWh: 1},
		{MeterID: "R-MAX", TS: schema.LatestTime, RegisterWh: 2},
		{MeterID: "R-EPOCH", TS: schema.MinDateTime, RegisterWh: 3},
		{MeterID: "R-AFTER", TS: schema.LatestTime.Add(time.Second), RegisterWh: 4},
		{MeterID: "R-2163", TS: time.Date(2163, 1, 1, 0, 0, 0, 0, time.UTC), RegisterWh: 5},
	}
	for _, body := range []struct {
		contentType string
		body        []byte
	}{
		{wire.ContentTypeJSON, jsonArray(rs)},
		{wire.ContentTypeNDJSON, bytes.Join(jsonLines(rs), []byte("\n"))},
		{wire.ContentTypeArrow, arrowOf(t, rs)},
	} {
		t.Run(body.contentType, func(t *testing.T) {
			res := postReadings(t, hs.URL+"/v1/readings", ingestToken, body.contentType, body.body)
			if res.Accepted != 2 || len(res.Refused) != 3 {
				t.Fatalf("got %+v, want the 2 bounds accepted and 3 refused", res)
			}
			for i, r := range res.Refused {
				if r.Index != i+2 || r.Code != ingest.CodeBadTimestamp || r.Field != "ts" || !strings.Contains(r.Reason, "2105-12-31T23:59:59Z") {
					t.Errorf("refusal %+v, want index %d bad_timestamp for ts naming the range", r, i+2)
				}
			}
		})
	}
}

// TestHTTPIngestMemory posts the largest bodies the default limits allow (max_readings
// readings padded to max_body_bytes, in each format) and the 16 MiB array of 8 million
// numbers, through a real server and Kafka, and requires the peak heap of each request to
// stay within the README's bound for one request: 4 × max_body_bytes + 64 MiB.
func TestHTTPIngestMemory(t *testing.T) {
	p := newPipeline(t)
	cfg := ingest.DefaultHTTPConfig()
	hs, token := p.httpIngest(t, cfg, p.writer)
	ingestToken := token(api.RoleIngest)

	now := time.Now().UTC().Truncate(time.Second)
	rs := make([]schema.Reading, cfg.MaxReadings)
	for i := range rs {
		rs[i] = schema.Reading{MeterID: fmt.Sprintf("MEM-%05d", i%5000), TS: now.Add(-time.Duration(i/5000+1) * 15 * time.Minute), RegisterWh: int64(i)}
	}
	// Pad each reading with an ignored field so that the body is just under the limit.
	lines := jsonLines(rs)
	size := 2
	for _, l := range lines {
		size += len(l) + 1
	}
	pad := (int(cfg.MaxBodyBytes)-size)/len(lines) - len(`,"pad":""`)
	for i, l := range lines {
		lines[i] = append(l[:len(l)-1:len(l)-1], `,"pad":"`+strings.Repeat("x", pad)+`"}`...)
	}
	array := append(append([]byte("["), bytes.Join(lines, []byte(","))...), ']')
	ndjson := bytes.Join(lines, []byte("\n"))
	hostile := append(bytes.Repeat([]byte("1,"), 8<<20-1), '1')
	hostile = append(append([]byte("["), hostile[:len(hostile)-2]...), ']')

	bound := uint64(4*cfg.MaxBodyBytes + 64<<20)
	for _, tt := range []struct {
		name, contentType string
		body              []byte
		status, accepted  int
	}{
		{"largest JSON array", wire.ContentTypeJSON, array, http.StatusAccepted, cfg.MaxReadings},
		{"largest NDJSON", wire.ContentTypeNDJSON, ndjson, http.StatusAccepted, cfg.MaxReadings},
		{"largest Arrow", wire.ContentTypeArrow, arrowOf(t, rs), http.StatusAccepted, cfg.MaxReadings},
		{"8 million numbers", wire.ContentTypeJSON, hostile, http.StatusBadRequest, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if int64(len(tt.body)) > cfg.MaxBodyBytes {
				t.Fatalf("test body of %d bytes is over the limit", len(tt.body))
			}
			var status int
			var resp []byte
			peak := testenv.PeakHeap(func() { status, resp = post(t, hs.URL+"/v1/readings", ingestToken, tt.contentType, tt.body) })
			t.Logf("%d-byte body: peak heap +%d MiB (bound %d MiB)", len(tt.body), peak>>20, bound>>20)
			if status != tt.status {
				t.Fatalf("status %d: %.300s", status, resp)
			}
			if tt.accepted > 0 {
				var res ingest.HTTPResult
				if err := json.Unmarshal(resp, &res); err != nil || res.Accepted != tt.accepted {
					t.Fatalf("accepted %d (%v), want %d", res.Accepted, err, tt.accepted)
				}
			}
			if peak > bound {
				t.Errorf("peak heap grew by %d MiB, over the bound of %d MiB", peak>>20, bound>>20)
			}
		})
	}
}
