package ingest

import (
	"bytes"
	"fmt"
	"time"
	"unsafe"

	"github.com/valyala/fastjson"

	"github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/schema"
)

// Window bounds the reading timestamps ingest accepts, relative to a reference time that
// does not change when a message is delivered again: the Kafka message's timestamp for the
// consumer, the acceptance time for HTTP ingest (which stamps every message it produces with
// it). See messageTime.
type Window struct {
	// MaxAge is how far before the reference time a reading may lie (the lateness window).
	MaxAge time.Duration `yaml:"max_age"`
	// MaxFuture is how far after the reference time a reading may lie (clock skew of meters).
	MaxFuture time.Duration `yaml:"max_future"`
}

// messageTime returns the reference time the window of a Kafka message's readings is judged
// against: the message's timestamp (kafka-go's Message.Time, to the millisecond, as stored in
// the log), which is the same on every delivery. A message without a usable timestamp (none,
// -1, or one outside the times Meterhouse accepts: schema.MinDateTime exclusive to
// schema.LatestTime) has no reference, and ok is false: the consumer refuses its readings
// (CodeOutOfWindow, field timestamp), which is again the same on every delivery. No decision
// ever depends on the consumer's clock.
func messageTime(t time.Time) (ref time.Time, ok bool) {
	if !t.After(schema.MinDateTime) || t.After(schema.LatestTime) {
		return time.Time{}, false
	}
	return t, true
}

// noMessageTime is the refusal of a message whose Kafka timestamp cannot serve as the
// window's reference.
func noMessageTime(t time.Time) Reject {
	return Reject{Code: CodeOutOfWindow, Field: "timestamp", Row: -1,
		Reason: fmt.Sprintf("the Kafka message's timestamp %s is not a time the window can be judged against (the producer must set it: CreateTime)",
			t.UTC().Format(time.RFC3339Nano))}
}

// minReadingTS is the earliest reading ts accepted: one second after schema.MinDateTime,
// because readings_hourly files a reading under toStartOfHour(ts - 1), which would wrap
// (on 18.16, to 1970-01-01 06:00) for a ts of exactly the epoch. maxReadingTS is
// schema.LatestTime, the latest time that can be read back.
var (
	minReadingTS = schema.MinDateTime.Add(time.Second)
	maxReadingTS = schema.LatestTime
)

// checkReading applies the checks every format shares: meter id syntax, a timestamp that
// the readings table and its aggregates can hold (minReadingTS to maxReadingTS), the timestamp window around ref (skipped when ref is zero),
// and a non-negative register.
func checkReading(id []byte, ts time.Time, wh int64, ref time.Time, w Window) (Reject, bool) {
	if !schema.ValidMeterID(id) {
		return Reject{Code: CodeBadMeterID, Field: "meter_id", Row: -1,
			Reason: fmt.Sprintf("%q is not 1-64 characters of A-Z a-z 0-9 . _ : -", truncate(id))}, false
	}
	if ts.Before(minReadingTS) || ts.After(maxReadingTS) {
		return Reject{Code: CodeBadTimestamp, Field: "ts", Row: -1, Reason: outOfRange(ts.Format(time.RFC3339))}, false
	}
	if !ref.IsZero() {
		if ts.Before(ref.Add(-w.MaxAge)) {
			return Reject{Code: CodeOutOfWindow, Field: "ts", Row: -1,
				Reason: fmt.Sprintf("%s is older than the lateness window of %s before %s",
					ts.Format(time.RFC3339), w.MaxAge, ref.UTC().Format(time.RFC3339Nano))}, false
		}
		if ts.After(ref.Add(w.MaxFuture)) {
			return Reject{Code: CodeOutOfWindow, Field: "ts", Row: -1,
				Reason: fmt.Sprintf("%s is more than %s in the future of %s",
					ts.Format(time.RFC3339), w.MaxFuture, ref.UTC().Format(time.RFC3339Nano))}, false
		}
	}
	if wh < 0 {
		return Reject{Code: CodeNegative, Field: "register_wh", Row: -1,
			Reason: fmt.Sprintf("%d is negative", wh)}, false
	}
	return Reject{}, true
}

// outOfRange is the reason for a timestamp that the readings table cannot hold.
func outOfRange(ts string) string {
	return fmt.Sprintf("%s is outside the range the readings table holds, %s to %s", ts,
		minReadingTS.Format(time.RFC3339), maxReadingTS.Format(time.RFC3339))
}

