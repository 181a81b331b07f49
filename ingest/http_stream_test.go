package ingest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/segmentio/kafka-go"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/ingest/wire"
	"github.com/meterhouse/meterhouse/schema"
)

func TestReadValue(t *testing.T) {
	tests := []struct {
		in, want, rest string
		err            error
	}{
		{` {"a":1} ,`, `{"a":1}`, " ,", nil},
		{`{"a":"}{]\"\\"}]`, `{"a":"}{]\"\\"}`, "]", nil},
		{`[1,[2,{"x":[]}]],`, `[1,[2,{"x":[]}]]`, ",", nil},
		{`"a\"b",`, `"a\"b"`, ",", nil},
		{`-12.5e3]`, `-12.5e3`, "]", nil},
		{"true\n,", "true", "\n,", nil},
		{`null`, `null`, "", nil},
		{`{"a":1`, `{"a":1`, "", io.ErrUnexpectedEOF},
		{`"abc`, `"abc`, "", io.ErrUnexpectedEOF},
		{"  ", "", "", io.EOF},
		{`{"a":"` + strings.Repeat("x", 100) + `"}`, "", "", errElementTooLong},
		{strings.Repeat("[", 200), "", "", errElementTooLong},
	}
	for _, tt := range tests {
		br := bufio.NewReader(strings.NewReader(tt.in))
		got, err := readValue(br, nil, 64)
		if !errors.Is(err, tt.err) {
			t.Errorf("readValue(%.30q): error %v, want %v", tt.in, err, tt.err)
			continue
		}
		if rest, _ := io.ReadAll(br); err == nil && (string(got) != tt.want || string(rest) != tt.rest) {
			t.Errorf("readValue(%.30q) = %q, rest %q; want %q, rest %q", tt.in, got, rest, tt.want, tt.rest)
		}
		if len(got) > 64 {
			t.Errorf("readValue(%.30q) held %d bytes, more than the limit", tt.in, len(got))
		}
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// refusingHandler returns a handler whose producer is a broker that is not there: every
// request of these tests is refused before anything is produced.
func refusingHandler(t *testing.T, cfg HTTPConfig, w Window) *HTTPHandler {
	t.Helper()
	down := &kafka.Writer{Addr: kafka.TCP("127.0.0.1:1"), MaxAttempts: 1, BatchTimeout: time.Millisecond}
	t.Cleanup(func() { down.Close() })
	h, err := NewHTTPHandler(cfg, w, 1, down)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// call runs handler on a request with body and returns the response and the handler's error.
func call(handler echo.HandlerFunc, contentType string, body io.Reader) (*httptest.ResponseRecorder, error) {
	req := httptest.NewRequest(http.MethodPost, "/v1/readings", body)
	req.Header.Set(echo.HeaderContentType, contentType)
	rec := httptest.NewRecorder()
	return rec, handler(echo.New().NewContext(req, rec))
}

// hostileArray is the 16 MiB JSON array of 8 million numbers that once took ingest from
// 81 MB to 4.1 GB.
func hostileArray() []byte {
	b := make([]byte, 0, 16<<20)
	b = append(b, '[')
	for len(b) < 16<<20-3 {
		b = append(b, '1', ',')
	}
	return append(b, '1', ']')
}

// TestHTTPHostileBodies sends bodies made to exhaust memory and requires each to be
// refused with a 400 or 413 naming the limit it hit, after reading little more than the
// limit, and allocating at most a small bound in all (where parsing the whole body first
// allocated gigabytes).
func TestHTTPHostileBodies(t *testing.T) {
	cfg := DefaultHTTPConfig() // 16 MiB, 100 000 readings
	h := refusingHandler(t, cfg, testWindow())
	reading := `{"meter_id":"M1","ts":"` + time.Now().UTC().Add(-time.Hour).Format(time.RFC3339) + `","register_wh":1}` // accepted
	huge := strings.Repeat("x", 1<<20)
	arrowOver := func() []byte {
		var cols Columns
		for i := range 11 {
			cols.Append("M1", testNow.Add(-time.Duration(i)*time.Hour), 1, 0)
		}
		b, err := wire.AppendArrow(nil, &cols)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}()
	smallRows := refusingHandler(t, HTTPConfig{MaxBodyBytes: 1 << 20, MaxReadings: 10}, testWindow())
	tests := []struct {
		name, contentType string
		h                 *HTTPHandler
		form              bool
		body              []byte
		status            int
		field, message    string
		maxRead           int64
	}{
		{"8 million numbers", wire.ContentTypeJSON, h, false, hostileArray(), 400, "body", "http_ingest.max_readings", 1 << 20},
		{"8 million NDJSON lines", wire.ContentTypeNDJSON, h, false, bytes.Repeat([]byte("1\n"), 8<<20), 400, "body", "http_ingest.max_readings", 1 << 20},
		{"too many good readings", wire.ContentTypeJSON, h, false,
			[]byte("[" + strings.Repeat(reading+",", cfg.MaxReadings) + reading + "]"), 400, "body", "http_ingest.max_readings", 8 << 20},
		{"1 MiB element", wire.ContentTypeJSON, h, false, []byte(`[{"meter_id":"` + huge + `"}]`), 400, "body", "longer than 65536 bytes", 256 << 10},
		{"deep nesting", wire.ContentTypeJSON, h, false, bytes.Repeat([]byte("["), 16<<20), 400, "body", "longer than 65536 bytes", 256 << 10},
		{"1 MiB line", wire.ContentTypeNDJSON, h, false, []byte(huge + "\n"), 400, "body", "longer than 65536 bytes", 256 << 10},
		{"1 MiB form field", "application/x-www-form-urlencoded", h, true, []byte("meter_id=" + huge), 400, "body", "longer than 65536 bytes", 256 << 10},
		{"Arrow rows over the limit", wire.ContentTypeArrow, smallRows, false, arrowOver, 400, "body", "http_ingest.max_readings", 1 << 20},
		{"body over the limit", wire.ContentTypeNDJSON, h, false, bytes.Repeat([]byte("\n"), 17<<20), 413, "", "http_ingest.max_body_bytes", 16<<20 + 1<<20},
		{"form over the limit", "application/x-www-form-urlencoded", h, true, bytes.Repeat([]byte("a=1&"), 5<<20), 413, "", "http_ingest.max_body_bytes", 16<<20 + 1<<20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handler := tt.h.handleReadings
			if tt.form {
				handler = tt.h.handleForm
			}
			body := &countingReader{r: bytes.NewReader(tt.body)} // no Content-Length: streamed
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := call(handler, tt.contentType, body)
			runtime.ReadMemStats(&after)
			status, field, message := http.StatusOK, "", ""
			var fe *fault.FieldError
			var he *echo.HTTPError
			switch {
			case errors.As(err, &fe):
				status, field, message = http.StatusBadRequest, fe.Field, fe.Message
			case errors.As(err, &he):
				status, message = he.Code, he.Message.(string)
			case err != nil:
				t.Fatalf("error %v", err)
			}
			if status != tt.status || field != tt.field || !strings.Contains(message, tt.message) {
				t.Fatalf("got %d field %q %q, want %d field %q naming %q", status, field, message, tt.status, tt.field, tt.message)
			}
			if body.n > tt.maxRead {
				t.Errorf("read %d bytes of %d before refusing, want at most %d", body.n, len(tt.body), tt.maxRead)
			}
			// Everything allocated, garbage included: a bound on the peak too.
			const allocBound = 64 << 20
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("read %d of %d bytes, allocated %d KiB", body.n, len(tt.body), alloc>>10)
			if alloc > allocBound {
				t.Errorf("allocated %d MiB for a refused %d MiB body, want at most %d MiB", alloc>>20, len(tt.body)>>20, allocBound>>20)
			}
		})
	}
}

// TestFormTimestampRange sets the server clock beyond each DateTime bound: the form
// reading's time is the server's, and it is refused rather than stored wrapped.
func TestFormTimestampRange(t *testing.T) {
	h := refusingHandler(t, DefaultHTTPConfig(), Window{MaxAge: time.Hour, MaxFuture: time.Hour})
	for _, now := range []time.Time{schema.LatestTime.Add(time.Second), schema.MinDateTime.Add(-time.Second), time.Date(2163, 1, 1, 0, 0, 0, 0, time.UTC)} {
		h.now = func() time.Time { return now }
		_, err := call(h.handleForm, "application/x-www-form-urlencoded", strings.NewReader("meter_id=M1&reading=1.5"))
		var fe *fault.FieldError
		if !errors.As(err, &fe) || fe.Field != "ts" || !strings.Contains(fe.Message, "2105-12-31T23:59:59Z") {
			t.Errorf("clock at %s: got %v, want a 400 for ts naming the range", now, err)
		}
	}
}

// holdingProducer keeps the messages it is given and fails, like a kafka.Writer whose
// context was cancelled after it queued them: it returns while still holding them.
type holdingProducer struct{ held []kafka.Message }

func (p *holdingProducer) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	p.held = append(p.held, msgs...)
	return context.Canceled
}

// TestFailedProduceKeepsBuffers: after a produce that failed while the writer may still hold
// the messages, the next request must not write into their memory (the pooled buffers of
// the failed request are dropped).
func TestFailedProduceKeepsBuffers(t *testing.T) {
	p := &holdingProducer{}
	h, err := NewHTTPHandler(DefaultHTTPConfig(), Window{MaxAge: 1000 * time.Hour, MaxFuture: time.Hour}, 1, p)
	if err != nil {
		t.Fatal(err)
	}
	h.now = func() time.Time { return time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC) }
	post := func(id string) {
		body := `[{"meter_id":"` + id + `","ts":"2026-01-01T00:15:00Z","register_wh":1}]`
		if _, err := call(h.handleReadings, wire.ContentTypeJSON, strings.NewReader(body)); err == nil {
			t.Fatalf("%s: the failing producer's error was not returned", id)
		}
	}
	post("FIRST-1")
	post("OTHER-2")
	if len(p.held) != 2 {
		t.Fatalf("held %d messages, want 2", len(p.held))
	}
	if k := string(p.held[0].Key); k != "FIRST-1" || !strings.Contains(string(p.held[0].Value), `"FIRST-1"`) {
		t.Errorf("the first request's held message became key %q value %s", k, p.held[0].Value)
	}
}
