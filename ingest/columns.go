package ingest

import "github.com/meterhouse/meterhouse/ingest/wire"

// Columns is a batch of readings held column by column, in the layout the readings table
// is inserted in (wire.Columns, the layout of the Arrow format too). The decoders fill it
// and a Writer may read it only for the duration of one Write call.
type Columns = wire.Columns
