// Package sim simulates a fleet of smart meters: a registry of residential, commercial and
// industrial meters and, for each, monotone cumulative registers following daily and weekly
// load shapes with noise. The simulation is deterministic for a seed, so tests and
// benchmarks can recompute what they produced.
package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/meterhouse/meterhouse/schema"
)

// Config describes the fleet and the time span to simulate.
type Config struct {
	// Meters is the fleet size.
	Meters int
	// From is the first reading's timestamp; To the last one's (inclusive when on the grid).
	From, To time.Time
	// Interval is the metering interval, like 15 minutes.
	Interval time.Duration
	// Seed makes runs reproducible.
	Seed uint64
	// IDPrefix starts every meter id; ids are the prefix and a six-digit number.
	IDPrefix string
	// TimeZone is the IANA zone the fleet lives in; load shapes follow its local time.
	TimeZone string
}

// Validate reports the first field that cannot work, naming it.
func (c Config) Validate() error {
	switch {
	case c.Meters < 1:
		return errors.New("sim.meters: must be at least 1")
	case c.Interval < time.Minute || c.Interval%time.Minute != 0:
		return errors.New("sim.interval: must be a whole number of minutes")
	case !c.To.After(c.From):
		return errors.New("sim.to: must be after sim.from")
	case !schema.ValidMeterID([]byte(c.IDPrefix + "000000")):
		return fmt.Errorf("sim.id_prefix: %q does not make valid meter ids", c.IDPrefix)
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		return fmt.Errorf("sim.time_zone: %w", err)
	}
	return nil
}

// class is a customer class's load shape: mean power and its hourly and weekly profile.
type class struct {
	name     string
	tariff   string
	meanW    float64     // mean demand of a typical customer, W
	weekday  [24]float64 // multiplier of meanW per local hour, Monday to Friday
	weekend  [24]float64 // multiplier per local hour, Saturday and Sunday
	noise    float64     // relative standard deviation per interval
	fraction float64     // share of the fleet
}

var classes = []class{
	{
		name: "residential", tariff: "RES-TOU", meanW: 500, noise: 0.25, fraction: 0.80,
		weekday: [24]float64{.45, .4, .35, .35, .35, .45, .8, 1.3, 1.2, .8, .7, .7, .75, .7, .7, .8, 1.0, 1.5, 1.9, 1.9, 1.7, 1.4, 1.0, .65},
		weekend: [24]float64{.5, .45, .4, .35, .35, .4, .5, .8, 1.1, 1.2, 1.2, 1.2, 1.2, 1.1, 1.0, 1.0, 1.1, 1.5, 1.8, 1.8, 1.6, 1.3, 1.0, .7},
	},
	{
		name: "commercial", tariff: "COM-FLAT", meanW: 8000, noise: 0.10, fraction: 0.17,
		weekday: [24]float64{.3, .3, .3, .3, .3, .35, .6, 1.3, 1.8, 1.9, 1.9, 1.9, 1.9, 1.9, 1.9, 1.9, 1.8, 1.5, .9, .5, .4, .35, .3, .3},
		weekend: [24]float64{.3, .3, .3, .3, .3, .3, .3, .35, .45, .5, .5, .5, .5, .5, .5, .45, .4, .35, .3, .3, .3, .3, .3, .3},
	},
	{
		name: "industrial", tariff: "IND-DEMAND", meanW: 150000, noise: 0.05, fraction: 0.03,
		weekday: [24]float64{.7, .7, .7, .7, .7, .8, 1.2, 1.3, 1.3, 1.3, 1.3, 1.2, 1.2, 1.3, 1.3, 1.3, 1.3, 1.3, 1.2, 1.1, 1.1, 1.0, .8, .7},
		weekend: [24]float64{.5, .5, .5, .5, .5, .5, .5, .5, .55, .55, .55, .55, .55, .55, .55, .55, .55, .55, .5, .5, .5, .5, .5, .5},
	},
}

// MetersPerFeeder and FeedersPerRegion shape the simulated network.
const (
	MetersPerFeeder  = 400
	FeedersPerRegion = 8
)

type meterState struct {
	class *class
	scale float64 // this customer's size relative to its class
	reg   int64   // register, Wh
	frac  float64 // energy below 1 Wh carried to the next interval
	rng   *rand.Rand
}

