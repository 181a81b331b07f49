package ingest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/valyala/fastjson"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/schema"
)

// HTTPConfig configures HTTP ingest.
type HTTPConfig struct {
	// MaxBodyBytes is the largest request body accepted, in bytes; a larger one gets 413.
	// The API's body_limit applies too.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxReadings is the most readings one request may carry; more is a 400.
	MaxReadings int `yaml:"max_readings"`
}

// DefaultHTTPConfig returns limits suited to small installations and tests.
func DefaultHTTPConfig() HTTPConfig {
	return HTTPConfig{MaxBodyBytes: 16 << 20, MaxReadings: 100_000}
}

// Validate reports the first field that cannot work, naming it.
func (c HTTPConfig) Validate() error {
	switch {
	case c.MaxBodyBytes < 1:
		return errors.New("http_ingest.max_body_bytes: must be at least 1")
	case c.MaxReadings < 1:
		return errors.New("http_ingest.max_readings: must be at least 1")
	}
	return nil
}

// Producer writes messages to the readings topic and returns once the broker has them.
// *kafka.Writer (synchronous, the default, with the kafka.Hash balancer) satisfies it.
type Producer = wire.MessageWriter

// HTTPResult is the response to an ingest request whose body could be read: how many
// readings were produced to Kafka, and why each of the others was refused.
type HTTPResult struct {
	// Accepted counts the readings produced to the readings topic.
	Accepted int `json:"accepted"`
	// Refused lists the refused readings in request order; empty, never null.
	Refused []Refusal `json:"refused"`
}

// Refusal says why one reading of a request was refused.
type Refusal struct {
	// Index is the reading's position in the request: the array element, the non-blank
	// NDJSON line, or the Arrow row, from 0.
	Index int `json:"index"`
	// MeterID is the reading's meter id when it had one as a string.
	MeterID string `json:"meter_id,omitempty"`
	// Code is one of the reject codes of the dead-letter topic, like negative_register.
	Code string `json:"code"`
	// Field names the field at fault, when there is one.
	Field string `json:"field,omitempty"`
	// Reason says what is wrong, naming the value.
	Reason string `json:"reason"`
}

// HTTPHandler serves HTTP ingest: POST /v1/readings and the form endpoint POST
// /meter_reading. It validates readings with the same decoders as the Kafka consumer and
// produces the accepted readings to the readings topic in the format they came in: a JSON
// or NDJSON body and a form as one JSON message per reading keyed by its meter id, an
// Arrow body as Arrow messages each holding the meters of one partition (at most
// httpArrowBatch readings) keyed by the meter id of its first reading. Every message is
// timestamped with the acceptance time the window was judged against, and produced
// synchronously, so a 2xx means Kafka has every accepted reading; storage follows through
// the consumer. It is safe for concurrent use.
type HTTPHandler struct {
	cfg      HTTPConfig
	window   Window
	producer Producer
	now      func() time.Time
	states   sync.Pool // of *httpState
}

// httpState is the reusable memory of one request.
type httpState struct {
	json    *JSONDecoder
	arrow   *ArrowDecoder
	parser  fastjson.Parser // for one element or line; the decoder's own is not used
	br      *bufio.Reader   // over the body, for JSON, NDJSON and forms
	body    bytes.Buffer    // the whole body, for Arrow only
	elem    []byte
	cols    Columns
	refused []Refusal
	encJSON *wire.Encoder // one JSON message per reading
	encArr  *wire.Encoder // Arrow messages by partition
	chunk   wire.Chunk    // the messages to produce
}

// httpArrowBatch is the most readings one Arrow message produced by HTTP ingest holds,
// which keeps a message of 64-character meter ids under the broker's default
// message.max.bytes of 1 MiB.
const httpArrowBatch = 10_000

