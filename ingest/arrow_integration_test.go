package ingest_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/ingest"
	"github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/schema"
)

// arrowHeaders marks a message as an Arrow batch.
var arrowHeaders = []kafka.Header{{Key: "content-type", Value: []byte(wire.ContentTypeArrow)}}

// badRow is a refused row planted in an Arrow batch.
type badRow struct {
	row     int
	meterID string
	code    string
}

// arrowBatch encodes rs as one Arrow batch message, with a bad reading planted before
// each of the given positions of rs; it returns the message and where the bad rows are.
func arrowBatch(t *testing.T, rs []schema.Reading, plant map[int]schema.Reading, codes map[int]string) ([]byte, []badRow) {
	t.Helper()
	var cols ingest.Columns
	var bad []badRow
	for i, r := range rs {
		if b, ok := plant[i]; ok {
			bad = append(bad, badRow{row: cols.Len(), meterID: b.MeterID, code: codes[i]})
			cols.Append(b.MeterID, b.TS, b.RegisterWh, 0)
		}
		cols.Append(r.MeterID, r.TS, r.RegisterWh, 1)
	}
	v, err := wire.AppendArrow(nil, &cols)
	if err != nil {
		t.Fatal(err)
	}
	return v, bad
}

// deadLetters reads n messages from the dead-letter topic, with their headers as a map.
func (p *pipeline) deadLetters(t *testing.T, n int) ([]kafka.Message, []map[string]string) {
	t.Helper()
	r := p.dlqReader(t)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var msgs []kafka.Message
	var hdrs []map[string]string
	for range n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("reading dead letter %d of %d: %v", len(msgs)+1, n, err)
		}
		h := map[string]string{}
		for _, hd := range m.Headers {
			h[hd.Key] = string(hd.Value)
		}
		msgs, hdrs = append(msgs, m), append(hdrs, h)
	}
	return msgs, hdrs
}

// TestIngestArrowBatches produces a fleet as Arrow batch messages with bad rows planted in
// them, and a malformed Arrow message: every good row is stored, each bad row lands in the
// dead-letter topic on its own with its row index, and the malformed message as a whole.
func TestIngestArrowBatches(t *testing.T) {
	p := newPipeline(t)
	rs, _ := fleet(t, 3)
	now := time.Now().UTC().Truncate(time.Second)
	half := len(rs) / 2
	first, bad1 := arrowBatch(t, rs[:half],
		map[int]schema.Reading{0: {MeterID: "bad id!", TS: rs[0].TS, RegisterWh: 1}, 40: {MeterID: "NEG-1", TS: rs[0].TS, RegisterWh: -5}},
		map[int]string{0: ingest.CodeBadMeterID, 40: ingest.CodeNegative})
	second, bad2 := arrowBatch(t, rs[half:],
		map[int]schema.Reading{7: {MeterID: "FUTURE-1", TS: now.Add(48 * time.Hour), RegisterWh: 1}},
		map[int]string{7: ingest.CodeOutOfWindow})

	stop := p.runIngest(t)
	defer stop()
	p.produce(t, []kafka.Message{
		{Key: []byte("DAS-1"), Value: first, Headers: arrowHeaders},
		{Key: []byte("DAS-1"), Value: []byte("not an Arrow stream"), Headers: arrowHeaders},
		{Key: []byte("DAS-1"), Value: second, Headers: arrowHeaders},
	})
	p.waitCommitted(t)

	if got := p.distinctStored(t); got != uint64(len(rs)) {
		t.Fatalf("stored %d distinct (meter, ts), want every good row (%d)", got, len(rs))
	}
	var sum int64
	for _, r := range rs {
		sum += r.RegisterWh
	}
	var stored int64
	if err := p.conn.QueryRow(context.Background(),
		"SELECT toInt64(sum(wh)) FROM (SELECT meter_id, ts, any(register_wh) AS wh FROM readings GROUP BY meter_id, ts)").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != sum {
		t.Fatalf("sum of stored registers %d, produced %d", stored, sum)
	}

	msgs, hdrs := p.deadLetters(t, len(bad1)+1+len(bad2))
	// The single DLQ partition keeps the order of the source partition: first's rows, the
	// malformed message, second's rows.
	want := append(append(append([]badRow(nil), bad1...), badRow{row: -1, code: ingest.CodeMalformed}), bad2...)
	for i, w := range want {
		h := hdrs[i]
		if h["error-code"] != w.code || h["source-topic"] != p.cfg.Topic || h["error"] == "" {
			t.Errorf("dead letter %d: headers %v, want code %s", i, h, w.code)
		}
		if w.row < 0 {
			if _, ok := h["source-row"]; ok || string(msgs[i].Value) != "not an Arrow stream" {
				t.Errorf("dead letter %d: the malformed message should be kept whole, without source-row: %v %q", i, h, msgs[i].Value)
			}
			continue
		}
		if h["source-row"] != strconv.Itoa(w.row) {
			t.Errorf("dead letter %d: source-row %q, want %d", i, h["source-row"], w.row)
		}
		var row struct {
			MeterID    string `json:"meter_id"`
			RegisterWh int64  `json:"register_wh"`
		}
		if err := json.Unmarshal(msgs[i].Value, &row); err != nil || row.MeterID != w.meterID {
			t.Errorf("dead letter %d: value %s is not the row of %s as JSON (%v)", i, msgs[i].Value, w.meterID, err)
		}
	}
}
