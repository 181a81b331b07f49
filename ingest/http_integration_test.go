package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/ingest"
	"github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
)

// httpIngest serves the HTTP ingest routes over a real token store, producing through
// producer, and returns the server and a function that issues tokens.
func (p *pipeline) httpIngest(t *testing.T, cfg ingest.HTTPConfig, producer ingest.Producer) (*httptest.Server, func(...api.Role) string) {
	t.Helper()
	srv, token := testenv.API(t, p.conn)
	h, err := ingest.NewHTTPHandler(cfg, p.cfg.Window, 3, producer) // newPipeline's readings topic has 3 partitions
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Register(srv); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Echo())
	t.Cleanup(hs.Close)
	return hs, token
}

func post(t *testing.T, url, token, contentType string, body []byte) (int, []byte) {
	t.Helper()
	r := testenv.Do(t, testenv.Request{Method: http.MethodPost, URL: url, Token: token,
		ContentType: contentType, Body: bytes.NewReader(body)})
	return r.Status, r.Body
}

func jsonLines(rs []schema.Reading) [][]byte {
	out := make([][]byte, len(rs))
	for i, r := range rs {
		out[i] = wire.AppendJSON(nil, r)
	}
	return out
}

// TestHTTPIngest posts readings as a JSON array, as NDJSON, as an Arrow stream and through
// the form endpoint, with bad readings among them: the response counts the accepted ones
// and lists each refused one, and the accepted ones are stored through the Kafka path.
func TestHTTPIngest(t *testing.T) {
	p := newPipeline(t)
	hs, token := p.httpIngest(t, ingest.DefaultHTTPConfig(), p.writer)
	ingestToken := token(api.RoleIngest)
	rs, _ := fleet(t, 3)
	third := len(rs) / 3
	now := time.Now().UTC()

	// A JSON array with a non-object, then a bad meter id at 5 before it.
	elems := jsonLines(rs[:third])
	elems = append(elems[:20], append([][]byte{[]byte(`42`)}, elems[20:]...)...)
	elems = append(elems[:5], append([][]byte{[]byte(`{"meter_id":"bad id!","ts":"` + rs[0].TS.Format(time.RFC3339) + `","register_wh":1}`)}, elems[5:]...)...)
	array := append(append([]byte("["), bytes.Join(elems, []byte(","))...), ']')

	// NDJSON with blank lines and a negative register as reading 3.
	lines := jsonLines(rs[third : 2*third])
	lines = append(lines[:3], append([][]byte{[]byte(`{"meter_id":"NEG-1","ts":"` + rs[0].TS.Format(time.RFC3339) + `","register_wh":-1}`)}, lines[3:]...)...)
	ndjson := append(bytes.Join(lines, []byte("\n")), "\n\n"...)

	// An Arrow stream with a reading in the future as row 7.
	var cols ingest.Columns
	for i, r := range rs[2*third:] {
		if i == 7 {
			cols.Append("FUTURE-1", now.Add(48*time.Hour).Truncate(time.Second), 1, 0)
		}
		cols.Append(r.MeterID, r.TS, r.RegisterWh, 0)
	}
	arrowBody, err := wire.AppendArrow(nil, &cols)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, contentType string
		body              []byte
		accepted          int
		refused           []ingest.Refusal
	}{
		{"JSON array", "application/json", array, third, []ingest.Refusal{
			{Index: 5, MeterID: "bad id!", Code: ingest.CodeBadMeterID, Field: "meter_id"},
			{Index: 21, Code: ingest.CodeMalformed}}}, // 20 before the insert at 5
		{"NDJSON", "application/x-ndjson; charset=utf-8", ndjson, third, []ingest.Refusal{
			{Index: 3, MeterID: "NEG-1", Code: ingest.CodeNegative, Field: "register_wh"}}},
		{"Arrow", wire.ContentTypeArrow, arrowBody, len(rs) - 2*third, []ingest.Refusal{
			{Index: 7, MeterID: "FUTURE-1", Code: ingest.CodeOutOfWindow, Field: "ts"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, hs.URL+"/v1/readings", ingestToken, tt.contentType, tt.body)
			if status != http.StatusAccepted {
				t.Fatalf("status %d: %s", status, body)
			}
			var res ingest.HTTPResult
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatal(err)
			}
			for i := range res.Refused {
				if res.Refused[i].Reason == "" {
					t.Errorf("refusal %d has no reason", i)
				}
				res.Refused[i].Reason = ""
			}
			if res.Accepted != tt.accepted || !reflect.DeepEqual(res.Refused, tt.refused) {
				t.Fatalf("got %+v, want accepted %d refused %+v", res, tt.accepted, tt.refused)
			}
		})
	}

	before := time.Now().UTC().Truncate(time.Second)
	form := url.Values{"meter_id": {"FORM-1"}, "reading": {"1234.567"}}.Encode()
	status, body := post(t, hs.URL+"/meter_reading", ingestToken, "application/x-www-form-urlencoded", []byte(form))
	if status != http.StatusAccepted || string(bytes.TrimSpace(body)) != `{"accepted":1,"refused":[]}` {
		t.Fatalf("form: status %d: %s", status, body)
	}
	after := time.Now().UTC()

	stop := p.runIngest(t)
	defer stop()
	p.waitCommitted(t)
	if got := p.distinctStored(t); got != uint64(len(rs)+1) {
		t.Fatalf("stored %d distinct (meter, ts), want the %d posted good readings", got, len(rs)+1)
	}
	var wh int64
	var ts time.Time
	if err := p.conn.QueryRow(context.Background(), "SELECT toInt64(register_wh), ts FROM readings WHERE meter_id = 'FORM-1'").Scan(&wh, &ts); err != nil {
		t.Fatal(err)
	}
	if wh != 1_234_567 || ts.Before(before) || ts.After(after) {
		t.Fatalf("form reading stored as %d Wh at %s, want 1234567 Wh between %s and %s", wh, ts, before, after)
	}
}

