package ingest

import (
	"fmt"
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/internal/testenv"
	"github.com/meterhouse/meterhouse/schema"
)

// decision is what a consumer made of one message: the readings it took and, for each
// record it refused, the dead-letter value and error code.
type decision struct {
	Readings []schema.Reading
	Dead     []string
}

func decide(t *testing.T, c *consumer, m kafka.Message) decision {
	t.Helper()
	c.add(m)
	var d decision
	if c.cols.Len() > 0 {
		d.Readings = rowsOf(&c.cols)
	}
	for _, dm := range c.dead {
		d.Dead = append(d.Dead, header(dm.Headers, "error-code")+" "+string(dm.Value))
	}
	c.cols.Reset()
	c.dead = c.dead[:0]
	return d
}

// TestDecisionIgnoresConsumerClock decides the same messages at two consumer clocks a
// thousand hours apart (a fake clock, advanced by synctest) and requires the same decision
// each time, and the one the message's own timestamp calls for: readings at the window's
// edges around the message time are taken however late the consumer comes to them, and a
// message without a usable timestamp is decided without a window.
func TestDecisionIgnoresConsumerClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := Window{MaxAge: 10 * time.Second, MaxFuture: 5 * time.Second}
		reg := prometheus.NewRegistry()
		m, err := NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.Window = w
		c := &consumer{Ingester: &Ingester{cfg: cfg, log: testenv.Logger(t), metrics: m},
			json: NewJSONDecoder(w), arrow: NewArrowDecoder(w), next: map[int]int64{}}

		at := time.Now().UTC() // the fake clock: 2000-01-01T00:00:00Z
		jsonMsg := func(msgTime, ts time.Time) kafka.Message {
			r := schema.Reading{MeterID: "M1", TS: ts, RegisterWh: 7}
			return kafka.Message{Key: []byte(r.MeterID), Value: wire.AppendJSON(nil, r), Time: msgTime}
		}
		var cols Columns
		cols.Append("A1", at.Add(-w.MaxAge), 1, 0)               // the oldest accepted
		cols.Append("A2", at.Add(-w.MaxAge-time.Second), 2, 0)   // one second too old
		cols.Append("A3", at.Add(w.MaxFuture), 3, 0)             // the latest accepted
		cols.Append("A4", at.Add(w.MaxFuture+time.Second), 4, 0) // one second too far ahead
		arrowValue, err := wire.AppendArrow(nil, &cols)
		if err != nil {
			t.Fatal(err)
		}
		arrowMsg := kafka.Message{Value: arrowValue, Time: at,
			Headers: []kafka.Header{{Key: "content-type", Value: []byte(wire.ContentTypeArrow)}}}
		old := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
		tests := []struct {
			name string
			msg  kafka.Message
			want decision
		}{
			{"oldest accepted", jsonMsg(at, at.Add(-w.MaxAge)), decision{Readings: []schema.Reading{{MeterID: "M1", TS: at.Add(-w.MaxAge), RegisterWh: 7}}}},
			{"latest accepted", jsonMsg(at, at.Add(w.MaxFuture)), decision{Readings: []schema.Reading{{MeterID: "M1", TS: at.Add(w.MaxFuture), RegisterWh: 7}}}},
			{"too old", jsonMsg(at, at.Add(-w.MaxAge-time.Second)), decision{Dead: []string{
				CodeOutOfWindow + " " + string(wire.AppendJSON(nil, schema.Reading{MeterID: "M1", TS: at.Add(-w.MaxAge - time.Second), RegisterWh: 7}))}}},
			// A message without a usable timestamp has no reference for the window: its
			// readings are refused (the same on every delivery), never judged by a clock.
			{"no timestamp: refused", jsonMsg(time.Time{}, old), decision{Dead: []string{CodeOutOfWindow + ` {"meter_id":"M1","ts":"1990-01-01T00:00:00Z","register_wh":7}`}}},
			{"absurd timestamp: refused", jsonMsg(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), old), decision{Dead: []string{CodeOutOfWindow + ` {"meter_id":"M1","ts":"1990-01-01T00:00:00Z","register_wh":7}`}}},
			{"epoch timestamp: refused", jsonMsg(time.Unix(0, 0), old), decision{Dead: []string{CodeOutOfWindow + ` {"meter_id":"M1","ts":"1990-01-01T00:00:00Z","register_wh":7}`}}},
			{"no timestamp, unstorable ts", jsonMsg(time.Time{}, time.Date(2163, 1, 1, 0, 0, 0, 0, time.UTC)), decision{Dead: []string{CodeOutOfWindow + ` {"meter_id":"M1","ts":"2163-01-01T00:00:00Z","register_wh":7}`}}},
			{"Arrow", arrowMsg, decision{
				Readings: []schema.Reading{{MeterID: "A1", TS: at.Add(-w.MaxAge), RegisterWh: 1}, {MeterID: "A3", TS: at.Add(w.MaxFuture), RegisterWh: 3}},
				Dead: []string{
					fmt.Sprintf(`%s {"meter_id":"A2","ts":"%s","register_wh":2,"quality":0}`, CodeOutOfWindow, at.Add(-w.MaxAge-time.Second).Format(time.RFC3339)),
					fmt.Sprintf(`%s {"meter_id":"A4","ts":"%s","register_wh":4,"quality":0}`, CodeOutOfWindow, at.Add(w.MaxFuture+time.Second).Format(time.RFC3339))}}},
		}
		first := make([]decision, len(tests))
		for i, tt := range tests {
			first[i] = decide(t, c, tt.msg)
			if !reflect.DeepEqual(first[i], tt.want) {
				t.Errorf("%s at %s: got %+v, want %+v", tt.name, time.Now().UTC(), first[i], tt.want)
			}
		}
		time.Sleep(1000 * time.Hour) // the consumer comes back to the messages much later
		for i, tt := range tests {
			if got := decide(t, c, tt.msg); !reflect.DeepEqual(got, first[i]) {
				t.Errorf("%s: decided %+v at %s but %+v at %s", tt.name, first[i], at, got, time.Now().UTC())
			}
		}
	})
}
