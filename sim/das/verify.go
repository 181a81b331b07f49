package das

import (
	"errors"
	"time"

	"github.com/meterhouse/meterhouse/control/wire"
)

// Reasons the DAS refuses a command with (wire.Ack.Reason), checked in this order.
const (
	// ReasonUnknownKey: the command's key id is not in the DAS's keyring.
	ReasonUnknownKey = "unknown_key"
	// ReasonBadSignature: the signature does not verify (a signed field was changed).
	ReasonBadSignature = "bad_signature"
	// ReasonExpired: the DAS's time is after not_after (or not_after is before
	// not_before).
	ReasonExpired = "expired"
	// ReasonReplay: the nonce was accepted before.
	ReasonReplay = wire.ReasonReplay
	// ReasonKeyMismatch: the signed meter id is not the Kafka message key.
	ReasonKeyMismatch = "meter_id_mismatch"
	// ReasonUnknownMeter: the meter is not in the DAS's fleet.
	ReasonUnknownMeter = "unknown_meter"
)

// verifier decides whether the DAS acts on a command. Not safe for concurrent use.
type verifier struct {
	keys  wire.Keyring
	known func(meterID string) bool
	seen  map[string]time.Time // accepted nonces and their command's not_after
}

func newVerifier(keys wire.Keyring, known func(string) bool) *verifier {
	return &verifier{keys: keys, known: known, seen: map[string]time.Time{}}
}

// decide returns the refusal reason of command c, delivered under Kafka key key at the
// DAS's time at, or "" when the DAS accepts it; it then remembers the nonce. A command
// whose not_before is after at is accepted: the DAS waits for not_before to act.
func (v *verifier) decide(key string, c *wire.Command, at time.Time) string {
	if err := v.keys.Verify(c); err != nil {
		if errors.Is(err, wire.ErrUnknownKey) {
			return ReasonUnknownKey
		}
		return ReasonBadSignature
	}
	if at.After(c.NotAfter) || c.NotAfter.Before(c.NotBefore) {
		return ReasonExpired
	}
	if _, ok := v.seen[c.Nonce]; ok {
		return ReasonReplay
	}
	if key != c.MeterID {
		return ReasonKeyMismatch
	}
	if !v.known(c.MeterID) {
		return ReasonUnknownMeter
	}
	v.seen[c.Nonce] = c.NotAfter
	return ""
}

// forget drops the nonces of commands expired by now: they are refused as expired anyway.
func (v *verifier) forget(now time.Time) {
	for n, notAfter := range v.seen {
		if now.After(notAfter) {
			delete(v.seen, n)
		}
	}
}
