package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
)

// HashSize is the length of an entry's hash in bytes (SHA-256); stored and shown as hex.
const HashSize = sha256.Size

// ZeroHash is the previous hash of entry 1: 64 zeros.
const ZeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// hashDomain starts every hashed record, so that no other SHA-256 in Meterhouse (or a
// later version of this encoding) can produce the same input.
const hashDomain = "meterhouse.control.audit.v1\x00"

// maxField bounds each text field of an entry, so that the canonical encoding's lengths
// fit and one entry stays small.
const maxField = 64 << 10

// Canonical returns the canonical encoding of e: its time as Unix nanoseconds (int64, big
// endian), then Actor, Event, CommandID, MeterID and Detail, each as its length in bytes
// (uint32, big endian) followed by its bytes. Two entries have the same encoding exactly
// when every field is equal (times compared as instants).
func Canonical(e Entry) []byte {
	b := make([]byte, 0, 8+5*4+len(e.Actor)+len(e.Event)+len(e.CommandID)+len(e.MeterID)+len(e.Detail))
	b = binary.BigEndian.AppendUint64(b, uint64(e.At.UnixNano()))
	for _, s := range []string{e.Actor, e.Event, e.CommandID, e.MeterID, e.Detail} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// Hash returns the hash of entry e stored as number seq after the entry whose hash is prev
// (hex; ZeroHash for entry 1): the hex SHA-256 of a fixed domain string, seq (uint64, big
// endian), prev's 32 bytes and Canonical(e). prev must be a valid hash (CheckHash).
func Hash(seq uint64, prev string, e Entry) string {
	p, _ := hex.DecodeString(prev)
	h := sha256.New()
	h.Write([]byte(hashDomain))
	h.Write(binary.BigEndian.AppendUint64(nil, seq))
	h.Write(p)
	h.Write(Canonical(e))
	return hex.EncodeToString(h.Sum(nil))
}

// CheckHash reports whether h is a hash as the log writes it: 64 lower-case hex digits.
func CheckHash(h string) error {
	if len(h) != 2*HashSize {
		return fmt.Errorf("hash %q: want %d hex digits", short(h), 2*HashSize)
	}
	for i := range len(h) {
		if c := h[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("hash %q: want lower-case hex digits", short(h))
		}
	}
	return nil
}

// short returns the first 12 characters of a hash, for messages.
func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// Check reports the first field of e that the log cannot store, as a fault.FieldError:
// At is required and must lie in what ClickHouse's DateTime holds (schema.CheckTime), Actor
// and Event are required, and no text field may exceed 64 KiB.
func (e Entry) Check() error {
	if e.At.IsZero() {
		return fault.Invalid("at", "required: when it happened")
	}
	if err := schema.CheckTime("at", e.At); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"actor", e.Actor}, {"event", e.Event}} {
		if f.v == "" {
			return fault.Invalid(f.name, "required")
		}
	}
	for _, f := range []struct{ name, v string }{{"actor", e.Actor}, {"event", e.Event}, {"command_id", e.CommandID}, {"meter_id", e.MeterID}, {"detail", e.Detail}} {
		if len(f.v) > maxField {
			return fault.Invalid(f.name, "%d bytes, at most %d", len(f.v), maxField)
		}
	}
	return nil
}

// Record is one stored entry: the entry, its number and the hashes that chain it.
type Record struct {
	// Seq numbers the entry: 1 for the first, then consecutively.
	Seq uint64 `json:"seq"`
	Entry
	// PrevHash is the hash of entry Seq-1 (ZeroHash for entry 1).
	PrevHash string `json:"prev_hash"`
	// Hash is Hash(Seq, PrevHash, Entry).
	Hash string `json:"hash"`
}

// chain returns the records of entries appended after the entry seq whose hash is prev.
func chain(seq uint64, prev string, entries []Entry) []Record {
	out := make([]Record, len(entries))
	for i, e := range entries {
		e.At = e.At.UTC()
		seq++
		h := Hash(seq, prev, e)
		out[i] = Record{Seq: seq, Entry: e, PrevHash: prev, Hash: h}
		prev = h
	}
	return out
}

// intact reports whether r's hash is the hash of its own fields.
func (r Record) intact() bool {
	return CheckHash(r.PrevHash) == nil && CheckHash(r.Hash) == nil && Hash(r.Seq, r.PrevHash, r.Entry) == r.Hash
}

// Head is the head of a chain: the last entry's number and hash, and a time (when it was
// anchored, or the last entry's time in a Report).
type Head struct {
	// Log names the log: its private database.
	Log string `json:"log"`
	// Seq is the last entry's number, 0 for an empty log.
	Seq uint64 `json:"seq"`
	// Hash is the last entry's hash (ZeroHash for an empty log).
	Hash string `json:"hash"`
	// At is when the head was published as an anchor (in a Report: the last entry's time).
	At time.Time `json:"at"`
}

// check reports what makes h unusable as an anchor.
func (h Head) check() error {
	if h.Log == "" {
		return errors.New("anchor names no log")
	}
	return CheckHash(h.Hash)
}
