// Package ingest moves meter readings from Kafka into ClickHouse.
//
// A Consumer reads the readings topic in a consumer group, decodes each message straight
// into reusable column buffers (Columns) — one JSON reading per message (JSONDecoder) or
// many readings as an Arrow IPC stream (ArrowDecoder), chosen by the content-type header —
// sends every record or row it cannot accept to the dead-letter topic with the reason,
// inserts the rest as one columnar batch through a Writer, and only then commits the Kafka
// offsets. Delivery is therefore at least once; the readings table and its aggregates are
// built so that a replayed message changes nothing (see package schema), and what is
// decided about a message depends only on the message — the timestamp window is judged
// against its Kafka timestamp, never the consumer's clock — so that a redelivery decides
// as the first delivery did. While ClickHouse
// is unreachable a consumer retries with backoff and stops fetching, so memory stays
// bounded.
//
// HTTPHandler serves HTTP ingest for small installations: it validates readings with the
// same decoders and produces them to the readings topic in the format they came in (the
// formats and the encoder are package wire's), each message timestamped with the time its
// readings were accepted, so they take the same path and are judged the same.
package ingest
