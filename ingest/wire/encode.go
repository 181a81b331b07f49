package wire

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/schema"
)

// Format is a way of putting readings into Kafka messages.
type Format string

const (
	// JSON puts one reading per message, as a JSON object.
	JSON Format = "json"
	// Arrow puts many readings per message, as an Arrow IPC stream.
	Arrow Format = "arrow"
)

// Formats lists the formats, in the order reports show them.
var Formats = []Format{JSON, Arrow}

// ParseFormat returns the format called name.
func ParseFormat(name string) (Format, error) {
	for _, f := range Formats {
		if string(f) == name {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown format %q: want one of %v", name, Formats)
}

// ContentType returns the media type of a message of format f.
func (f Format) ContentType() string {
	if f == Arrow {
		return ContentTypeArrow
	}
	return ContentTypeJSON
}

// Encoding says how an Encoder puts readings into messages.
type Encoding struct {
	// Format is the message format.
	Format Format
	// ArrowBatch is the most readings one Arrow message holds (ignored for JSON). Keep a
	// message under the broker's message.max.bytes (1 MiB by default): a reading of a
	// 10-character meter id takes about 35 bytes.
	ArrowBatch int
	// Partitions is the partition count of the topic the messages go to. An Arrow message
	// holds only meters that the writer's hash balancer (kafka.Hash) sends to the partition
	// of its key, so that each meter's readings stay in order on one partition whatever the
	// format, as a DAS keeps them.
	Partitions int
	// LabelJSON sets the content-type header on JSON messages too. Without it a JSON
	// message has no header, which is what a DAS sends by default and means JSON as well.
	// Arrow messages always have it.
	LabelJSON bool
}

// Validate reports the first field that cannot work.
func (e Encoding) Validate() error {
	switch {
	case e.Format != JSON && e.Format != Arrow:
		return fmt.Errorf("wire: unknown format %q: want one of %v", e.Format, Formats)
	case e.Format == Arrow && e.ArrowBatch < 1:
		return errors.New("wire: ArrowBatch must be at least 1")
	case e.Partitions < 1:
		return errors.New("wire: Partitions must be at least 1")
	}
	return nil
}

// Encoder puts readings into Kafka messages of one format, keyed by meter id: a JSON
// message per reading, keyed by its meter; an Arrow message per Encoding.ArrowBatch
// readings of one partition's meters, keyed by the meter id of its first reading. It keeps
// an Arrow message's readings until the message is full or Flush is called. It is not safe
// for concurrent use.
type Encoder struct {
	enc     Encoding
	headers []kafka.Header // shared by every message; kafka-go only reads them
	time    time.Time
	balance kafka.Hash
	ids     []int     // the partitions, 0 to Partitions-1
	pending []Columns // Arrow readings waiting for a full message, by partition
	json    schema.Reading
}

// NewEncoder returns an encoder of e. It rejects an invalid e.
func NewEncoder(e Encoding) (*Encoder, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	enc := &Encoder{enc: e}
	if e.Format == Arrow || e.LabelJSON {
		enc.headers = []kafka.Header{{Key: HeaderContentType, Value: []byte(e.Format.ContentType())}}
	}
	if e.Format == Arrow {
		enc.ids = make([]int, e.Partitions)
		for i := range enc.ids {
			enc.ids[i] = i
		}
		enc.pending = make([]Columns, e.Partitions)
	}
	return enc, nil
}

// SetTime sets the timestamp of the messages encoded from now on; the zero time leaves it
// to the writer (the time of writing).
func (e *Encoder) SetTime(t time.Time) { e.time = t }

// Add encodes r, appending to c the message it completes, if any.
func (e *Encoder) Add(c *Chunk, r schema.Reading) error {
	if e.enc.Format == JSON {
		e.json = r
		return c.add(r.MeterID, 1, e.headers, e.time, e.appendJSON)
	}
	p := 0
	if len(e.ids) > 1 {
		p = e.balance.Balance(kafka.Message{Key: viewBytes(r.MeterID)}, e.ids...)
	}
	cols := &e.pending[p]
	cols.Append(r.MeterID, r.TS, r.RegisterWh, r.Quality)
	if cols.Len() < e.enc.ArrowBatch {
		return nil
	}
	return e.emit(c, cols)
}

// Flush appends to c a message for each partition's readings that wait for a full Arrow
// message.
func (e *Encoder) Flush(c *Chunk) error {
	for p := range e.pending {
		if e.pending[p].Len() > 0 {
			if err := e.emit(c, &e.pending[p]); err != nil {
				return err
			}
		}
	}
	return nil
}

// Reset drops the readings that wait for a full Arrow message, keeping the memory.
func (e *Encoder) Reset() {
	for p := range e.pending {
		e.pending[p].Reset()
	}
}

func (e *Encoder) appendJSON(dst []byte) ([]byte, error) { return AppendJSON(dst, e.json), nil }

// emit appends the readings of cols to c as one Arrow message and empties cols.
func (e *Encoder) emit(c *Chunk, cols *Columns) error {
	err := c.add(cols.MeterID[0], cols.Len(), e.headers, e.time, func(dst []byte) ([]byte, error) {
		return AppendArrow(dst, cols)
	})
	cols.Reset()
	return err
}

// Chunk is a set of encoded messages, written with one call, and the memory behind their
// keys and values. The zero Chunk is empty and ready for use; Reset empties it and keeps
// its memory.
type Chunk struct {
	// Messages are the messages encoded, in order. Their keys and values point into the
	// chunk's memory: they are valid until Reset.
	Messages []kafka.Message
	// Readings counts the readings the messages hold.
	Readings int
	arena    []byte
	spans    [][3]int // each message's key start, key end (value start) and value end
}

// Reset empties c and keeps its memory.
func (c *Chunk) Reset() {
	clear(c.Messages)
	c.Messages, c.Readings, c.arena, c.spans = c.Messages[:0], 0, c.arena[:0], c.spans[:0]
}

// Bytes returns the memory the chunk's keys and values take.
func (c *Chunk) Bytes() int { return cap(c.arena) }

// add appends a message of n readings keyed key, whose value value appends.
func (c *Chunk) add(key string, n int, headers []kafka.Header, t time.Time, value func([]byte) ([]byte, error)) error {
	before := unsafe.SliceData(c.arena)
	start := len(c.arena)
	c.arena = append(c.arena, key...)
	k := len(c.arena)
	var err error
	if c.arena, err = value(c.arena); err != nil {
		c.arena = c.arena[:start]
		return err
	}
	v := len(c.arena)
	c.spans = append(c.spans, [3]int{start, k, v})
	c.Messages = append(c.Messages, kafka.Message{Headers: headers, Time: t})
	c.Readings += n
	if unsafe.SliceData(c.arena) != before { // the arena moved while growing
		for i, s := range c.spans {
			c.point(i, s)
		}
	} else {
		c.point(len(c.spans)-1, c.spans[len(c.spans)-1])
	}
	return nil
}

func (c *Chunk) point(i int, s [3]int) {
	c.Messages[i].Key = c.arena[s[0]:s[1]:s[1]]
	c.Messages[i].Value = c.arena[s[1]:s[2]:s[2]]
}

// viewBytes returns the bytes of s without copying them, for the hash balancer, which
// only reads them.
func viewBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
