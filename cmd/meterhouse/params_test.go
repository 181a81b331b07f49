package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/auth"
	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestEveryRouteDecodesPathParams: on every route of the production server, a path
// parameter arrives percent-decoded (a meter id MTR%3A000001 is MTR:000001, a valid id),
// and one holding an encoded '/' is a 400 naming the parameter.
func TestEveryRouteDecodesPathParams(t *testing.T) {
	srv, hs, conn := testServer(t, nil)
	store, err := auth.NewStore(auth.Config{Secret: testAuthSecret}, conn, testenv.PrivateDatabase(t, conn))
	if err != nil {
		t.Fatal(err)
	}
	admin := testenv.Token(t, store, api.RoleAdmin)
	fill := func(r api.Route, value string) (string, []string) {
		segs := strings.Split(r.Path, "/")
		var names []string
		for i, s := range segs {
			if name, ok := strings.CutPrefix(s, ":"); ok {
				segs[i], names = value, append(names, name)
			}
		}
		return hs.URL + strings.Join(segs, "/"), names
	}
	seen := 0
	for _, r := range srv.Routes() {
		if !strings.Contains(r.Path, ":") {
			continue
		}
		seen++
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			url, names := fill(r, "MTR%2F000001")
			code, body := call(t, r.Method, url, admin)
			if code != http.StatusBadRequest || fieldOf(t, body) != names[0] {
				t.Errorf("an encoded '/': %d %s, want 400 on %s", code, body, names[0])
			}
			if names[0] != "meter_id" {
				return
			}
			url, _ = fill(r, "MTR%3A000001")
			if code, body := call(t, r.Method, url, admin); code == http.StatusBadRequest && fieldOf(t, body) == "meter_id" {
				t.Errorf("an encoded ':': %d %s, want the meter id decoded", code, body)
			}
		})
	}
	if seen == 0 {
		t.Fatal("no route with path parameters")
	}
}

func fieldOf(t *testing.T, body []byte) string {
	t.Helper()
	var eb api.ErrorBody
	_ = json.Unmarshal(body, &eb)
	return eb.Error.Field
}