// NewHTTPHandler returns a handler that accepts timestamps within w and produces through
// p to a readings topic of partitions partitions (ingest.partitions), by which it groups
// the meters of an Arrow body. It rejects an invalid cfg.
func NewHTTPHandler(cfg HTTPConfig, w Window, partitions int, p Producer) (*HTTPHandler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errors.New("ingest: NewHTTPHandler needs a producer")
	}
	if partitions < 1 {
		return nil, errors.New("ingest.partitions: must be at least 1")
	}
	jsonEnc := wire.Encoding{Format: wire.JSON, Partitions: partitions, LabelJSON: true}
	arrowEnc := wire.Encoding{Format: wire.Arrow, ArrowBatch: httpArrowBatch, Partitions: partitions}
	for _, e := range []wire.Encoding{jsonEnc, arrowEnc} {
		if err := e.Validate(); err != nil {
			return nil, err
		}
	}
	h := &HTTPHandler{cfg: cfg, window: w, producer: p, now: time.Now}
	h.states.New = func() any {
		ad := NewArrowDecoder(w)
		ad.maxRows = int64(cfg.MaxReadings)
		st := &httpState{json: NewJSONDecoder(w), arrow: ad, br: bufio.NewReaderSize(nil, maxReadingBytes)}
		st.encJSON, _ = wire.NewEncoder(jsonEnc) // validated above
		st.encArr, _ = wire.NewEncoder(arrowEnc)
		return st
	}
	return h, nil
}

// Register adds the ingest routes to srv, for the ingest role.
func (h *HTTPHandler) Register(srv *api.Server) error {
	for _, r := range []api.Route{{
		Method: http.MethodPost, Path: "/v1/readings",
		Summary: "Ingests readings through the Kafka path and reports each refused one.",
		Description: "The body is a JSON array of reading objects {meter_id, ts, register_wh, optional quality} (" + wire.ContentTypeJSON + "), " +
			"one such object per line (" + wire.ContentTypeNDJSON + "), or an Arrow IPC stream with the columns meter_id, ts, " +
			"register_wh and optional quality (" + wire.ContentTypeArrow + "). Readings get the checks of the " +
			"Kafka consumer; accepted ones are in Kafka, in the format they came in, when the response is sent.",
		Roles: []api.Role{api.RoleIngest},
		Body: &api.Body{ContentTypes: []string{wire.ContentTypeJSON, wire.ContentTypeNDJSON, wire.ContentTypeArrow}, Required: true,
			Description: "The readings.",
			Example:     []map[string]any{{"meter_id": "MTR-000001", "ts": "2026-01-01T00:15:00Z", "register_wh": 1234567}}},
		Status:   http.StatusAccepted,
		Response: "How many readings were accepted, and each refused one with its index and reason.",
		Handler:  h.handleReadings,
	}, {
		Method: http.MethodPost, Path: "/meter_reading",
		Summary: "Ingests one reading from a form (the original endpoint, kept for compatibility).",
		Description: "Form fields meter_id and reading, the register in kWh as a decimal with at most three " +
			"decimals (1234.567), stored exactly as Wh. The reading's time is the server's, to the second. A refused " +
			"reading is a 400 naming the field.",
		Roles: []api.Role{api.RoleIngest},
		Body: &api.Body{ContentTypes: []string{"application/x-www-form-urlencoded"}, Required: true,
			Description: "meter_id=MTR-000001&reading=1234.567"},
		Status:   http.StatusAccepted,
		Response: "The reading was accepted: {\"accepted\":1,\"refused\":[]}.",
		Handler:  h.handleForm,
	}} {
		if err := srv.Handle(r); err != nil {
			return err
		}
	}
	return nil
}

