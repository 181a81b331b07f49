package sim

import (
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/schema"
)

func testConfig() Config {
	from := time.Date(2026, 3, 27, 0, 0, 0, 0, time.UTC) // spans the Berlin DST change
	return Config{Meters: 50, From: from, To: from.Add(72 * time.Hour), Interval: 15 * time.Minute,
		Seed: 3, IDPrefix: "MTR-", TimeZone: "Europe/Berlin"}
}

func collect(t *testing.T, cfg Config) (*Fleet, []schema.Reading) {
	t.Helper()
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []schema.Reading
	var r schema.Reading
	for f.Next(&r) {
		out = append(out, r)
	}
	return f, out
}

func TestFleetReadings(t *testing.T) {
	cfg := testConfig()
	f, rs := collect(t, cfg)
	if int64(len(rs)) != f.Total() || f.Total() != int64(cfg.Meters)*(72*4+1) {
		t.Fatalf("got %d readings, Total says %d", len(rs), f.Total())
	}
	last := map[string]schema.Reading{}
	classes := map[string]int{}
	for _, m := range f.Meters() {
		classes[m.CustomerClass]++
		if !schema.ValidMeterID([]byte(m.MeterID)) || m.TimeZone != cfg.TimeZone || m.Feeder == "" || m.Region == "" {
			t.Fatalf("bad registry entry %+v", m)
		}
	}
	if classes["residential"] == 0 || classes["residential"]+classes["commercial"]+classes["industrial"] != cfg.Meters {
		t.Fatalf("class mix %v", classes)
	}
	for i, r := range rs {
		if i > 0 && r.TS.Before(rs[i-1].TS) {
			t.Fatal("readings are not in time order")
		}
		if p, ok := last[r.MeterID]; ok {
			if r.TS.Sub(p.TS) != cfg.Interval {
				t.Fatalf("meter %s: step %v", r.MeterID, r.TS.Sub(p.TS))
			}
			if r.RegisterWh < p.RegisterWh {
				t.Fatalf("meter %s: register went backwards at %v", r.MeterID, r.TS)
			}
		}
		last[r.MeterID] = r
	}
}

func TestFleetDeterministic(t *testing.T) {
	_, a := collect(t, testConfig())
	_, b := collect(t, testConfig())
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("reading %d differs between runs: %+v vs %+v", i, a[i], b[i])
		}
	}
	other := testConfig()
	other.Seed = 4
	_, c := collect(t, other)
	same := 0
	for i := range a {
		if a[i] == c[i] {
			same++
		}
	}
	if same == len(a) {
		t.Fatal("another seed gave the same fleet")
	}
}

// TestLoadShapes checks that the shapes look like their classes: residential evenings
// above nights, commercial weekdays above weekends.
func TestLoadShapes(t *testing.T) {
	cfg := testConfig()
	cfg.Meters = 300
	cfg.From = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday
	cfg.To = cfg.From.Add(7 * 24 * time.Hour)
	f, rs := collect(t, cfg)
	class := map[string]string{}
	for _, m := range f.Meters() {
		class[m.MeterID] = m.CustomerClass
	}
	loc, _ := time.LoadLocation(cfg.TimeZone)
	prev := map[string]int64{}
	energy := map[string]float64{}
	for _, r := range rs {
		if p, ok := prev[r.MeterID]; ok {
			start := r.TS.Add(-cfg.Interval).In(loc)
			wh := float64(r.RegisterWh - p)
			switch c := class[r.MeterID]; {
			case c == "residential" && start.Hour() >= 18 && start.Hour() < 21:
				energy["res-evening"] += wh
			case c == "residential" && start.Hour() >= 2 && start.Hour() < 5:
				energy["res-night"] += wh
			case c == "commercial" && start.Weekday() == time.Wednesday:
				energy["com-weekday"] += wh
			case c == "commercial" && start.Weekday() == time.Sunday:
				energy["com-sunday"] += wh
			}
		}
		prev[r.MeterID] = r.RegisterWh
	}
	if energy["res-evening"] < 2*energy["res-night"] {
		t.Errorf("residential evening %v not well above night %v", energy["res-evening"], energy["res-night"])
	}
	if energy["com-weekday"] < 2*energy["com-sunday"] {
		t.Errorf("commercial weekday %v not well above Sunday %v", energy["com-weekday"], energy["com-sunday"])
	}
}

func TestConfigValidate(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"meters":   func(c *Config) { c.Meters = 0 },
		"interval": func(c *Config) { c.Interval = 90 * time.Second },
		"to":       func(c *Config) { c.To = c.From },
		"prefix":   func(c *Config) { c.IDPrefix = "bad prefix" },
		"tz":       func(c *Config) { c.TimeZone = "Mars/Olympus" },
	} {
		c := testConfig()
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: invalid config accepted", name)
		}
	}
}
