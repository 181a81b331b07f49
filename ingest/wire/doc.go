// Package wire defines how a reading travels: the JSON object of one reading, the Arrow IPC
// stream of many, their content types, the Kafka header that names the format, and the one
// encoder and producer that put readings into Kafka messages of either format, keyed by
// meter id. The decoders of package ingest read what this package defines, and HTTP ingest,
// the simulator and the bench tool write it.
package wire

// Media types of readings: the content-type header of a Kafka message and the Content-Type
// of an HTTP ingest body.
const (
	// ContentTypeJSON marks one reading as a JSON object (a Kafka message), or a JSON array
	// of them (an HTTP body). A Kafka message without a content-type header is JSON too.
	ContentTypeJSON = "application/json"
	// ContentTypeNDJSON marks an HTTP body of JSON reading objects, one per line.
	ContentTypeNDJSON = "application/x-ndjson"
	// ContentTypeArrow marks many readings as an Arrow IPC stream.
	ContentTypeArrow = "application/vnd.apache.arrow.stream"
)

// HeaderContentType is the Kafka message header that names a message's media type.
const HeaderContentType = "content-type"

// Names of a reading's fields: the keys of the JSON object and the columns of the Arrow
// stream.
const (
	// FieldMeterID is the meter id: a JSON string; Arrow utf8, large_utf8, utf8_view or a
	// dictionary of one of them.
	FieldMeterID = "meter_id"
	// FieldTS is the end of the interval: an RFC 3339 JSON string; an Arrow timestamp of
	// any unit, taken as UTC.
	FieldTS = "ts"
	// FieldRegisterWh is the cumulative register in Wh: a JSON integer; Arrow int64 (or
	// int32, uint32, uint64).
	FieldRegisterWh = "register_wh"
	// FieldQuality is the optional quality code, 0 to 255: a JSON integer; Arrow uint8. Null
	// or absent means 0.
	FieldQuality = "quality"
)