func (h *HTTPHandler) handleReadings(c echo.Context) error {
	req := c.Request()
	ct, _, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil {
		ct = ""
	}
	switch ct {
	case wire.ContentTypeJSON, wire.ContentTypeNDJSON, wire.ContentTypeArrow:
	default:
		return echo.NewHTTPError(http.StatusUnsupportedMediaType,
			fmt.Sprintf("Content-Type %q: want %s, %s or %s", req.Header.Get(echo.HeaderContentType), wire.ContentTypeJSON, wire.ContentTypeNDJSON, wire.ContentTypeArrow))
	}
	if req.ContentLength > h.cfg.MaxBodyBytes { // refused before reading any of it
		return h.readError(&http.MaxBytesError{Limit: h.cfg.MaxBodyBytes})
	}
	st := h.states.Get().(*httpState)
	defer h.put(st)
	// The acceptance time, to the millisecond of a Kafka timestamp: the window is judged
	// against it here, and every message produced carries it as its timestamp, so that the
	// consumer judges against the very same time, however late it gets to the message.
	now := h.now().UTC().Truncate(time.Millisecond)
	body := http.MaxBytesReader(c.Response(), req.Body, h.cfg.MaxBodyBytes)
	switch ct {
	case wire.ContentTypeJSON:
		st.br.Reset(body)
		err = h.decodeArray(st, now)
	case wire.ContentTypeNDJSON:
		st.br.Reset(body)
		err = h.decodeLines(st, now)
	case wire.ContentTypeArrow:
		if req.ContentLength > 0 { // at most MaxBodyBytes: read in one allocation
			st.body.Grow(int(req.ContentLength) + bytes.MinRead)
		}
		if err = h.readBody(st, body); err == nil {
			err = h.decodeArrow(st, now)
		}
	}
	st.br.Reset(nil)
	if err != nil {
		return err
	}
	format := wire.JSON
	if ct == wire.ContentTypeArrow { // forwarded as Arrow, so that every column it has travels on
		format = wire.Arrow
	}
	if err := h.produce(req.Context(), st, format, now); err != nil {
		return err
	}
	refused := st.refused
	if refused == nil {
		refused = []Refusal{}
	}
	return c.JSON(http.StatusAccepted, HTTPResult{Accepted: st.cols.Len(), Refused: refused})
}

// put returns st to the pool, emptied, unless a request made it unusually large.
func (h *HTTPHandler) put(st *httpState) {
	if st.body.Cap() > 1<<20 || st.chunk.Bytes() > 4<<20 || cap(st.refused) > 10_000 || cap(st.cols.MeterID) > 100_000 {
		return
	}
	if len(st.json.ids.m) > 10_000 || len(st.arrow.ids.m) > 10_000 { // ids of one request only
		st.json.ids.m, st.arrow.ids.m = nil, nil
	}
	st.body.Reset()
	st.cols.Reset()
	clear(st.refused)
	st.refused = st.refused[:0]
	st.chunk.Reset()
	st.encArr.Reset()
	h.states.Put(st)
}

// readError turns an error reading the body into the response: 413 naming the limit for a
// body over http_ingest.max_body_bytes or api.body_limit, 400 otherwise.
func (h *HTTPHandler) readError(err error) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("request body larger than %d bytes (http_ingest.max_body_bytes)", h.cfg.MaxBodyBytes))
	}
	if he, ok := errors.AsType[*echo.HTTPError](err); ok && he.Code == http.StatusRequestEntityTooLarge {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "request body larger than api.body_limit")
	}
	return fmt.Errorf("%w: reading the body: %w", fault.ErrInvalid, err)
}

// readBody reads a whole body (an Arrow stream, which is decoded in place) into st.body;
// body is already bounded by http_ingest.max_body_bytes.
func (h *HTTPHandler) readBody(st *httpState, body io.Reader) error {
	if _, err := st.body.ReadFrom(body); err != nil {
		return h.readError(err)
	}
	if st.body.Len() == 0 {
		return fault.Invalid("body", "empty; want readings")
	}
	return nil
}

func (h *HTTPHandler) tooMany() error {
	return fault.Invalid("body", "more than %d readings; at most %d per request (http_ingest.max_readings)", h.cfg.MaxReadings, h.cfg.MaxReadings)
}

func (st *httpState) refuse(i int, meterID []byte, r Reject) {
	st.refused = append(st.refused, Refusal{Index: i, MeterID: string(meterID), Code: r.Code, Field: r.Field, Reason: r.Reason})
}

