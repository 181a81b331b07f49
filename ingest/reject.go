package ingest

import "fmt"

// Reject codes name why a record was refused. They travel in the dead-letter message's
// "error-code" header; the "error" header carries the human-readable reason.
const (
	CodeMalformed    = "malformed"          // the value is not parseable in its format
	CodeMissingField = "missing_field"      // a required field is absent
	CodeWrongType    = "wrong_type"         // a field has the wrong JSON or Arrow type
	CodeBadMeterID   = "bad_meter_id"       // meter id empty, too long or with other characters
	CodeBadTimestamp = "bad_timestamp"      // ts is not RFC 3339 to the second
	CodeOutOfWindow  = "timestamp_window"   // ts too far in the past or the future
	CodeNegative     = "negative_register"  // register_wh below zero
	CodeKeyMismatch  = "key_mismatch"       // the Kafka key names another meter
	CodeBadFormat    = "unsupported_format" // the content-type header names no known format
)

// Reject says why one record, or one row of a batch message, was refused.
type Reject struct {
	// Code is one of the Code… constants.
	Code string
	// Field names the offending field, or is empty when the whole record is at fault.
	Field string
	// Reason is a human-readable explanation naming the value at fault.
	Reason string
	// Row is the row's index inside a batch message, or -1 for a single-reading message.
	Row int
}

// Error formats the reject as "field: reason".
func (r Reject) Error() string {
	if r.Field == "" {
		return r.Reason
	}
	return fmt.Sprintf("%s: %s", r.Field, r.Reason)
}
