package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/segmentio/kafka-go"
	"github.com/valyala/fastjson"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/schema"
)

// ContentTypeNDJSON marks an HTTP request body of newline-delimited JSON readings.
const ContentTypeNDJSON = "application/x-ndjson"

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
// *kafka.Writer (synchronous, the default) satisfies it.
type Producer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

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
// produces each accepted reading to the readings topic as one JSON message keyed by its
// meter id, synchronously, so a 2xx means Kafka has every accepted reading; storage
// follows through the consumer. It is safe for concurrent use.
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
	parser  fastjson.Parser // for the array or a refused line; the decoder has its own
	body    bytes.Buffer
	elem    []byte
	values  []byte
	cols    Columns
	refused []Refusal
	msgs    []kafka.Message
}

// NewHTTPHandler returns a handler that accepts timestamps within w and produces through
// p. It rejects an invalid cfg.
func NewHTTPHandler(cfg HTTPConfig, w Window, p Producer) (*HTTPHandler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errors.New("ingest: NewHTTPHandler needs a producer")
	}
	h := &HTTPHandler{cfg: cfg, window: w, producer: p, now: time.Now}
	h.states.New = func() any {
		return &httpState{json: NewJSONDecoder(w), arrow: NewArrowDecoder(w)}
	}
	return h, nil
}

// Register adds the ingest routes to srv, for the ingest role.
func (h *HTTPHandler) Register(srv *api.Server) error {
	for _, r := range []api.Route{{
		Method: http.MethodPost, Path: "/v1/readings",
		Summary: "Ingests readings through the Kafka path and reports each refused one.",
		Description: "The body is a JSON array of reading objects {meter_id, ts, register_wh} (application/json), " +
			"one such object per line (application/x-ndjson), or an Arrow IPC stream with the columns meter_id, ts, " +
			"register_wh and optional quality (application/vnd.apache.arrow.stream). Readings get the checks of the " +
			"Kafka consumer; accepted ones are in Kafka when the response is sent.",
		Roles: []api.Role{api.RoleIngest},
		Body: &api.Body{ContentTypes: []string{ContentTypeJSON, ContentTypeNDJSON, ContentTypeArrow}, Required: true,
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
	case ContentTypeJSON, ContentTypeNDJSON, ContentTypeArrow:
	default:
		return echo.NewHTTPError(http.StatusUnsupportedMediaType,
			fmt.Sprintf("Content-Type %q: want %s, %s or %s", req.Header.Get(echo.HeaderContentType), ContentTypeJSON, ContentTypeNDJSON, ContentTypeArrow))
	}
	st := h.states.Get().(*httpState)
	defer h.put(st)
	if err := h.readBody(c, st); err != nil {
		return err
	}
	now := h.now()
	switch ct {
	case ContentTypeJSON:
		err = h.decodeArray(st, now)
	case ContentTypeNDJSON:
		err = h.decodeLines(st, now)
	case ContentTypeArrow:
		err = h.decodeArrow(st, now)
	}
	if err != nil {
		return err
	}
	if err := h.produce(req.Context(), st); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, HTTPResult{Accepted: st.cols.Len(), Refused: append([]Refusal{}, st.refused...)})
}

// put returns st to the pool, emptied, unless a request made it unusually large.
func (h *HTTPHandler) put(st *httpState) {
	if st.body.Cap() > 1<<20 || cap(st.msgs) > 10_000 {
		return
	}
	st.body.Reset()
	st.cols.Reset()
	clear(st.refused)
	st.refused = st.refused[:0]
	clear(st.msgs)
	st.msgs = st.msgs[:0]
	h.states.Put(st)
}

func (h *HTTPHandler) readBody(c echo.Context, st *httpState) error {
	body := http.MaxBytesReader(c.Response(), c.Request().Body, h.cfg.MaxBodyBytes)
	if _, err := st.body.ReadFrom(body); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge,
				fmt.Sprintf("request body larger than %d bytes", h.cfg.MaxBodyBytes))
		}
		return fmt.Errorf("%w: reading the body: %w", api.ErrInvalid, err)
	}
	if st.body.Len() == 0 {
		return api.Invalid("body", "empty; want readings")
	}
	return nil
}

func (h *HTTPHandler) tooMany(n int) error {
	if n > h.cfg.MaxReadings {
		return api.Invalid("body", "%d readings; at most %d per request", n, h.cfg.MaxReadings)
	}
	return nil
}

func (st *httpState) refuse(i int, meterID string, r Reject) {
	st.refused = append(st.refused, Refusal{Index: i, MeterID: meterID, Code: r.Code, Field: r.Field, Reason: r.Reason})
}

