package testenv

import (
	"io"
	"net/http"
	"testing"
)

// Request is an HTTP call a test makes. Empty fields are left out of the request.
type Request struct {
	// Method and URL say what to call.
	Method, URL string
	// Token, when set, is sent as a bearer token.
	Token string
	// ContentType and Accept set those headers.
	ContentType, Accept string
	// Body is the request body, or nil.
	Body io.Reader
}

// Response is an HTTP answer read in full.
type Response struct {
	// Status is the status code.
	Status int
	// Header holds the response headers.
	Header http.Header
	// Body is the whole body.
	Body []byte
}

// Do sends r and reads the whole answer, failing the test when the call itself fails.
func Do(t testing.TB, r Request) Response {
	t.Helper()
	req, err := http.NewRequest(r.Method, r.URL, r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	if r.Accept != "" {
		req.Header.Set("Accept", r.Accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}