// TestHTTPIngestErrors checks the responses to requests that cannot be ingested at all.
func TestHTTPIngestErrors(t *testing.T) {
	p := newPipeline(t)
	hs, token := p.httpIngest(t, ingest.DefaultHTTPConfig(), p.writer)
	ingestToken, analyst := token(api.RoleIngest), token(api.RoleAnalyst)
	// A second server with small limits and a broker that is not there.
	down := &kafka.Writer{Addr: kafka.TCP("127.0.0.1:1"), Topic: p.cfg.Topic, MaxAttempts: 1, BatchTimeout: time.Millisecond}
	t.Cleanup(func() { down.Close() })
	small, smallToken := p.httpIngest(t, ingest.HTTPConfig{MaxBodyBytes: 300, MaxReadings: 2}, down)

	ts := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	one := `{"meter_id":"M1","ts":"` + ts + `","register_wh":1}`
	readings, formCT := hs.URL+"/v1/readings", "application/x-www-form-urlencoded"
	tests := []struct {
		name, url, token, contentType, body string
		status                              int
		code, field                         string
	}{
		{"no token", readings, "", "application/json", "[" + one + "]", http.StatusUnauthorized, "unauthorized", ""},
		{"analyst", readings, analyst, "application/json", "[" + one + "]", http.StatusForbidden, "forbidden", ""},
		{"content type", readings, ingestToken, "text/plain", one, http.StatusUnsupportedMediaType, "", ""},
		{"no content type", readings, ingestToken, "", one, http.StatusUnsupportedMediaType, "", ""},
		{"empty", readings, ingestToken, "application/json", "", http.StatusBadRequest, "invalid_parameter", "body"},
		{"malformed JSON", readings, ingestToken, "application/json", "[" + one + ",", http.StatusBadRequest, "invalid_parameter", "body"},
		{"object, not array", readings, ingestToken, "application/json", one, http.StatusBadRequest, "invalid_parameter", "body"},
		{"NDJSON of garbage", readings, ingestToken, wire.ContentTypeNDJSON, "a\nb\n", http.StatusBadRequest, "invalid_parameter", "body"},
		{"blank NDJSON", readings, ingestToken, wire.ContentTypeNDJSON, "\n \n", http.StatusBadRequest, "invalid_parameter", "body"},
		{"not Arrow", readings, ingestToken, wire.ContentTypeArrow, one, http.StatusBadRequest, "invalid_parameter", "body"},
		{"form without reading", hs.URL + "/meter_reading", ingestToken, formCT, "meter_id=M1", http.StatusBadRequest, "invalid_parameter", "reading"},
		{"form without meter", hs.URL + "/meter_reading", ingestToken, formCT, "reading=1", http.StatusBadRequest, "invalid_parameter", "meter_id"},
		{"form sub-Wh", hs.URL + "/meter_reading", ingestToken, formCT, "meter_id=M1&reading=12.3456", http.StatusBadRequest, "invalid_parameter", "reading"},
		{"form float syntax", hs.URL + "/meter_reading", ingestToken, formCT, "meter_id=M1&reading=1e3", http.StatusBadRequest, "invalid_parameter", "reading"},
		{"form negative", hs.URL + "/meter_reading", ingestToken, formCT, "meter_id=M1&reading=-1.5", http.StatusBadRequest, "invalid_parameter", "reading"},
		{"form bad meter", hs.URL + "/meter_reading", ingestToken, formCT, "meter_id=a+b&reading=1", http.StatusBadRequest, "invalid_parameter", "meter_id"},
		{"too many readings", small.URL + "/v1/readings", smallToken(api.RoleIngest), "application/json", "[" + one + "," + one + "," + one + "]", http.StatusBadRequest, "invalid_parameter", "body"},
		{"too large", small.URL + "/v1/readings", smallToken(api.RoleIngest), wire.ContentTypeNDJSON, strings.Repeat(one+"\n", 10), http.StatusRequestEntityTooLarge, "too_large", ""},
		{"Kafka down", small.URL + "/v1/readings", smallToken(api.RoleAdmin), "application/json", "[" + one + "]", http.StatusServiceUnavailable, "unavailable", ""},
		{"Kafka down, form", small.URL + "/meter_reading", smallToken(api.RoleIngest), formCT, "meter_id=M1&reading=1", http.StatusServiceUnavailable, "unavailable", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, tt.url, tt.token, tt.contentType, []byte(tt.body))
			var e api.ErrorBody
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("status %d, body %s: %v", status, body, err)
			}
			if status != tt.status || (tt.code != "" && e.Error.Code != tt.code) || e.Error.Field != tt.field || e.Error.Message == "" {
				t.Fatalf("got %d %+v, want %d code %q field %q", status, e.Error, tt.status, tt.code, tt.field)
			}
		})
	}
}
