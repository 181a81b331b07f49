package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/ingest"
	"github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/schema"
)

// recorder is a Producer that keeps a copy of every message it forwards to Kafka.
type recorder struct {
	next ingest.Producer
	mu   sync.Mutex
	msgs []kafka.Message
}

func (r *recorder) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	r.mu.Lock()
	for _, m := range msgs {
		m.Key, m.Value = bytes.Clone(m.Key), bytes.Clone(m.Value)
		r.msgs = append(r.msgs, m)
	}
	r.mu.Unlock()
	return r.next.WriteMessages(ctx, msgs...)
}

// take returns the messages recorded since the last call.
func (r *recorder) take() []kafka.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	msgs := r.msgs
	r.msgs = nil
	return msgs
}

// TestHTTPIngestQuality posts readings with quality codes (0 to 255) over HTTP as a JSON
// array, as NDJSON and as an Arrow stream, and reads them back from the readings table:
// every path keeps quality. A JSON body goes to Kafka as one JSON message per reading; an
// Arrow body as Arrow messages, each holding only meters of its key's partition, all
// carrying the content-type header and the acceptance time as their timestamp.
func TestHTTPIngestQuality(t *testing.T) {
	p := newPipeline(t)
	rec := &recorder{next: p.writer}
	hs, token := p.httpIngest(t, ingest.DefaultHTTPConfig(), rec)
	ingestToken := token(api.RoleIngest)
	const partitions = 3 // newPipeline's readings topic

	codes := []uint8{0, 1, 2, 7, 64, 128, 200, 254, 255}
	end := time.Now().UTC().Truncate(15 * time.Minute)
	readings := func(prefix string, meters int) []schema.Reading {
		var rs []schema.Reading
		for m := range meters {
			for k := range 3 {
				rs = append(rs, schema.Reading{MeterID: fmt.Sprintf("%s-%03d", prefix, m), TS: end.Add(-time.Duration(3-k) * 15 * time.Minute),
					RegisterWh: int64(1000*m + k), Quality: codes[(m+k)%len(codes)]})
			}
		}
		return rs
	}
	jsonRs, ndjsonRs, arrowRs := readings("QJ", 10), readings("QN", 10), readings("QA", 40)

	elems := make([][]byte, len(jsonRs))
	for i, r := range jsonRs {
		elems[i] = wire.AppendJSON(nil, r)
	}
	// Quality null means 0, like an Arrow null; a code over 255 is refused naming the field.
	nullQ := schema.Reading{MeterID: "QJ-NULL", TS: end, RegisterWh: 5}
	elems = append(elems, []byte(`{"meter_id":"QJ-NULL","ts":"`+end.Format(time.RFC3339)+`","register_wh":5,"quality":null}`),
		[]byte(`{"meter_id":"QJ-BIG","ts":"`+end.Format(time.RFC3339)+`","register_wh":5,"quality":256}`))
	array := append(append([]byte("["), bytes.Join(elems, []byte(","))...), ']')
	var lines []byte
	for _, r := range ndjsonRs {
		lines = append(wire.AppendJSON(lines, r), '\n')
	}
	var cols ingest.Columns
	for _, r := range arrowRs {
		cols.Append(r.MeterID, r.TS, r.RegisterWh, r.Quality)
	}
	arrowBody, err := wire.AppendArrow(nil, &cols)
	if err != nil {
		t.Fatal(err)
	}

	var balance kafka.Hash
	ids := []int{0, 1, 2}
	partitionOf := func(id []byte) int { return balance.Balance(kafka.Message{Key: id}, ids...) }
	tests := []struct {
		name, contentType string
		body              []byte
		accepted          int
		refused           []ingest.Refusal
		msgType           string
	}{
		{"JSON array", wire.ContentTypeJSON, array, len(jsonRs) + 1,
			[]ingest.Refusal{{Index: len(jsonRs) + 1, MeterID: "QJ-BIG", Code: ingest.CodeWrongType, Field: wire.FieldQuality}}, wire.ContentTypeJSON},
		{"NDJSON", wire.ContentTypeNDJSON, lines, len(ndjsonRs), []ingest.Refusal{}, wire.ContentTypeJSON},
		{"Arrow", wire.ContentTypeArrow, arrowBody, len(arrowRs), []ingest.Refusal{}, wire.ContentTypeArrow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.take() // what an earlier failed subtest left
			before := time.Now()
			status, body := post(t, hs.URL+"/v1/readings", ingestToken, tt.contentType, tt.body)
			after := time.Now()
			if status != http.StatusAccepted {
				t.Fatalf("status %d: %s", status, body)
			}
			var res ingest.HTTPResult
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatal(err)
			}
			for i := range res.Refused {
				res.Refused[i].Reason = ""
			}
			if res.Accepted != tt.accepted || !reflect.DeepEqual(res.Refused, tt.refused) {
				t.Fatalf("got %+v, want accepted %d refused %+v", res, tt.accepted, tt.refused)
			}

			msgs := rec.take()
			if len(msgs) == 0 {
				t.Fatal("nothing produced")
			}
			n, stamp := 0, msgs[0].Time
			seen := map[int]bool{}
			for _, m := range msgs {
				var ct string
				for _, h := range m.Headers {
					if h.Key == wire.HeaderContentType {
						ct = string(h.Value)
					}
				}
				if ct != tt.msgType || len(m.Key) == 0 || !m.Time.Equal(stamp) ||
					m.Time.Before(before.Truncate(time.Millisecond)) || m.Time.After(after) {
					t.Fatalf("message keyed %q, content-type %q, time %s; want %s, one acceptance time within [%s, %s]",
						m.Key, ct, m.Time, tt.msgType, before, after)
				}
				var got ingest.Columns
				if ct == wire.ContentTypeArrow {
					if rows, r, ok := ingest.NewArrowDecoder(p.cfg.Window).Decode(m.Value, m.Time, &got); !ok || len(rows) > 0 {
						t.Fatalf("Arrow message refused: %v %v", r, rows)
					}
				} else if r, ok := ingest.NewJSONDecoder(p.cfg.Window).Decode(m.Key, m.Value, m.Time, &got); !ok {
					t.Fatalf("JSON message refused: %v", r)
				}
				part := partitionOf(m.Key)
				if ct == wire.ContentTypeArrow && seen[part] {
					t.Fatalf("two Arrow messages for partition %d", part)
				}
				seen[part] = true
				for _, id := range got.MeterID {
					if partitionOf([]byte(id)) != part {
						t.Fatalf("meter %s in a message keyed %s of another partition", id, m.Key)
					}
				}
				n += got.Len()
			}
			if n != tt.accepted || (tt.msgType == wire.ContentTypeJSON && len(msgs) != tt.accepted) ||
				(tt.msgType == wire.ContentTypeArrow && len(msgs) != partitions) {
				t.Fatalf("%d readings in %d messages, want %d readings, in %d messages for Arrow (one per partition) or one per reading",
					n, len(msgs), tt.accepted, partitions)
			}
		})
	}

	stop := p.runIngest(t)
	defer stop()
	p.waitCommitted(t)
	want := map[string]uint8{}
	for _, r := range slices.Concat(jsonRs, ndjsonRs, arrowRs, []schema.Reading{nullQ}) {
		want[fmt.Sprintf("%s %d", r.MeterID, r.TS.Unix())] = r.Quality
	}
	rows, err := p.conn.Query(context.Background(), "SELECT meter_id, toInt64(toUnixTimestamp(ts)), quality FROM readings")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]uint8{}
	for rows.Next() {
		var id string
		var ts int64
		var q uint8
		if err := rows.Scan(&id, &ts, &q); err != nil {
			t.Fatal(err)
		}
		got[fmt.Sprintf("%s %d", id, ts)] = q
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		for k, q := range want {
			if g, ok := got[k]; !ok || g != q {
				t.Errorf("reading %s: stored quality %d (stored: %v), want %d", k, g, ok, q)
			}
		}
		t.Fatalf("stored %d readings, want %d", len(got), len(want))
	}
}
