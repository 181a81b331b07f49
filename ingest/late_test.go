package ingest_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
)

// TestLateAndOutOfOrder produces a fleet's readings shuffled (out of order on every
// partition), holding back whole days of some meters and a random tenth of the rest;
// the held-back readings arrive afterwards, days late and shuffled too. After each phase
// the hourly aggregates and the API must equal what in-order delivery of the readings
// produced so far gives.
func TestLateAndOutOfOrder(t *testing.T) {
	p := newPipeline(t)
	now := time.Now().UTC().Truncate(time.Hour)
	from := now.Add(-68 * time.Hour) // inside the 72 hours pipeline.hourly asks for
	f, err := sim.New(sim.Config{Meters: 8, From: from, To: now.Add(-4 * time.Hour),
		Interval: 15 * time.Minute, Seed: 11, IDPrefix: "L-", TimeZone: "Europe/Berlin"})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(11, 12))
	lateBefore := from.Add(48 * time.Hour) // the first two days of the even meters come late
	var onTime, late []schema.Reading
	var r schema.Reading
	for i := 0; f.Next(&r); i++ {
		evenMeter := r.MeterID[len(r.MeterID)-1]%2 == 0
		if (evenMeter && r.TS.Before(lateBefore)) || rng.IntN(10) == 0 {
			late = append(late, r)
		} else {
			onTime = append(onTime, r)
		}
	}
	shuffle := func(rs []schema.Reading) []kafka.Message {
		msgs := make([]kafka.Message, len(rs))
		for i, r := range rs {
			msgs[i] = kafka.Message{Key: []byte(r.MeterID), Value: wire.AppendJSON(nil, r)}
		}
		rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
		return msgs
	}

	r1 := startIngester(t, p.cfg, p.conn)
	p.produce(t, shuffle(onTime))
	p.waitCommitted(t)
	p.requireSame(t, onTime)

	p.produce(t, shuffle(late))
	p.waitCommitted(t)
	all := append(append([]schema.Reading(nil), onTime...), late...)
	p.requireSame(t, all)
	if got := r1.metric(t, "meterhouse_ingest_messages_total"); got < float64(len(all)) {
		t.Fatalf("consumed %v messages, produced %d", got, len(all))
	}
	if got := r1.metric(t, "meterhouse_ingest_dead_letters_total"); got != 0 {
		t.Fatalf("%v late readings went to the dead-letter topic; all are inside the window", got)
	}
}