// Fleet generates readings interval by interval: all meters' readings for one timestamp,
// then the next timestamp. A Fleet is not safe for concurrent use.
type Fleet struct {
	cfg    Config
	loc    *time.Location
	meters []schema.Meter
	state  []meterState
	ts     time.Time // timestamp being emitted
	next   int       // next meter index at ts
}

// New builds the fleet of cfg.
func New(cfg Config) (*Fleet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	loc, _ := time.LoadLocation(cfg.TimeZone)
	f := &Fleet{cfg: cfg, loc: loc, ts: cfg.From.UTC()}
	seedRng := rand.New(rand.NewPCG(cfg.Seed, 0x6d657465))
	updated := cfg.From.UTC().Truncate(time.Second)
	for i := range cfg.Meters {
		c := pickClass(seedRng.Float64())
		id := fmt.Sprintf("%s%06d", cfg.IDPrefix, i+1)
		feeder := i / MetersPerFeeder
		f.meters = append(f.meters, schema.Meter{
			MeterID:       id,
			CustomerClass: c.name,
			Feeder:        fmt.Sprintf("FDR-%04d", feeder+1),
			Region:        fmt.Sprintf("REG-%02d", feeder/FeedersPerRegion+1),
			Tariff:        c.tariff,
			TimeZone:      cfg.TimeZone,
			LifeSupport:   c.name == "residential" && seedRng.Float64() < 0.005,
			Status:        "active",
			UpdatedAt:     updated,
		})
		f.state = append(f.state, meterState{
			class: c,
			scale: math.Exp(0.4 * seedRng.NormFloat64()),
			reg:   seedRng.Int64N(50_000_000),
			rng:   rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1)),
		})
	}
	return f, nil
}

// MeanPower returns, per customer class name, the mean demand in W of the class's typical
// customer (each meter's own size varies around it).
func MeanPower() map[string]float64 {
	out := make(map[string]float64, len(classes))
	for _, c := range classes {
		out[c.name] = c.meanW
	}
	return out
}

func pickClass(u float64) *class {
	for i := range classes {
		if u < classes[i].fraction {
			return &classes[i]
		}
		u -= classes[i].fraction
	}
	return &classes[0]
}

// Meters returns the registry of the fleet. The caller must not modify it.
func (f *Fleet) Meters() []schema.Meter { return f.meters }

// Timestamps returns how many reading timestamps the span holds.
func (f *Fleet) Timestamps() int {
	return int(f.cfg.To.Sub(f.cfg.From)/f.cfg.Interval) + 1
}

// Total returns how many readings the fleet will produce.
func (f *Fleet) Total() int64 { return int64(f.Timestamps()) * int64(len(f.meters)) }

// Next fills r with the next reading and reports whether there was one. The first
// timestamp carries each meter's starting register; every later one adds the energy of the
// interval it closes.
func (f *Fleet) Next(r *schema.Reading) bool {
	if f.ts.After(f.cfg.To) {
		return false
	}
	i := f.next
	st := &f.state[i]
	if !f.ts.Equal(f.cfg.From.UTC()) {
		st.advance(f.ts.Add(-f.cfg.Interval).In(f.loc), f.cfg.Interval)
	}
	*r = schema.Reading{MeterID: f.meters[i].MeterID, TS: f.ts, RegisterWh: st.reg}
	f.next++
	if f.next == len(f.meters) {
		f.next = 0
		f.ts = f.ts.Add(f.cfg.Interval)
	}
	return true
}

// advance adds the energy of the interval starting at local time start to the register.
func (s *meterState) advance(start time.Time, d time.Duration) {
	profile := &s.class.weekday
	if wd := start.Weekday(); wd == time.Saturday || wd == time.Sunday {
		profile = &s.class.weekend
	}
	// Interpolate between hourly shape points so 15-minute curves are smooth.
	h := start.Hour()
	frac := float64(start.Minute()) / 60
	shape := profile[h]*(1-frac) + profile[(h+1)%24]*frac
	noise := max(0, 1+s.class.noise*s.rng.NormFloat64())
	wh := s.class.meanW*s.scale*shape*noise*d.Hours() + s.frac
	whole := math.Floor(wh)
	s.frac = wh - whole
	s.reg += int64(whole)
}
