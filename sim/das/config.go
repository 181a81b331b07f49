package das

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/meterhouse/meterhouse/broker"
	"github.com/meterhouse/meterhouse/control/wire"
	"github.com/meterhouse/meterhouse/schema"
	"github.com/meterhouse/meterhouse/sim"
)

// Config describes the simulated head-end: its Kafka topics, its fleet, the keys it
// accepts, its clock and the faults it injects.
type Config struct {
	// Kafka says how to reach the brokers. The user must be allowed to write ReadingsTopic
	// and AcksTopic, read CommandsTopic and use the group Group: the local services' user
	// das (its ACLs allow the topics readings, commands, command-acks and groups das-*).
	Kafka broker.Config
	// ReadingsTopic receives the fleet's readings (JSON, keyed by meter id).
	ReadingsTopic string
	// CommandsTopic is where the signed commands come from.
	CommandsTopic string
	// AcksTopic receives the acks and relay events (control/wire).
	AcksTopic string
	// Group is the consumer group the DAS reads CommandsTopic in; it commits a command's
	// offset after its first answer is published.
	Group string
	// Fleet is the simulated fleet (sim.Config: Meters, Interval, Seed, IDPrefix,
	// TimeZone). Its From and To are ignored: the fleet starts at the interval boundary
	// at or before the clock's time when New is called and runs as long as Run does.
	Fleet sim.Config
	// Keys are the public keys the DAS accepts, by key id (two during a rotation).
	Keys wire.Keyring
	// Clock, when set, is the DAS's time: readings, expiry, not_before, delays and acks
	// follow it, so that tests move it by hand instead of sleeping. Nil means the wall
	// clock, started at Start and accelerated by Speed.
	Clock func() time.Time
	// Start is the simulated time at New when Clock is nil; the zero time means now.
	Start time.Time
	// Speed is how many simulated seconds pass per wall second when Clock is nil (1 is
	// real time; 3600 runs an hour a second). Commands expire in simulated time.
	Speed float64
	// Tick is how often (wall time) the DAS looks at its clock to publish the readings of
	// the intervals that ended and to carry out the actions that fell due.
	Tick time.Duration
	// ExecDelay is the simulated time between a command's accepted and its executed (or
	// failed) answer; 0 answers at once.
	ExecDelay time.Duration
	// Faults are injected per meter or share of meters.
	Faults []Fault
	// Log receives what the DAS does; nil discards it.
	Log *slog.Logger
}

// DefaultConfig returns a real-time DAS of 100 meters on the standard topics and group,
// reached as the local services' user das. Keys must still be set.
func DefaultConfig() Config {
	k := broker.DefaultConfig()
	k.SASL.Username = "das"
	return Config{
		Kafka:         k,
		ReadingsTopic: "readings",
		CommandsTopic: "commands",
		AcksTopic:     "command-acks",
		Group:         "das-sim",
		Fleet:         sim.Config{Meters: 100, Interval: 15 * time.Minute, Seed: 1, IDPrefix: "MTR-", TimeZone: "Europe/Berlin"},
		Speed:         1,
		Tick:          50 * time.Millisecond,
		ExecDelay:     2 * time.Second,
	}
}

// Validate reports the first field that cannot work, naming it.
func (c Config) Validate() error {
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	fleet := c.Fleet
	fleet.From = time.Unix(1_000_000_000, 0).UTC()
	fleet.To = fleet.From.Add(24 * time.Hour)
	if err := fleet.Validate(); err != nil {
		return fmt.Errorf("das.fleet: %w", err)
	}
	switch {
	case c.ReadingsTopic == "":
		return errors.New("das.readings_topic: must be set")
	case c.CommandsTopic == "":
		return errors.New("das.commands_topic: must be set")
	case c.AcksTopic == "":
		return errors.New("das.acks_topic: must be set")
	case c.Group == "":
		return errors.New("das.group: must be set")
	case len(c.Keys) == 0:
		return errors.New("das.keys: at least one public key is needed (--public-keys FILE)")
	case c.Clock == nil && !(c.Speed > 0):
		return fmt.Errorf("das.speed: %v: must be positive", c.Speed)
	case c.Tick <= 0:
		return errors.New("das.tick: must be positive")
	case c.ExecDelay < 0:
		return errors.New("das.exec_delay: must not be negative")
	}
	for i, f := range c.Faults {
		if err := f.validate(); err != nil {
			return fmt.Errorf("das.faults[%d]: %w", i, err)
		}
	}
	return nil
}

