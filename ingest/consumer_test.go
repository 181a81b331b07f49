package ingest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
)

// testConsumer returns a consumer that can decode messages (add) but not fetch or flush.
func testConsumer(t testing.TB) *consumer {
	t.Helper()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Window = testWindow()
	return &consumer{Ingester: &Ingester{cfg: cfg, log: testenv.Logger(t), metrics: m},
		json: NewJSONDecoder(cfg.Window), arrow: NewArrowDecoder(cfg.Window), next: map[int]int64{}}
}

// jsonMessages returns one JSON message per reading of meters meters, as the consumer
// reads them from Kafka: keyed by meter id, with the content-type header and a timestamp.
func jsonMessages(meters int) []kafka.Message {
	msgs := make([]kafka.Message, meters)
	hdr := []kafka.Header{{Key: wire.HeaderContentType, Value: []byte(wire.ContentTypeJSON)}}
	for i := range msgs {
		r := schema.Reading{MeterID: fmt.Sprintf("MTR-%06d", i), TS: testNow.Add(-time.Hour), RegisterWh: int64(i) * 1000}
		msgs[i] = kafka.Message{Key: []byte(r.MeterID), Value: wire.AppendJSON(nil, r), Headers: hdr,
			Time: testNow, Partition: i % 4, Offset: int64(i)}
	}
	return msgs
}

// TestConsumerAddKeys checks what the batch holds as the meter id: a keyed message's own
// key, an unkeyed message's id from the JSON, and a key that differs from the id is still
// refused.
func TestConsumerAddKeys(t *testing.T) {
	value := wire.AppendJSON(nil, schema.Reading{MeterID: "M1", TS: testNow.Add(-time.Hour), RegisterWh: 5})
	tests := []struct {
		name string
		key  string
		want string // the stored id, or the dead-letter code
	}{
		{"keyed", "M1", "M1"},
		{"unkeyed", "", "M1"},
		{"other key", "M2", "dead " + CodeKeyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConsumer(t)
			var key []byte
			if tt.key != "" {
				key = []byte(tt.key)
			}
			c.add(kafka.Message{Key: key, Value: value, Time: testNow, Partition: 2, Offset: 41})
			got := ""
			switch {
			case c.cols.Len() == 1 && len(c.dead) == 0:
				got = c.cols.MeterID[0]
			case c.cols.Len() == 0 && len(c.dead) == 1:
				got = "dead " + header(c.dead[0].Headers, "error-code")
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if c.next[2] != 42 {
				t.Fatalf("next offset of partition 2: %d, want 42 (the one to commit)", c.next[2])
			}
		})
	}
}

// TestConsumerAddAllocs requires that decoding a JSON message into the batch allocates
// nothing once the batch's columns have grown: the messages kafka-go hands over are the
// only per-message allocations of the consumer path.
func TestConsumerAddAllocs(t *testing.T) {
	c := testConsumer(t)
	msgs := jsonMessages(1000)
	for _, m := range msgs { // grow the columns
		c.add(m)
	}
	i := 0
	allocs := testing.AllocsPerRun(10_000, func() {
		if i%len(msgs) == 0 {
			c.cols.Reset()
		}
		c.add(msgs[i%len(msgs)])
		i++
	})
	if allocs != 0 {
		t.Fatalf("%.2f allocations per message, want 0", allocs)
	}
	if len(c.dead) != 0 {
		t.Fatalf("%d messages refused", len(c.dead))
	}
}

// BenchmarkConsumerAdd measures the consumer's decode loop over a large fleet's keyed JSON
// messages in random meter order (as many meters as the bench's 100 000), the batch reset
// every 500 000 readings as a flush would.
func BenchmarkConsumerAdd(b *testing.B) {
	const meters, batch = 100_000, 500_000
	msgs := jsonMessages(meters)
	perm := make([]int, meters)
	for i := range perm {
		perm[i] = (i * 7919) % meters // 7919 is prime: a fixed scattered order
	}
	c := testConsumer(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if c.cols.Len() == batch {
			c.cols.Reset()
		}
		c.add(msgs[perm[i%meters]])
	}
	if len(c.dead) != 0 {
		b.Fatalf("%d messages refused", len(c.dead))
	}
}

