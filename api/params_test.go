package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestPathParamsDecoded: every route's path parameters reach the handler percent-decoded
// exactly once; a value that does not decode, or holds '/', is a 400 naming the parameter.
func TestPathParamsDecoded(t *testing.T) {
	srv, hs := newTestServer(t, DefaultConfig(), WithAuthenticator(tokens{"t": {Name: "t", Roles: []Role{RoleAnalyst}}}))
	for _, path := range []string{"/v1/meters/:meter_id/consumption", "/v1/groups/:kind/:id"} {
		if err := srv.Handle(Route{Method: http.MethodGet, Path: path, Summary: "Echoes its parameters.", Roles: []Role{RoleAnalyst},
			Handler: func(c echo.Context) error {
				got := map[string]string{}
				for _, n := range c.ParamNames() {
					got[n] = c.Param(n)
				}
				return c.JSON(http.StatusOK, got)
			}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, path string
		status     int
		param      string // the parameter to check, or the field of a 400
		want       string
	}{
		{"colon escaped", "/v1/meters/MTR%3A1/consumption", 200, "meter_id", "MTR:1"},
		{"colon as is", "/v1/meters/MTR:1/consumption", 200, "meter_id", "MTR:1"},
		{"lower-case escape", "/v1/meters/MTR%3a1.2/consumption", 200, "meter_id", "MTR:1.2"},
		{"space", "/v1/meters/MTR%201/consumption", 200, "meter_id", "MTR 1"},
		{"plus stays a plus", "/v1/meters/MTR+1/consumption", 200, "meter_id", "MTR+1"},
		{"decoded once, not twice", "/v1/meters/MTR%253A1/consumption", 200, "meter_id", "MTR%3A1"},
		{"decoded once with a raw path", "/v1/meters/A%3AB%253A1/consumption", 200, "meter_id", "A:B%3A1"},
		{"two parameters", "/v1/groups/feeder/F%3A7", 200, "id", "F:7"},
		{"escaped slash", "/v1/meters/MTR%2F1/consumption", 400, "meter_id", ""},
		{"escaped slash in the second parameter", "/v1/groups/feeder/a%2Fb", 400, "id", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, eb, body := do(t, http.MethodGet, hs.URL+tc.path, "Bearer t", nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tc.status)
			}
			if tc.status == 400 {
				if eb.Error.Field != tc.param {
					t.Fatalf("%s: want field %s", body, tc.param)
				}
				return
			}
			var got map[string]string
			if err := json.Unmarshal(body, &got); err != nil || got[tc.param] != tc.want {
				t.Fatalf("%s = %q (%s), want %q", tc.param, got[tc.param], body, tc.want)
			}
		})
	}

	// net/http itself refuses a malformed escape in the request line with a 400 ...
	// (Go's client will not send one, so the request is written by hand.)
	conn, err := net.Dial("tcp", hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /v1/meters/MTR%%ZZ1/consumption HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nConnection: close\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || resp.StatusCode != 400 {
		t.Errorf("malformed escape on the wire: %v %v, want 400", resp, err)
	}
	// ... and a request whose raw path does not decode (one built by a program, not parsed
	// from the wire) gets a 400 naming the parameter.
	req := httptest.NewRequest(http.MethodGet, "/v1/meters/MTR/consumption", nil)
	req.URL = &url.URL{Path: "/v1/meters/MTR%ZZ1/consumption", RawPath: "/v1/meters/MTR%ZZ1/consumption"}
	req.Header.Set("Authorization", "Bearer t")
	rec := httptest.NewRecorder()
	srv.Echo().ServeHTTP(rec, req)
	var eb ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || rec.Code != 400 || eb.Error.Field != "meter_id" {
		t.Errorf("undecodable raw path: %d %s, want 400 on meter_id", rec.Code, rec.Body)
	}
}