// truncate shortens an offending value for an error message.
func truncate(b []byte) string {
	const max = 80
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// interner turns meter-id bytes into strings, returning the same string for the same id so
// that a fleet's ids are allocated once rather than once per reading. It forgets everything
// when it holds limit ids, which bounds its memory. Not safe for concurrent use.
type interner struct {
	m     map[string]string
	limit int
}

func (in *interner) intern(b []byte) string {
	if s, ok := in.m[string(b)]; ok { // the conversion in a map index does not allocate
		return s
	}
	if in.m == nil || len(in.m) >= in.limit {
		in.m = make(map[string]string, min(in.limit, 1<<16))
	}
	s := string(b)
	in.m[s] = s
	return s
}

// JSONDecoder decodes messages holding one reading as a JSON object
// {"meter_id":"…","ts":"RFC 3339","register_wh":int} with an optional "quality":int (0 to
// 255; absent or null means 0) straight into Columns. Other fields are ignored. It keeps a parser and an id table between calls, so it
// allocates nothing per reading once warm; it is not safe for concurrent use, so each
// consumer goroutine owns one.
type JSONDecoder struct {
	parser fastjson.Parser
	ids    interner
	window Window
}

// NewJSONDecoder returns a decoder that accepts timestamps within w.
func NewJSONDecoder(w Window) *JSONDecoder {
	return &JSONDecoder{window: w, ids: interner{limit: 1 << 22}}
}

// Decode appends the reading in value to cols, or returns why it was refused. key is the
// Kafka message key: when not empty it must equal the reading's meter id. ref is the
// reference time of the timestamp window (the message's timestamp); when it is zero no
// window is applied. Neither key nor value is retained.
func (d *JSONDecoder) Decode(key, value []byte, ref time.Time, cols *Columns) (Reject, bool) {
	return d.decode(key, value, ref, cols, false)
}

// decodeOwnedKey is Decode for a caller that hands key over for good (the consumer: kafka-go
// allocates every message's key afresh) and never modifies it. When key is not empty, the
// reading's meter id equals it, and cols holds key's own bytes as the id: no copy and no
// lookup in the id table, whose random accesses over a large fleet miss the CPU caches.
func (d *JSONDecoder) decodeOwnedKey(key, value []byte, ref time.Time, cols *Columns) (Reject, bool) {
	return d.decode(key, value, ref, cols, true)
}

func (d *JSONDecoder) decode(key, value []byte, ref time.Time, cols *Columns, ownKey bool) (Reject, bool) {
	if id, tsb, wh, q, ok := canonicalReading(value); ok {
		return d.accept(key, id, tsb, wh, nil, q, ref, cols, ownKey)
	}
	v, err := d.parser.ParseBytes(value)
	if err != nil {
		return Reject{Code: CodeMalformed, Row: -1, Reason: "malformed JSON: " + err.Error()}, false
	}
	return d.decodeValue(key, v, ref, cols, ownKey)
}

// decodeValue is Decode of a parsed value; ownKey is decodeOwnedKey's promise about key.
func (d *JSONDecoder) decodeValue(key []byte, v *fastjson.Value, ref time.Time, cols *Columns, ownKey bool) (Reject, bool) {
	obj, err := v.Object()
	if err != nil {
		return Reject{Code: CodeMalformed, Row: -1, Reason: "want a JSON object, got " + v.Type().String()}, false
	}
	idv, tsv, whv := obj.Get(wire.FieldMeterID), obj.Get(wire.FieldTS), obj.Get(wire.FieldRegisterWh)
	for _, f := range [...]struct {
		name string
		v    *fastjson.Value
	}{{wire.FieldMeterID, idv}, {wire.FieldTS, tsv}, {wire.FieldRegisterWh, whv}} {
		if f.v == nil {
			return Reject{Code: CodeMissingField, Field: f.name, Row: -1, Reason: "required field is missing"}, false
		}
	}
	id, err := idv.StringBytes()
	if err != nil {
		return Reject{Code: CodeWrongType, Field: "meter_id", Row: -1, Reason: "want a string, got " + idv.Type().String()}, false
	}
	tsb, err := tsv.StringBytes()
	if err != nil {
		return Reject{Code: CodeWrongType, Field: "ts", Row: -1, Reason: "want an RFC 3339 string, got " + tsv.Type().String()}, false
	}
	if whv.Type() != fastjson.TypeNumber {
		return Reject{Code: CodeWrongType, Field: "register_wh", Row: -1, Reason: "want an integer, got " + whv.Type().String()}, false
	}
	wh, err := whv.Int64()
	if err != nil {
		return Reject{Code: CodeWrongType, Field: "register_wh", Row: -1,
			Reason: fmt.Sprintf("want a whole number of Wh within 64 bits, got %s", whv.String())}, false
	}
	return d.accept(key, id, tsb, wh, obj.Get(wire.FieldQuality), 0, ref, cols, ownKey)
}

// accept checks a reading whose fields have the right JSON types and appends it to cols:
// the checks after the types, in the order decodeValue has always made them. qv is the
// quality field as fastjson parsed it (nil: absent, or q already known and valid).
func (d *JSONDecoder) accept(key, id, tsb []byte, wh int64, qv *fastjson.Value, q uint8, ref time.Time, cols *Columns, ownKey bool) (Reject, bool) {
	ts, err := parseTimestamp(tsb)
	if err != nil {
		return Reject{Code: CodeBadTimestamp, Field: "ts", Row: -1, Reason: fmt.Sprintf("%q: %v", truncate(tsb), err)}, false
	}
	if r, ok := checkReading(id, ts, wh, ref, d.window); !ok {
		return r, false
	}
	if qv != nil {
		var r Reject
		var ok bool
		if q, r, ok = jsonQuality(qv); !ok {
			return r, false
		}
	}
	if len(key) > 0 && !bytes.Equal(key, id) {
		return Reject{Code: CodeKeyMismatch, Field: "meter_id", Row: -1,
			Reason: fmt.Sprintf("message key %q differs from meter_id %q", truncate(key), truncate(id))}, false
	}
	if ownKey && len(key) > 0 {
		cols.Append(unsafe.String(unsafe.SliceData(key), len(key)), ts, wh, q) // key == id, checked above
	} else {
		cols.Append(d.ids.intern(id), ts, wh, q)
	}
	return Reject{}, true
}

// jsonQuality reads the optional quality field of a JSON reading: absent or null is 0,
// otherwise a whole number from 0 to 255.
func jsonQuality(v *fastjson.Value) (uint8, Reject, bool) {
	if v == nil || v.Type() == fastjson.TypeNull {
		return 0, Reject{}, true
	}
	if v.Type() != fastjson.TypeNumber {
		return 0, Reject{Code: CodeWrongType, Field: wire.FieldQuality, Row: -1, Reason: "want an integer from 0 to 255, got " + v.Type().String()}, false
	}
	q, err := v.Uint()
	if err != nil || q > 255 {
		return 0, Reject{Code: CodeWrongType, Field: wire.FieldQuality, Row: -1,
			Reason: fmt.Sprintf("want an integer from 0 to 255, got %s", v.String())}, false
	}
	return uint8(q), Reject{}, true
}

// The canonical JSON reading, as wire.AppendJSON writes it.
const (
	canonicalID       = `{"` + wire.FieldMeterID + `":"`
	canonicalTS       = `","` + wire.FieldTS + `":"`
	canonicalRegister = `","` + wire.FieldRegisterWh + `":`
	canonicalQuality  = `,"` + wire.FieldQuality + `":`
)

// canonicalReading recognises a value in exactly the form wire.AppendJSON writes —
// {"meter_id":"…","ts":"…","register_wh":N} with an optional ,"quality":N, no whitespace,
// strings without escapes, numbers without sign, leading zero or fraction, quality at most
// 255 — and returns its fields without a JSON parser. For anything else ok is false and
// the value takes fastjson's path, which decides as it always has; for a canonical value
// both paths yield the same fields (TestCanonicalReadingAgrees).
func canonicalReading(v []byte) (id, ts []byte, wh int64, q uint8, ok bool) {
	rest, ok := bytes.CutPrefix(v, []byte(canonicalID))
	if !ok {
		return nil, nil, 0, 0, false
	}
	if id, rest, ok = plainString(rest); !ok {
		return nil, nil, 0, 0, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(canonicalTS[1:])); !ok { // the id's closing quote is eaten
		return nil, nil, 0, 0, false
	}
	if ts, rest, ok = plainString(rest); !ok {
		return nil, nil, 0, 0, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(canonicalRegister[1:])); !ok {
		return nil, nil, 0, 0, false
	}
	n, rest, ok := plainNumber(rest, 18) // 18 digits never overflow an int64
	if !ok {
		return nil, nil, 0, 0, false
	}
	if after, found := bytes.CutPrefix(rest, []byte(canonicalQuality)); found {
		var qn int64
		if qn, rest, ok = plainNumber(after, 3); !ok || qn > 255 {
			return nil, nil, 0, 0, false
		}
		q = uint8(qn)
	}
	if len(rest) != 1 || rest[0] != '}' {
		return nil, nil, 0, 0, false
	}
	return id, ts, n, q, true
}

// plainString returns the bytes of b up to the next double quote, and b after it, when
// they hold only printable ASCII without a backslash (so that the JSON string is its own
// text).
func plainString(b []byte) (s, rest []byte, ok bool) {
	for i, c := range b {
		switch {
		case c == '"':
			return b[:i], b[i+1:], true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, nil, false
		}
	}
	return nil, nil, false
}

// plainNumber reads 1 to max decimal digits without a leading zero (0 alone excepted) at
// the start of b, not followed by another digit or a number's fraction or exponent.
func plainNumber(b []byte, max int) (n int64, rest []byte, ok bool) {
	i := 0
	for i < len(b) && i <= max && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + int64(b[i]-'0')
		i++
	}
	if i == 0 || i > max || (b[0] == '0' && i > 1) {
		return 0, nil, false
	}
	if i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E') {
		return 0, nil, false
	}
	return n, b[i:], true
}
