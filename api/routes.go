package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/meterhouse/meterhouse/fault"
)

// Param documents one path or query parameter of a route.
type Param struct {
	// Name is the parameter's name.
	Name string
	// In is "path" or "query".
	In string
	// Required says whether the request must carry it. Path parameters always must.
	Required bool
	// Description says what it means and which values it takes.
	Description string
	// Type is the parameter's JSON Schema type: "string" (the default), "integer",
	// "number" or "boolean".
	Type string
}

// Body documents the request body of a route.
type Body struct {
	// ContentTypes lists the media types accepted, like "application/json".
	ContentTypes []string
	// Description says what the body holds.
	Description string
	// Required says whether a request must have a body.
	Required bool
	// Example is an optional example body, shown with every content type.
	Example any
}

// Route is one endpoint: where it is, who may call it, what it does and its handler. Every
// route is registered through Server.Handle so that it is authorized and documented.
type Route struct {
	// Method and Path locate the route; Path uses Echo's syntax (/v1/meters/:meter_id).
	Method, Path string
	// Summary says in one sentence what the route does.
	Summary string
	// Description adds detail to the summary; optional.
	Description string
	// Roles lists the roles allowed to call the route besides admin. A route with no roles
	// is refused unless Public is set.
	Roles []Role
	// Public marks the few routes that need no principal (health, readiness, metrics).
	Public bool
	// Params documents the route's parameters.
	Params []Param
	// Body documents the request body; nil for a route without one.
	Body *Body
	// Status is the status code of success; 200 when zero.
	Status int
	// Response describes the successful response; "Success." when empty.
	Response string
	// ResponseType is the media type of the successful response; application/json when
	// empty. Use "-" for a response without a body (like 204).
	ResponseType string
	// Handler serves the route.
	Handler echo.HandlerFunc
}

// Handle registers a route. It refuses a route that declares neither roles nor Public, so
// that no route is ever reachable by accident. (Missing documentation, such as a summary or
// a path parameter, fails the OpenAPI test rather than the start.) A non-public route is served only to a principal holding admin or one of its
// roles. Routes must be registered before Run.
func (s *Server) Handle(r Route) error {
	if r.Handler == nil || r.Method == "" || r.Path == "" {
		return fmt.Errorf("api: route %s %s: method, path and handler are required", r.Method, r.Path)
	}
	if len(r.Roles) == 0 && !r.Public {
		return fmt.Errorf("api: route %s %s declares no role and is not public", r.Method, r.Path)
	}
	if len(r.Roles) > 0 && r.Public {
		return fmt.Errorf("api: route %s %s is public but declares roles", r.Method, r.Path)
	}
	for _, role := range r.Roles {
		if _, err := ParseRole(string(role)); err != nil {
			return fmt.Errorf("api: route %s %s: %w", r.Method, r.Path, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.routes {
		if o.Method == r.Method && o.Path == r.Path {
			return fmt.Errorf("api: route %s %s registered twice", r.Method, r.Path)
		}
	}
	s.routes = append(s.routes, r)
	var mw []echo.MiddlewareFunc
	if !r.Public {
		mw = append(mw, s.authorize(r))
	}
	s.echo.Add(r.Method, r.Path, decodeParams(r.Handler), mw...)
	return nil
}

// decodeParams hands the handler its path parameters percent-decoded, exactly once, so
// that c.Param("meter_id") of /v1/meters/MTR%3A1/consumption is "MTR:1". Echo matches
// routes against the URL's raw path when it has one (when the client escaped something
// the default encoding would not, like ':' or '/') and then leaves the values escaped;
// otherwise against the path net/http has already decoded. Only the first kind is decoded
// here. A value that does not decode, or that decodes to one holding '/', which no path
// parameter can (a segment ends at '/'), is a 400 naming the parameter.
func decodeParams(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().URL.RawPath == "" {
			return next(c)
		}
		names, vals := c.ParamNames(), c.ParamValues()
		decoded := make([]string, len(vals))
		for i, v := range vals {
			name := "path"
			if i < len(names) {
				name = names[i]
			}
			d, err := url.PathUnescape(v)
			if err != nil {
				return fault.Invalid(name, "%q is not a valid percent-encoded path segment", v)
			}
			if name != "*" && strings.Contains(d, "/") {
				return fault.Invalid(name, "%q: a path parameter cannot hold '/' (%%2F)", d)
			}
			decoded[i] = d
		}
		c.SetParamValues(decoded...)
		return next(c)
	}
}

// Routes returns the routes registered so far.
func (s *Server) Routes() []Route {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]Route(nil), s.routes...)
}

// status returns the route's success status.
func (r Route) status() int {
	if r.Status == 0 {
		return http.StatusOK
	}
	return r.Status
}