// decodeArray decodes a JSON array of reading objects as a stream, one element at a time:
// at most one element (of at most maxReadingBytes) is held besides the accepted readings,
// and reading stops at the first limit.
func (h *HTTPHandler) decodeArray(st *httpState, now time.Time) error {
	br := st.br
	c, err := skipSpace(br)
	switch {
	case err == io.EOF:
		return fault.Invalid("body", "empty; want readings")
	case err != nil:
		return h.readError(err)
	case c != '[':
		return fault.Invalid("body", "want a JSON array of readings, got %s", jsonKind(c))
	}
	if c, err = skipSpace(br); err == nil && c != ']' {
		err = br.UnreadByte()
	}
	if err != nil {
		return h.syntaxError(err, "after [")
	}
	for i := 0; c != ']'; i++ {
		if i >= h.cfg.MaxReadings {
			return h.tooMany()
		}
		st.elem, err = readValue(br, st.elem[:0], maxReadingBytes)
		switch {
		case errors.Is(err, errElementTooLong):
			return fault.Invalid("body", "element %d: %v; a reading is far shorter", i, err)
		case err != nil:
			return h.syntaxError(err, fmt.Sprintf("in element %d", i))
		}
		v, err := st.parser.ParseBytes(st.elem)
		if err != nil {
			return fault.Invalid("body", "malformed JSON in element %d: %v", i, err)
		}
		if r, ok := st.json.decodeValue(nil, v, now, &st.cols, false); !ok {
			st.refuse(i, v.GetStringBytes("meter_id"), r)
		}
		if c, err = skipSpace(br); err != nil {
			return h.syntaxError(err, fmt.Sprintf("after element %d", i))
		}
		if c != ',' && c != ']' {
			return fault.Invalid("body", "malformed JSON: want , or ] after element %d, got %q", i, c)
		}
	}
	switch _, err := skipSpace(br); {
	case err == nil:
		return fault.Invalid("body", "malformed JSON: data after the array")
	case err != io.EOF:
		return h.readError(err)
	}
	return nil
}

// syntaxError is the response to err met while reading a JSON array at where: the body's
// end (malformed JSON) or a read error.
func (h *HTTPHandler) syntaxError(err error, where string) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fault.Invalid("body", "malformed JSON: the body ends %s", where)
	}
	return h.readError(err)
}

// jsonKind names the JSON value that starts with c.
func jsonKind(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '"':
		return "a string"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	}
	return fmt.Sprintf("%q, which is not JSON", c)
}

// decodeLines decodes NDJSON as a stream, one line at a time: one reading object per line;
// blank lines are skipped. A body of which no line is a JSON object is refused as a whole.
func (h *HTTPHandler) decodeLines(st *httpState, now time.Time) error {
	n, lineNo := 0, 0
	var malformed Reject
	for {
		line, err := st.br.ReadSlice('\n')
		lineNo++
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			return fault.Invalid("body", "line %d: %v; a reading is far shorter", lineNo, errElementTooLong)
		case err != nil && err != io.EOF:
			return h.readError(err)
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			if n >= h.cfg.MaxReadings {
				return h.tooMany()
			}
			var r Reject
			ok := false
			v, perr := st.parser.ParseBytes(line)
			if perr != nil {
				r = Reject{Code: CodeMalformed, Row: -1, Reason: "malformed JSON: " + perr.Error()}
			} else {
				r, ok = st.json.decodeValue(nil, v, now, &st.cols, false)
			}
			if !ok {
				var id []byte
				if perr == nil {
					id = v.GetStringBytes("meter_id")
				}
				st.refuse(n, id, r)
				if r.Code == CodeMalformed && malformed.Code == "" {
					malformed = r
					malformed.Row = n
				}
			}
			n++
		}
		if err == io.EOF {
			break
		}
	}
	if n == 0 {
		if lineNo == 1 {
			return fault.Invalid("body", "empty; want readings")
		}
		return fault.Invalid("body", "no readings: every line is blank")
	}
	if st.cols.Len() == 0 && len(st.refused) == n && allMalformed(st.refused) {
		return fault.Invalid("body", "not NDJSON: no line is a reading object (line %d: %s)", malformed.Row, malformed.Reason)
	}
	return nil
}

func allMalformed(rs []Refusal) bool {
	for _, r := range rs {
		if r.Code != CodeMalformed {
			return false
		}
	}
	return true
}

// decodeArrow decodes an Arrow IPC stream with the Arrow decoder, which refuses a stream
// of more than http_ingest.max_readings rows before decoding the rows over it.
func (h *HTTPHandler) decodeArrow(st *httpState, now time.Time) error {
	rows, r, ok := st.arrow.Decode(st.body.Bytes(), now, &st.cols)
	if !ok {
		field := r.Field
		if field == "" {
			field = "body"
		}
		return fault.Invalid(field, "%s", r.Reason)
	}
	for _, row := range rows {
		st.refuse(row.Row, viewBytes(row.MeterID), row.Reject)
	}
	return nil
}

// produceChunk is about how many readings produce hands the producer at once, so that the
// messages and the producer's copies of them cost a fixed amount, not one per reading of
// the request.
const produceChunk = 10_000

// produce writes every reading of st.cols to Kafka in format f (see HTTPHandler), with
// timestamp now (the acceptance time the window was judged against), and returns once the
// broker has acknowledged them all. It produces about produceChunk readings at a time; when
// one chunk fails the earlier ones are in Kafka, which a retry of the request makes
// harmless (storage deduplicates).
func (h *HTTPHandler) produce(ctx context.Context, st *httpState, f wire.Format, now time.Time) error {
	enc := st.encJSON
	if f == wire.Arrow {
		enc = st.encArr
	}
	enc.SetTime(now)
	n, from := st.cols.Len(), 0
	write := func() error {
		to := from + st.chunk.Readings
		if err := h.producer.WriteMessages(ctx, st.chunk.Messages...); err != nil {
			// The writer may still hold the messages (a cancelled context returns before
			// queued batches are written), and they point into the chunk's memory: never
			// give that memory to another request.
			st.chunk = wire.Chunk{}
			if ctx.Err() != nil {
				return fmt.Errorf("produce readings %d to %d of %d: %w", from, to, n, ctx.Err())
			}
			return fmt.Errorf("produce readings %d to %d of %d: %w: %w", from, to, n, fault.ErrUnavailable, err)
		}
		from = to
		st.chunk.Reset()
		return nil
	}
	st.chunk.Reset()
	for i := range n {
		r := schema.Reading{MeterID: st.cols.MeterID[i], TS: st.cols.TS[i], RegisterWh: st.cols.RegisterWh[i], Quality: st.cols.Quality[i]}
		if err := enc.Add(&st.chunk, r); err != nil {
			return fmt.Errorf("encode readings: %w", err)
		}
		if st.chunk.Readings >= produceChunk {
			if err := write(); err != nil {
				return err
			}
		}
	}
	if err := enc.Flush(&st.chunk); err != nil {
		return fmt.Errorf("encode readings: %w", err)
	}
	if len(st.chunk.Messages) > 0 {
		return write()
	}
	return nil
}

// handleForm serves the form endpoint: one reading, its register in kWh, its time the
// server's.
func (h *HTTPHandler) handleForm(c echo.Context) error {
	req := c.Request()
	if req.ContentLength > h.cfg.MaxBodyBytes {
		return h.readError(&http.MaxBytesError{Limit: h.cfg.MaxBodyBytes})
	}
	st := h.states.Get().(*httpState)
	defer h.put(st)
	id, kwh, err := h.readForm(st, c)
	if err != nil {
		return err
	}
	if id == "" {
		return fault.Invalid("meter_id", "required")
	}
	if kwh == "" {
		return fault.Invalid("reading", "required: the register in kWh, like 1234.567")
	}
	wh, err := parseKWh(kwh)
	if err != nil {
		return fault.Invalid("reading", "%q: %v", truncate([]byte(kwh)), err)
	}
	now := h.now().UTC().Truncate(time.Millisecond) // as in handleReadings
	ts := now.Truncate(time.Second)
	if r, ok := checkReading([]byte(id), ts, wh, now, h.window); !ok {
		field := r.Field
		if field == "register_wh" {
			field, r.Reason = "reading", fmt.Sprintf("%s kWh is negative", kwh)
		}
		return fault.Invalid(field, "%s", r.Reason)
	}
	st.cols.Append(id, ts, wh, 0)
	if err := h.produce(req.Context(), st, wire.JSON, now); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, HTTPResult{Accepted: 1, Refused: []Refusal{}})
}

