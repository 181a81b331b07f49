package ingest

import (
	"bytes"
	"fmt"
	"time"

	"github.com/valyala/fastjson"

	"github.com/meterhouse/meterhouse/schema"
)

// Window bounds the reading timestamps ingest accepts, relative to the time of decoding.
type Window struct {
	// MaxAge is how far in the past a reading may lie (the lateness window).
	MaxAge time.Duration `yaml:"max_age"`
	// MaxFuture is how far ahead of the clock a reading may lie (clock skew of meters).
	MaxFuture time.Duration `yaml:"max_future"`
}

// checkReading applies the checks every format shares: meter id syntax, the timestamp
// window, and a non-negative register.
func checkReading(id []byte, ts time.Time, wh int64, now time.Time, w Window) (Reject, bool) {
	if !schema.ValidMeterID(id) {
		return Reject{Code: CodeBadMeterID, Field: "meter_id", Row: -1,
			Reason: fmt.Sprintf("%q is not 1-64 characters of A-Z a-z 0-9 . _ : -", truncate(id))}, false
	}
	if ts.Before(now.Add(-w.MaxAge)) {
		return Reject{Code: CodeOutOfWindow, Field: "ts", Row: -1,
			Reason: fmt.Sprintf("%s is older than the lateness window of %s", ts.Format(time.RFC3339), w.MaxAge)}, false
	}
	if ts.After(now.Add(w.MaxFuture)) {
		return Reject{Code: CodeOutOfWindow, Field: "ts", Row: -1,
			Reason: fmt.Sprintf("%s is more than %s in the future", ts.Format(time.RFC3339), w.MaxFuture)}, false
	}
	if wh < 0 {
		return Reject{Code: CodeNegative, Field: "register_wh", Row: -1,
			Reason: fmt.Sprintf("%d is negative", wh)}, false
	}
	return Reject{}, true
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
// {"meter_id":"…","ts":"RFC 3339","register_wh":int} straight into Columns. Fields other
// than these three are ignored. It keeps a parser and an id table between calls, so it
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
// Kafka message key: when not empty it must equal the reading's meter id. now is the
// reference for the timestamp window. Neither key nor value is retained.
func (d *JSONDecoder) Decode(key, value []byte, now time.Time, cols *Columns) (Reject, bool) {
	v, err := d.parser.ParseBytes(value)
	if err != nil {
		return Reject{Code: CodeMalformed, Row: -1, Reason: "malformed JSON: " + err.Error()}, false
	}
	obj, err := v.Object()
	if err != nil {
		return Reject{Code: CodeMalformed, Row: -1, Reason: "want a JSON object, got " + v.Type().String()}, false
	}
	idv, tsv, whv := obj.Get("meter_id"), obj.Get("ts"), obj.Get("register_wh")
	for _, f := range [...]struct {
		name string
		v    *fastjson.Value
	}{{"meter_id", idv}, {"ts", tsv}, {"register_wh", whv}} {
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
	ts, err := parseTimestamp(tsb)
	if err != nil {
		return Reject{Code: CodeBadTimestamp, Field: "ts", Row: -1, Reason: fmt.Sprintf("%q: %v", truncate(tsb), err)}, false
	}
	if r, ok := checkReading(id, ts, wh, now, d.window); !ok {
		return r, false
	}
	if len(key) > 0 && !bytes.Equal(key, id) {
		return Reject{Code: CodeKeyMismatch, Field: "meter_id", Row: -1,
			Reason: fmt.Sprintf("message key %q differs from meter_id %q", truncate(key), truncate(id))}, false
	}
	cols.Append(d.ids.intern(id), ts, wh, 0)
	return Reject{}, true
}
