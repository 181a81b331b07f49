package wire_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/ingest"
	"github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
)

// collector is a MessageWriter that keeps copies of what it is given, as a broker would.
type collector struct {
	msgs  []kafka.Message
	calls int
}

func (c *collector) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	c.calls++
	for _, m := range msgs {
		m.Key, m.Value, m.Headers = bytes.Clone(m.Key), bytes.Clone(m.Value), slices.Clone(m.Headers)
		c.msgs = append(c.msgs, m)
	}
	return nil
}

// TestProducer produces a small fleet in each format and decodes the messages with
// ingest's own decoders: what the producer of sim and bench writes is what ingest accepts,
// reading for reading, every message is keyed, and an Arrow message holds only meters of
// its key's partition. (It was bench's TestEncodeChunks.)
func TestProducer(t *testing.T) {
	const n = 2500
	now := time.Now()
	to := now.Truncate(15 * time.Minute)
	fleetCfg := sim.Config{Meters: 1000, From: to.Add(-2 * time.Hour), To: to, Interval: 15 * time.Minute, Seed: 3, IDPrefix: "MTR-", TimeZone: "UTC"}
	window := ingest.Window{MaxAge: 24 * time.Hour, MaxFuture: time.Hour}
	const partitions = 3
	for _, format := range wire.Formats {
		t.Run(string(format), func(t *testing.T) {
			f, err := sim.New(fleetCfg)
			if err != nil {
				t.Fatal(err)
			}
			w := &collector{}
			var progress []int64
			p := &wire.Producer{Writer: w, Encoding: wire.Encoding{Format: format, ArrowBatch: 700, Partitions: partitions},
				ChunkReadings: 1000, Limit: n, Progress: func(k int64) { progress = append(progress, k) }}
			produced, err := p.Run(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			if produced != n || len(progress) != w.calls || progress[len(progress)-1] != n || w.calls < 2 {
				t.Fatalf("produced %d in %d writes, progress %v; want %d in several", produced, w.calls, progress, n)
			}
			wantCT := ""
			if format == wire.Arrow {
				wantCT = wire.ContentTypeArrow
			}
			var got ingest.Columns
			var balance kafka.Hash
			ids := []int{0, 1, 2}
			jd, ad := ingest.NewJSONDecoder(window), ingest.NewArrowDecoder(window)
			for _, m := range w.msgs {
				ct := ""
				for _, h := range m.Headers {
					if h.Key == wire.HeaderContentType {
						ct = string(h.Value)
					}
				}
				if ct != wantCT || len(m.Key) == 0 {
					t.Fatalf("message header %q key %q for format %s", ct, m.Key, format)
				}
				start := got.Len()
				switch ct {
				case "":
					if r, ok := jd.Decode(m.Key, m.Value, now, &got); !ok {
						t.Fatalf("JSON message refused: %v", r)
					}
				case wire.ContentTypeArrow:
					if rows, r, ok := ad.Decode(m.Value, now, &got); !ok || len(rows) > 0 {
						t.Fatalf("Arrow message refused: %v %v", r, rows)
					}
				}
				// Every meter of a message goes where its key goes.
				want := balance.Balance(kafka.Message{Key: m.Key}, ids...)
				for _, id := range got.MeterID[start:] {
					if p := balance.Balance(kafka.Message{Key: []byte(id)}, ids...); p != want {
						t.Fatalf("meter %s (partition %d) in a message keyed %s (partition %d)", id, p, m.Key, want)
					}
				}
			}
			if got.Len() != n {
				t.Fatalf("decoded %d readings, want %d", got.Len(), n)
			}
			// Messages regroup readings by partition: compare as sets, and check that each
			// meter's readings keep their order.
			type key struct {
				id string
				ts int64
			}
			seen := map[key]int64{}
			last := map[string]time.Time{}
			for i := range n {
				if t0, ok := last[got.MeterID[i]]; ok && !got.TS[i].After(t0) {
					t.Fatalf("meter %s: %s after %s", got.MeterID[i], got.TS[i], t0)
				}
				last[got.MeterID[i]] = got.TS[i]
				seen[key{got.MeterID[i], got.TS[i].Unix()}] = got.RegisterWh[i]
			}
			ref, _ := sim.New(fleetCfg)
			var r schema.Reading
			for range n {
				ref.Next(&r)
				if wh, ok := seen[key{r.MeterID, r.TS.Unix()}]; !ok || wh != r.RegisterWh {
					t.Fatalf("reading %s %s %d: got %d, %v", r.MeterID, r.TS, r.RegisterWh, wh, ok)
				}
			}
		})
	}
}
