// Package audit is the append-only, hash-chained audit log of remote control: every
// request, approval, refusal, send and result, with its actor and time.
package audit

import "time"

// Entry is one audit record as the control service appends it; the log adds its sequence
// number and the hashes.
type Entry struct {
	// At is when it happened.
	At time.Time `json:"at"`
	// Actor is the principal (a token's name) or a component ("control", "das").
	Actor string `json:"actor"`
	// Event names what happened: requested, approved, refused, sent, acknowledged,
	// executed, failed, expired, timed_out, relay_event, unknown_result, ….
	Event string `json:"event"`
	// CommandID and MeterID name the command and meter, when there is one.
	CommandID string `json:"command_id,omitempty"`
	MeterID   string `json:"meter_id,omitempty"`
	// Detail is a short free text (a refusal's rule and reason, an ack's status).
	Detail string `json:"detail,omitempty"`
}
