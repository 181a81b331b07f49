package das

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/control/wire"
)

func TestParseFault(t *testing.T) {
	good := map[string]Fault{
		"silent=MTR-000003":                {Kind: FaultSilent, Meters: []string{"MTR-000003"}},
		"late=10%@30s":                     {Kind: FaultLate, Share: 0.1, Delay: 30 * time.Second},
		"duplicate=MTR-000001,MTR-000002":  {Kind: FaultDuplicate, Meters: []string{"MTR-000001", "MTR-000002"}},
		"onsite=MTR-000007@1h>connected":   {Kind: FaultOnSite, Meters: []string{"MTR-000007"}, Delay: time.Hour, Relay: wire.RelayConnected},
		"fail=a:b:c":                       {Kind: FaultFail, Meters: []string{"a:b:c"}},
		"onsite=0.5%":                      {Kind: FaultOnSite, Share: 0.005},
		"fail=MTR-000001,MTR-000002@1m>":   {},
		"late=MTR-000001":                  {},
		"explode=MTR-000001":               {},
		"silent=150%":                      {},
		"silent=":                          {},
		"silent=MTR 1":                     {},
		"fail=MTR-000001>armed":            {},
		"onsite=MTR-000001>open":           {},
		"late=MTR-000001@soon":             {},
		"silent=x%":                        {},
		"silent":                           {},
		"duplicate=MTR-000001,,MTR-000002": {},
	}
	for in, want := range good {
		got, err := ParseFault(in)
		if want.Kind == "" {
			if err == nil {
				t.Errorf("%q: parsed as %+v, want an error", in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %+v, %v; want %+v", in, got, err, want)
		}
	}
}

func TestReadPublicKeys(t *testing.T) {
	a, b := testKey(t, "k-2026a"), testKey(t, "k-2026b")
	dir := t.TempDir()
	path := filepath.Join(dir, "keys")
	if err := os.WriteFile(path, []byte("# rotation\n"+a.Public().String()+"\n\n  "+b.Public().String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ring, err := ReadPublicKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*wire.PrivateKey{a, b} {
		c := command(t, k, "c", "M1", wire.ActionArm, t0, time.Minute)
		if err := ring.Verify(c); err != nil {
			t.Errorf("key %s: %v", k.ID(), err)
		}
	}
	bad := map[string]string{
		"empty":     "# nothing\n",
		"one field": "k-1\n",
		"not b64":   "k-1 !!!\n",
		"bad id":    "k/1 " + strings.Fields(a.Public().String())[1] + "\n",
	}
	for name, text := range bad {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadPublicKeys(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
	}
	if _, err := ReadPublicKeys(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file was read")
	}
}

func TestConfigValidate(t *testing.T) {
	key := testKey(t, "k1")
	base := DefaultConfig()
	base.Keys = wire.NewKeyring(key.Public())
	if err := base.Validate(); err != nil {
		t.Fatalf("default config with a key: %v", err)
	}
	cases := map[string]func(c *Config){
		"das.keys":           func(c *Config) { c.Keys = nil },
		"das.speed":          func(c *Config) { c.Speed = 0 },
		"das.tick":           func(c *Config) { c.Tick = 0 },
		"das.exec_delay":     func(c *Config) { c.ExecDelay = -time.Second },
		"das.group":          func(c *Config) { c.Group = "" },
		"das.acks_topic":     func(c *Config) { c.AcksTopic = "" },
		"das.commands_topic": func(c *Config) { c.CommandsTopic = "" },
		"das.readings_topic": func(c *Config) { c.ReadingsTopic = "" },
		"das.fleet":          func(c *Config) { c.Fleet.Meters = 0 },
		"das.faults[0]":      func(c *Config) { c.Faults = []Fault{{Kind: FaultLate, Share: 0.5}} },
	}
	for field, edit := range cases {
		c := base
		edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v", field, err)
		}
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted the bad config", field)
		}
	}
	// An injected clock needs no speed.
	c := base
	c.Speed, c.Clock = 0, func() time.Time { return t0 }
	if err := c.Validate(); err != nil {
		t.Errorf("injected clock without speed: %v", err)
	}
}

// TestAcceleratedClock: without an injected clock the DAS's time starts at Start and runs
// Speed times faster than the wall clock.
func TestAcceleratedClock(t *testing.T) {
	key := testKey(t, "k1")
	c := DefaultConfig()
	c.Keys = wire.NewKeyring(key.Public())
	c.Start, c.Speed = t0, 3600
	before := time.Now()
	d, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	now := d.clock()
	elapsed := time.Since(before)
	if now.Before(t0.Add(72*time.Second)) || now.After(t0.Add(time.Duration(3600*float64(elapsed)))) {
		t.Errorf("after %s of wall time the DAS's time is %s, want 72 s … %s after the start", elapsed, now.Sub(t0), time.Duration(3600*float64(elapsed)))
	}
	if len(d.Meters()) != c.Fleet.Meters || d.eng.next != t0 {
		t.Errorf("fleet of %d meters starting %s", len(d.Meters()), d.eng.next)
	}
}