// decodeArray decodes a JSON array of reading objects, each with the JSON decoder.
func (h *HTTPHandler) decodeArray(st *httpState, now time.Time) error {
	v, err := st.parser.ParseBytes(st.body.Bytes())
	if err != nil {
		return api.Invalid("body", "malformed JSON: %v", err)
	}
	arr, err := v.Array()
	if err != nil {
		return api.Invalid("body", "want a JSON array of readings, got %s", v.Type())
	}
	if err := h.tooMany(len(arr)); err != nil {
		return err
	}
	for i, e := range arr {
		st.elem = e.MarshalTo(st.elem[:0])
		if r, ok := st.json.Decode(nil, st.elem, now, &st.cols); !ok {
			st.refuse(i, string(e.GetStringBytes("meter_id")), r)
		}
	}
	return nil
}

// decodeLines decodes NDJSON: one reading object per line; blank lines are skipped. A body
// of which no line is a JSON object is refused as a whole.
func (h *HTTPHandler) decodeLines(st *httpState, now time.Time) error {
	rest := st.body.Bytes()
	n := 0
	var malformed Reject
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if err := h.tooMany(n + 1); err != nil {
			return err
		}
		if r, ok := st.json.Decode(nil, line, now, &st.cols); !ok {
			var id string
			if v, err := st.parser.ParseBytes(line); err == nil {
				id = string(v.GetStringBytes("meter_id"))
			}
			st.refuse(n, id, r)
			if r.Code == CodeMalformed && malformed.Code == "" {
				malformed = r
				malformed.Row = n
			}
		}
		n++
	}
	if n == 0 {
		return api.Invalid("body", "no readings: every line is blank")
	}
	if st.cols.Len() == 0 && len(st.refused) == n && allMalformed(st.refused) {
		return api.Invalid("body", "not NDJSON: no line is a reading object (line %d: %s)", malformed.Row, malformed.Reason)
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

// decodeArrow decodes an Arrow IPC stream with the Arrow decoder.
func (h *HTTPHandler) decodeArrow(st *httpState, now time.Time) error {
	rows, r, ok := st.arrow.Decode(st.body.Bytes(), now, &st.cols)
	if !ok {
		field := r.Field
		if field == "" {
			field = "body"
		}
		return api.Invalid(field, "%s", r.Reason)
	}
	if err := h.tooMany(st.cols.Len() + len(rows)); err != nil {
		return err
	}
	for _, row := range rows {
		st.refuse(row.Row, row.MeterID, row.Reject)
	}
	return nil
}

var jsonHeaders = []kafka.Header{{Key: "content-type", Value: []byte(ContentTypeJSON)}}

// produce writes every reading of st.cols to Kafka as a JSON message keyed by its meter
// id, and returns once the broker has acknowledged them all.
func (h *HTTPHandler) produce(ctx context.Context, st *httpState) error {
	n := st.cols.Len()
	if n == 0 {
		return nil
	}
	st.values = st.values[:0]
	ends := make([]int, n)
	for i := range n {
		st.values = AppendJSON(st.values, schema.Reading{MeterID: st.cols.MeterID[i], TS: st.cols.TS[i], RegisterWh: st.cols.RegisterWh[i]})
		ends[i] = len(st.values)
	}
	start := 0
	for i, id := range st.cols.MeterID {
		st.msgs = append(st.msgs, kafka.Message{Key: []byte(id), Value: st.values[start:ends[i]:ends[i]], Headers: jsonHeaders})
		start = ends[i]
	}
	if err := h.producer.WriteMessages(ctx, st.msgs...); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("produce %d readings: %w", n, ctx.Err())
		}
		return fmt.Errorf("produce %d readings: %w: %w", n, api.ErrUnavailable, err)
	}
	return nil
}

// handleForm serves the form endpoint: one reading, its register in kWh, its time the
// server's.
func (h *HTTPHandler) handleForm(c echo.Context) error {
	req := c.Request()
	req.Body = http.MaxBytesReader(c.Response(), req.Body, h.cfg.MaxBodyBytes)
	if err := req.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge,
				fmt.Sprintf("request body larger than %d bytes", h.cfg.MaxBodyBytes))
		}
		return api.Invalid("body", "not a form: %v", err)
	}
	id := req.PostForm.Get("meter_id")
	if id == "" {
		return api.Invalid("meter_id", "required")
	}
	kwh := req.PostForm.Get("reading")
	if kwh == "" {
		return api.Invalid("reading", "required: the register in kWh, like 1234.567")
	}
	wh, err := parseKWh(kwh)
	if err != nil {
		return api.Invalid("reading", "%q: %v", truncate([]byte(kwh)), err)
	}
	now := h.now()
	ts := now.UTC().Truncate(time.Second)
	if r, ok := checkReading([]byte(id), ts, wh, now, h.window); !ok {
		field := r.Field
		if field == "register_wh" {
			field, r.Reason = "reading", fmt.Sprintf("%s kWh is negative", kwh)
		}
		return api.Invalid(field, "%s", r.Reason)
	}
	st := h.states.Get().(*httpState)
	defer h.put(st)
	st.cols.Append(id, ts, wh, 0)
	if err := h.produce(req.Context(), st); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, HTTPResult{Accepted: 1, Refused: []Refusal{}})
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
