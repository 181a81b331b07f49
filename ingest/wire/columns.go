package wire

import "time"

// Columns is a batch of readings held column by column, in the layout of the Arrow stream
// and of the readings table. Append and Reset reuse the slices' memory, so a long-lived
// Columns stops allocating once it has grown to its largest batch. A Columns is not safe
// for concurrent use; its owner is the goroutine that fills it.
type Columns struct {
	// MeterID holds each reading's meter id.
	MeterID []string
	// TS holds each reading's interval end, UTC.
	TS []time.Time
	// RegisterWh holds each reading's cumulative register in Wh.
	RegisterWh []int64
	// Quality holds each reading's quality code as reported (0 when the source has none).
	Quality []uint8
}

// Len returns the number of readings held.
func (c *Columns) Len() int { return len(c.MeterID) }

// Append adds one reading.
func (c *Columns) Append(meterID string, ts time.Time, registerWh int64, quality uint8) {
	c.MeterID = append(c.MeterID, meterID)
	c.TS = append(c.TS, ts)
	c.RegisterWh = append(c.RegisterWh, registerWh)
	c.Quality = append(c.Quality, quality)
}

// Reset empties the batch and keeps its memory for reuse.
func (c *Columns) Reset() { c.Truncate(0) }

// Truncate drops the readings from index n on, keeping the memory.
func (c *Columns) Truncate(n int) {
	clear(c.MeterID[n:]) // drop references to strings so interned ids can be collected
	c.MeterID = c.MeterID[:n]
	c.TS = c.TS[:n]
	c.RegisterWh = c.RegisterWh[:n]
	c.Quality = c.Quality[:n]
}
