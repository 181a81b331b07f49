// Package ingest moves meter readings from Kafka into ClickHouse.
//
// A Consumer reads the readings topic in a consumer group, decodes each message straight
// into reusable column buffers (Columns), sends every record it cannot accept to the
// dead-letter topic with the reason, inserts the rest as one columnar batch through a
// Writer, and only then commits the Kafka offsets. Delivery is therefore at least once;
// the readings table and its aggregates are built so that a replayed message changes
// nothing (see package schema).
package ingest