// Fault kinds.
const (
	// FaultSilent is a meter that never answers: the DAS acks accepted, then nothing
	// follows and the relay stays as it was.
	FaultSilent = "silent"
	// FaultLate is a meter that answers only Delay after accepting.
	FaultLate = "late"
	// FaultFail is a stuck relay: relay commands end in status failed, relay unchanged.
	FaultFail = "fail"
	// FaultDuplicate is a duplicated delivery: each command is processed twice (the
	// second time refused as a replay) and every ack is published twice.
	FaultDuplicate = "duplicate"
	// FaultOnSite is a relay changed at the meter Delay after the DAS started, reported
	// as a relay event (wire.KindEvent): to Relay, or by default an armed or disconnected
	// relay closed and a connected one opened.
	FaultOnSite = "onsite"
)

var faultKinds = []string{FaultSilent, FaultLate, FaultFail, FaultDuplicate, FaultOnSite}

// Fault is a misbehaviour injected into some meters: those listed in Meters and a share
// Share of the fleet, chosen deterministically from the fleet's seed.
type Fault struct {
	// Kind is one of the Fault constants.
	Kind string
	// Meters are meter ids of the fleet.
	Meters []string
	// Share is a share of the fleet, 0 to 1.
	Share float64
	// Delay is the late answer's delay (FaultLate, required) or when the relay changes on
	// site after the start (FaultOnSite), in simulated time.
	Delay time.Duration
	// Relay is the state FaultOnSite changes the relay to; empty toggles it.
	Relay string
}

func (f Fault) validate() error {
	known := false
	for _, k := range faultKinds {
		known = known || f.Kind == k
	}
	switch {
	case !known:
		return fmt.Errorf("kind %q: want one of %s", f.Kind, strings.Join(faultKinds, ", "))
	case !(f.Share >= 0 && f.Share <= 1):
		return fmt.Errorf("share %v: want 0 to 1", f.Share)
	case len(f.Meters) == 0 && f.Share == 0:
		return errors.New("meters: name meters or a share of the fleet")
	case f.Delay < 0:
		return errors.New("delay: must not be negative")
	case f.Kind == FaultLate && f.Delay == 0:
		return errors.New("delay: a late answer needs its delay")
	case f.Delay > 0 && f.Kind != FaultLate && f.Kind != FaultOnSite:
		return fmt.Errorf("delay: a %s fault has none (only late and onsite)", f.Kind)
	case f.Relay != "" && (f.Kind != FaultOnSite || (f.Relay != wire.RelayConnected && f.Relay != wire.RelayDisconnected && f.Relay != wire.RelayArmed)):
		return fmt.Errorf("relay %q: only an onsite fault has one: connected, disconnected or armed", f.Relay)
	}
	for _, m := range f.Meters {
		if !schema.ValidMeterID([]byte(m)) {
			return fmt.Errorf("meters: %q is not a meter id", m)
		}
	}
	return nil
}

// ParseFault parses a fault as the command line writes it: KIND=TARGET[@DELAY][>RELAY],
// TARGET a share of the fleet in percent ("5%") or meter ids separated by commas, DELAY a
// Go duration. Examples: "silent=MTR-000003", "late=10%@30s", "duplicate=MTR-000001,MTR-000002",
// "onsite=MTR-000007@1h>connected".
func ParseFault(s string) (Fault, error) {
	kind, rest, ok := strings.Cut(s, "=")
	if !ok || rest == "" {
		return Fault{}, fmt.Errorf("fault %q: want KIND=TARGET[@DELAY][>RELAY]", s)
	}
	f := Fault{Kind: kind}
	if i := strings.LastIndexByte(rest, '>'); i >= 0 {
		rest, f.Relay = rest[:i], rest[i+1:]
		if f.Relay == "" {
			return Fault{}, fmt.Errorf("fault %q: relay: empty after '>'", s)
		}
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		d, err := time.ParseDuration(rest[i+1:])
		if err != nil {
			return Fault{}, fmt.Errorf("fault %q: delay: %w", s, err)
		}
		rest, f.Delay = rest[:i], d
	}
	if p, isShare := strings.CutSuffix(rest, "%"); isShare {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return Fault{}, fmt.Errorf("fault %q: share %q is not a percentage", s, rest)
		}
		f.Share = v / 100
	} else {
		f.Meters = strings.Split(rest, ",")
	}
	if err := f.validate(); err != nil {
		return Fault{}, fmt.Errorf("fault %q: %w", s, err)
	}
	return f, nil
}

// ReadPublicKeys reads a keyring from a file of lines "key_id base64" (as
// wire.PublicKey.String prints them, e.g. the line `meterhouse control keygen` prints);
// blank lines and lines starting with # are skipped. Errors name the file and line.
func ReadPublicKeys(path string) (wire.Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("public keys: %w", err)
	}
	defer f.Close()
	var keys []wire.PublicKey
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("public keys %s:%d: want \"key_id base64\"", path, n)
		}
		k, err := wire.ParsePublicKey(fields[0], fields[1])
		if err != nil {
			return nil, fmt.Errorf("public keys %s:%d: %w", path, n, err)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("public keys %s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("public keys %s: no key in the file", path)
	}
	return wire.NewKeyring(keys...), nil
}