// readForm reads an application/x-www-form-urlencoded body as a stream, one field at a time
// (each at most maxReadingBytes), and returns the first meter_id and reading, as
// http.Request.PostForm.Get would; other fields are read and dropped. A body of another
// content type is not read, so both come back empty.
func (h *HTTPHandler) readForm(st *httpState, c echo.Context) (id, kwh string, err error) {
	req := c.Request()
	ct, _, _ := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if ct != "application/x-www-form-urlencoded" {
		return "", "", nil
	}
	st.br.Reset(http.MaxBytesReader(c.Response(), req.Body, h.cfg.MaxBodyBytes))
	defer st.br.Reset(nil)
	var haveID, haveKWh bool
	for n := 1; ; n++ {
		field, rerr := st.br.ReadSlice('&')
		switch {
		case errors.Is(rerr, bufio.ErrBufferFull):
			return "", "", fault.Invalid("body", "form field %d: %v", n, errElementTooLong)
		case rerr != nil && rerr != io.EOF:
			return "", "", h.readError(rerr)
		}
		field = bytes.TrimSuffix(field, []byte("&"))
		if bytes.IndexByte(field, ';') >= 0 {
			return "", "", fault.Invalid("body", "not a form: invalid semicolon separator in field %d", n)
		}
		if len(field) > 0 {
			k, v, _ := bytes.Cut(field, []byte("="))
			key, err := formUnescape(k)
			if err != nil {
				return "", "", fault.Invalid("body", "not a form: field %d: %v", n, err)
			}
			if (key == "meter_id" && !haveID) || (key == "reading" && !haveKWh) {
				val, err := url.QueryUnescape(string(v))
				if err != nil {
					return "", "", fault.Invalid("body", "not a form: field %d: %v", n, err)
				}
				if key == "meter_id" {
					id, haveID = val, true
				} else {
					kwh, haveKWh = val, true
				}
			}
		}
		if rerr == io.EOF {
			return id, kwh, nil
		}
	}
}

// formUnescape decodes a form field's name. A name without escapes (the usual case) is
// returned as one of the names readForm looks for, or empty, without allocating.
func formUnescape(k []byte) (string, error) {
	if bytes.IndexByte(k, '%') >= 0 || bytes.IndexByte(k, '+') >= 0 {
		return url.QueryUnescape(string(k))
	}
	switch string(k) {
	case "meter_id":
		return "meter_id", nil
	case "reading":
		return "reading", nil
	}
	return "", nil
}

// parseKWh converts a decimal number of kWh, like 1234.567 or -2, to Wh exactly, with
// integer arithmetic: a value with a fraction of a Wh is refused rather than rounded.
// The sign is kept so that the shared checks refuse a negative register.
func parseKWh(s string) (int64, error) {
	neg := false
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		neg, s = true, rest
	}
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || (dot && frac == "") || !allDigits(whole) || !allDigits(frac) {
		return 0, errors.New("want a decimal number of kWh like 1234.567")
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > 3 {
		return 0, errors.New("finer than 1 Wh: at most three decimals of kWh")
	}
	var milli int64
	if frac != "" {
		milli, _ = strconv.ParseInt(frac+"00"[:3-len(frac)], 10, 64)
	}
	kwh, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || kwh > math.MaxInt64/1000 || kwh*1000 > math.MaxInt64-milli {
		return 0, errors.New("too large")
	}
	wh := kwh*1000 + milli
	if neg {
		wh = -wh
	}
	return wh, nil
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