// BenchmarkJSONDecodeKeys compares the two ways the JSON decoder turns a large fleet's
// meter ids into the batch's strings, over keyed messages in scattered meter order: the id
// table (Decode, for callers that keep their buffers) and the message's own key
// (decodeOwnedKey, the consumer's way).
func BenchmarkJSONDecodeKeys(b *testing.B) {
	const meters, batch = 100_000, 500_000
	msgs := jsonMessages(meters)
	for _, tt := range []struct {
		name   string
		decode func(d *JSONDecoder, key, value []byte, cols *Columns) (Reject, bool)
	}{
		{"id-table", func(d *JSONDecoder, key, value []byte, cols *Columns) (Reject, bool) {
			return d.Decode(key, value, testNow, cols)
		}},
		{"owned-key", func(d *JSONDecoder, key, value []byte, cols *Columns) (Reject, bool) {
			return d.decodeOwnedKey(key, value, testNow, cols)
		}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			d := NewJSONDecoder(testWindow())
			var cols Columns
			b.ReportAllocs()
			for i := range b.N {
				if cols.Len() == batch {
					cols.Reset()
				}
				m := msgs[(i*7919)%meters]
				if _, ok := tt.decode(d, m.Key, m.Value, &cols); !ok {
					b.Fatal("refused")
				}
			}
		})
	}
}

// slowDecode is the decoder's fastjson path alone, which decided every value before the
// canonical form had a path of its own.
func slowDecode(d *JSONDecoder, key, value []byte, cols *Columns) (Reject, bool) {
	v, err := d.parser.ParseBytes(value)
	if err != nil {
		return Reject{Code: CodeMalformed, Row: -1, Reason: "malformed JSON: " + err.Error()}, false
	}
	return d.decodeValue(key, v, testNow, cols, false)
}

// TestCanonicalReadingAgrees decodes canonical readings and every variant one byte away
// from them (each byte deleted, or replaced by one of a set of troublesome bytes, or a byte
// inserted) with the decoder and with its fastjson path alone, and requires the same
// decision, reason and stored reading each time; and checks that the canonical form does
// take its own path.
func TestCanonicalReadingAgrees(t *testing.T) {
	readings := []schema.Reading{
		{MeterID: "MTR-000001", TS: testNow.Add(-time.Hour), RegisterWh: 12345},
		{MeterID: "M", TS: testNow.Add(-time.Minute), RegisterWh: 0, Quality: 255},
		{MeterID: "a.b_c:d-9", TS: testNow.Add(-48 * time.Hour), RegisterWh: 999_999_999_999_999_999, Quality: 7},
	}
	subst := []byte{'"', '\\', ' ', '0', '1', '9', '-', '+', '.', 'e', '}', '{', ',', ':', 'x', 0x00, 0x1f, 0x7f, 0xc3}
	var values [][]byte
	for _, r := range readings {
		v := wire.AppendJSON(nil, r)
		if _, _, _, _, ok := canonicalReading(v); !ok {
			t.Fatalf("%s: not recognised as canonical", v)
		}
		values = append(values, v, []byte(string(v[:len(v)-1])+`,"quality":256}`), []byte(string(v[:len(v)-1])+`,"quality":0}`))
		for i := range v {
			values = append(values, append(append([]byte{}, v[:i]...), v[i+1:]...))
			for _, c := range subst {
				w := append([]byte{}, v...)
				w[i] = c
				values = append(values, w, append(append(append([]byte{}, v[:i]...), c), v[i:]...))
			}
		}
	}
	fast, slow := NewJSONDecoder(testWindow()), NewJSONDecoder(testWindow())
	for _, v := range values {
		for _, key := range [][]byte{nil, []byte("MTR-000001")} {
			var fc, sc Columns
			fr, fok := fast.Decode(key, v, testNow, &fc)
			sr, sok := slowDecode(slow, key, v, &sc)
			if fok != sok || fr != sr || !reflect.DeepEqual(rowsOf(&fc), rowsOf(&sc)) {
				t.Fatalf("%q key %q: decided %v %+v %v, the fastjson path %v %+v %v", v, key, fok, fr, rowsOf(&fc), sok, sr, rowsOf(&sc))
			}
		}
	}
	t.Logf("%d values compared", len(values))
}
