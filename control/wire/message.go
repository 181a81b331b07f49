package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Actions a command can carry, as in DLMS/COSEM's disconnect control object: disconnect
// opens the relay, reconnect closes it, arm makes it ready for the customer to close
// locally, read_now asks for an on-demand reading.
const (
	ActionDisconnect = "disconnect"
	ActionReconnect  = "reconnect"
	ActionArm        = "arm"
	ActionReadNow    = "read_now"
)

// Relay states a meter reports.
const (
	RelayConnected    = "connected"
	RelayDisconnected = "disconnected"
	RelayArmed        = "armed"
)

// Ack statuses the DAS reports for a command.
const (
	// AckAccepted: the DAS verified the command and queued it for the meter.
	AckAccepted = "accepted"
	// AckExecuted: the meter carried it out; Relay is the relay's new state.
	AckExecuted = "executed"
	// AckRefused: the DAS refused it (Reason says why: signature, key, expiry, replay,
	// meter id, unknown meter).
	AckRefused = "refused"
	// AckFailed: the meter tried and failed (a stuck relay); Relay is its state.
	AckFailed = "failed"
)

// ReasonReplay is the Reason of a refused ack for a command whose nonce the DAS accepted
// before: a copy of a delivery (a Kafka redelivery, a duplicated delivery, a resend), not
// a refusal of the command, whose own result follows or came already.
const ReasonReplay = "replay"

// Message kinds on command-acks.
const (
	// KindAck is the answer to a command.
	KindAck = "ack"
	// KindEvent is a relay change not caused by a command (changed on site).
	KindEvent = "event"
)

// Version is the format version both message types carry.
const Version = 1

// Command is a remote command as published on `commands`.
type Command struct {
	// V is the format version (Version).
	V int `json:"v"`
	// ID is the command id (derived by control from principal and idempotency key).
	ID string `json:"command_id"`
	// MeterID is the meter the command is for; also the Kafka key.
	MeterID string `json:"meter_id"`
	// Action is one of the Action constants.
	Action string `json:"action"`
	// Nonce is 16 random bytes in hex, unique per command: the DAS refuses a nonce seen
	// before (a replay).
	Nonce string `json:"nonce"`
	// NotBefore and NotAfter bound when the DAS may act (whole seconds, UTC).
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// Seq is the meter's command sequence number (increasing per meter; not signed).
	Seq uint64 `json:"seq"`
	// KeyID names the key that signed the command.
	KeyID string `json:"key_id"`
	// Signature is the Ed25519 signature over SignedBytes (base64 in JSON).
	Signature []byte `json:"sig"`
}

// SignedBytes appends to dst the bytes a command's signature covers.
func (c *Command) SignedBytes(dst []byte) []byte {
	dst = append(dst, "meterhouse-command/v1"...)
	for _, f := range []string{c.ID, c.MeterID, c.Action, c.Nonce} {
		dst = append(dst, '\n')
		dst = append(dst, f...)
	}
	dst = append(dst, '\n')
	dst = strconv.AppendInt(dst, c.NotBefore.Unix(), 10)
	dst = append(dst, '\n')
	dst = strconv.AppendInt(dst, c.NotAfter.Unix(), 10)
	return dst
}

// Ack is a message on `command-acks`: an answer to a command (Kind ack) or a relay event
// (Kind event, CommandID empty).
type Ack struct {
	// V is the format version (Version).
	V int `json:"v"`
	// Kind is KindAck or KindEvent.
	Kind string `json:"kind"`
	// CommandID is the command answered (empty for an event).
	CommandID string `json:"command_id,omitempty"`
	// MeterID is the meter; also the Kafka key.
	MeterID string `json:"meter_id"`
	// Status is one of the Ack constants (for an ack).
	Status string `json:"status,omitempty"`
	// Relay is the relay's state after the command or event, when known.
	Relay string `json:"relay,omitempty"`
	// Event names an event ("relay_changed_on_site").
	Event string `json:"event,omitempty"`
	// Reason explains a refusal or failure.
	Reason string `json:"reason,omitempty"`
	// At is when the DAS observed it.
	At time.Time `json:"at"`
}

// EventRelayChangedOnSite is the event of a relay changed at the meter, not by a command.
const EventRelayChangedOnSite = "relay_changed_on_site"

// ErrFormat marks a message that is not a valid command or ack.
var ErrFormat = errors.New("wire: bad message")

// ValidAction reports whether a is one of the actions.
func ValidAction(a string) bool {
	switch a {
	case ActionDisconnect, ActionReconnect, ActionArm, ActionReadNow:
		return true
	}
	return false
}

// AppendCommand appends c's JSON encoding to dst.
func AppendCommand(dst []byte, c *Command) ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return dst, fmt.Errorf("wire: encode command: %w", err)
	}
	return append(dst, b...), nil
}

// DecodeCommand parses a command; the error wraps ErrFormat and names the field at fault.
// It does not verify the signature (Keyring.Verify does).
func DecodeCommand(b []byte) (*Command, error) {
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	switch {
	case c.V != Version:
		return nil, fmt.Errorf("%w: v %d, want %d", ErrFormat, c.V, Version)
	case c.ID == "":
		return nil, fmt.Errorf("%w: command_id is empty", ErrFormat)
	case c.MeterID == "":
		return nil, fmt.Errorf("%w: meter_id is empty", ErrFormat)
	case !ValidAction(c.Action):
		return nil, fmt.Errorf("%w: action %q is not disconnect, reconnect, arm or read_now", ErrFormat, c.Action)
	case len(c.Nonce) != 32:
		return nil, fmt.Errorf("%w: nonce %q is not 16 bytes in hex", ErrFormat, c.Nonce)
	case c.KeyID == "" || len(c.Signature) == 0:
		return nil, fmt.Errorf("%w: key_id or sig missing", ErrFormat)
	}
	return &c, nil
}

// AppendAck appends a's JSON encoding to dst.
func AppendAck(dst []byte, a *Ack) ([]byte, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return dst, fmt.Errorf("wire: encode ack: %w", err)
	}
	return append(dst, b...), nil
}

// DecodeAck parses an ack or event; the error wraps ErrFormat.
func DecodeAck(b []byte) (*Ack, error) {
	var a Ack
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	switch {
	case a.V != Version:
		return nil, fmt.Errorf("%w: v %d, want %d", ErrFormat, a.V, Version)
	case a.MeterID == "":
		return nil, fmt.Errorf("%w: meter_id is empty", ErrFormat)
	case a.Kind == KindAck && a.CommandID == "":
		return nil, fmt.Errorf("%w: an ack without command_id", ErrFormat)
	case a.Kind == KindAck && a.Status != AckAccepted && a.Status != AckExecuted && a.Status != AckRefused && a.Status != AckFailed:
		return nil, fmt.Errorf("%w: status %q", ErrFormat, a.Status)
	case a.Kind == KindEvent && a.Event == "":
		return nil, fmt.Errorf("%w: an event without its name", ErrFormat)
	case a.Kind != KindAck && a.Kind != KindEvent:
		return nil, fmt.Errorf("%w: kind %q is not ack or event", ErrFormat, a.Kind)
	case a.Relay != "" && a.Relay != RelayConnected && a.Relay != RelayDisconnected && a.Relay != RelayArmed:
		return nil, fmt.Errorf("%w: relay %q", ErrFormat, a.Relay)
	}
	return &a, nil
}
