package api

import (
	"fmt"

	"github.com/labstack/echo/v4"
)

// Role names a set of permissions a principal can hold.
type Role string

// The roles of Meterhouse. Admin may use every route.
const (
	RoleAdmin      Role = "admin"      // manage tokens and everything else
	RoleAnalyst    Role = "analyst"    // read consumption and run analyst SQL
	RoleIngest     Role = "ingest"     // write readings
	RoleBilling    Role = "billing"    // run and read bills
	RoleOperator   Role = "operator"   // request remote commands
	RoleSupervisor Role = "supervisor" // approve remote commands
)

// Param documents one path or query parameter of a route.
type Param struct {
	// Name is the parameter's name.
	Name string
	// In is "path" or "query".
	In string
	// Required says whether the request must carry it.
	Required bool
	// Description says what it means and which values it takes.
	Description string
}

// Route is one endpoint: where it is, who may call it, what it does and its handler. Every
// route is registered through Server.Handle so that it is authorized and documented.
type Route struct {
	// Method and Path locate the route; Path uses Echo's syntax (/v1/meters/:meter_id).
	Method, Path string
	// Summary says in one sentence what the route does.
	Summary string
	// Roles lists the roles allowed to call the route besides admin. A route with no roles
	// is refused unless Public is set.
	Roles []Role
	// Public marks the few routes that need no principal (health, readiness, metrics).
	Public bool
	// Params documents the route's parameters.
	Params []Param
	// Handler serves the route.
	Handler echo.HandlerFunc
}

// Handle registers a route. It refuses a route that declares neither roles nor Public, so
// that no route is ever reachable by accident.
func (s *Server) Handle(r Route) error {
	if r.Handler == nil || r.Method == "" || r.Path == "" {
		return fmt.Errorf("api: route %s %s: method, path and handler are required", r.Method, r.Path)
	}
	if len(r.Roles) == 0 && !r.Public {
		return fmt.Errorf("api: route %s %s declares no role and is not public", r.Method, r.Path)
	}
	s.routes = append(s.routes, r)
	s.echo.Add(r.Method, r.Path, r.Handler)
	return nil
}

// Routes returns the routes registered so far.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }
