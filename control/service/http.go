package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/control"
	"github.com/meterhouse/meterhouse/control/wire"
	"github.com/meterhouse/meterhouse/fault"
)

// RequestRoles may request commands and read them, besides admin.
var RequestRoles = []api.Role{api.RoleOperator, api.RoleSupervisor}

// ApproveRoles may approve commands, besides admin (who must hold supervisor too: the
// service checks the role itself, since admin passes every route).
var ApproveRoles = []api.Role{api.RoleSupervisor}

// IdempotencyHeader is the request header whose value, with the principal, names a
// request: the same again returns the same command or batch.
const IdempotencyHeader = "Idempotency-Key"

// maxBody bounds a request body (a bulk list of max_bulk meter ids fits).
const maxBody = 8 << 20

// Register adds the remote-control routes to srv.
func (s *Service) Register(srv *api.Server) error {
	meter := api.Param{Name: "meter_id", In: "path", Required: true, Description: "Meter id."}
	idem := api.Param{Name: IdempotencyHeader, In: "header", Description: "Any text up to 200 bytes naming the request: a retry with the same key " +
		"returns the same command (200) instead of a new one (201). Without it every request is new."}
	cmd := api.Param{Name: "command_id", In: "path", Required: true, Description: "Command id (32 hex digits)."}
	batch := api.Param{Name: "batch_id", In: "path", Required: true, Description: "Batch id (32 hex digits)."}
	states := "States: requested, approved, sent, acknowledged, executed, failed, expired, refused, timed_out. "
	routes := []api.Route{
		{Method: http.MethodPost, Path: "/v1/meters/:meter_id/commands", Roles: RequestRoles, Status: http.StatusCreated,
			Summary: "Requests a remote command for a meter: disconnect, reconnect, arm or read_now.",
			Description: "Body {action, reason, not_before?, emergency?, override?}. The safety rules decide at once (a refusal is state refused " +
				"with the rule and reason); override (a disconnect of a flagged customer) needs a supervisor's approval; emergency (reconnect only) " +
				"skips approval and the rules. 409 when the meter has an open command. 201 with the command; 200 with the same command for a retry " +
				"with the same Idempotency-Key. " + states,
			Params: []api.Param{meter, idem},
			Body: &api.Body{ContentTypes: []string{"application/json"}, Required: true, Description: "The request.",
				Example: map[string]any{"action": "disconnect", "reason": "unpaid since 2026-09"}},
			Response: "The command.", Handler: s.handleRequest},
		{Method: http.MethodPost, Path: "/v1/commands", Roles: RequestRoles, Status: http.StatusCreated,
			Summary: "Requests the same command for many meters, as one batch.",
			Description: "Body {action, reason, not_before?, meters: [ids] | group: {kind, id}}. More than control.approval_threshold meters " +
				"need a supervisor's approval (POST /v1/batches/{id}/approve). All or nothing: a meter not in the registry or with an open command " +
				"refuses the whole request. 201 with the batch; 200 for a retry with the same Idempotency-Key.",
			Params: []api.Param{idem},
			Body: &api.Body{ContentTypes: []string{"application/json"}, Required: true, Description: "The bulk request.",
				Example: map[string]any{"action": "reconnect", "reason": "moratorium over", "group": map[string]string{"kind": "feeder", "id": "F-12"}}},
			Response: "The batch.", Handler: s.handleBulk},
		{Method: http.MethodGet, Path: "/v1/commands/:command_id", Roles: RequestRoles,
			Summary: "Returns a command's status and its transitions.", Description: states,
			Params: []api.Param{cmd}, Response: "The command.", Handler: s.handleCommand},
		{Method: http.MethodPost, Path: "/v1/commands/:command_id/approve", Roles: ApproveRoles,
			Summary:     "Approves a command that needs a second person (role supervisor, not its requester).",
			Description: "403 for self-approval; 409 when nothing waits for approval or the approval window (control.approval_ttl) has passed.",
			Params:      []api.Param{cmd}, Response: "The command.", Handler: s.handleApprove},
		{Method: http.MethodGet, Path: "/v1/batches/:batch_id", Roles: RequestRoles,
			Summary: "Returns a batch with its commands' states.", Params: []api.Param{batch}, Response: "The batch.", Handler: s.handleBatch},
		{Method: http.MethodPost, Path: "/v1/batches/:batch_id/approve", Roles: ApproveRoles,
			Summary:     "Approves every command of a batch that waits for approval (role supervisor, not its requester).",
			Description: "403 for self-approval; 409 when nothing waits for approval.",
			Params:      []api.Param{batch}, Response: "The batch.", Handler: s.handleApproveBatch},
		{Method: http.MethodGet, Path: "/v1/meters/:meter_id/commands", Roles: RequestRoles,
			Summary: "Lists a meter's commands, by sequence.", Params: []api.Param{meter}, Response: "The commands.", Handler: s.handleMeterCommands},
		{Method: http.MethodGet, Path: "/v1/meters/:meter_id/relay", Roles: RequestRoles,
			Summary: "Returns a meter's connection state as the DAS last reported it.",
			Description: "state connected, disconnected, armed (ready for the customer to reconnect) or unknown, with since (when the DAS " +
				"observed it), source (command or event) and command_id. A result that came after its command timed out counts.",
			Params: []api.Param{meter}, Response: "The relay state.", Handler: s.handleRelay},
	}
	for _, r := range routes {
		if err := srv.Handle(r); err != nil {
			return err
		}
	}
	return nil
}

// disabledBody answers a route of a disabled service: 503 saying why (the missing key
// file), not the generic message of an unavailable dependency.
func (s *Service) disabledBody(c echo.Context) error {
	return c.JSON(http.StatusServiceUnavailable, api.ErrorBody{Error: api.ErrorDetail{Code: "unavailable", Message: s.disabled}})
}

func principal(c echo.Context) api.Principal {
	p, _ := api.PrincipalFrom(c.Request().Context())
	return p
}

// idempotencyKey returns the request's key, or a random one.
func idempotencyKey(c echo.Context) (string, error) {
	k := c.Request().Header.Get(IdempotencyHeader)
	if len(k) > 200 {
		return "", fault.Invalid(IdempotencyHeader, "is longer than 200 bytes")
	}
	if k == "" {
		return wire.NewNonce()
	}
	return k, nil
}

// decode reads a JSON body into v, refusing unknown fields.
func decode(c echo.Context, v any) error {
	dec := json.NewDecoder(io.LimitReader(c.Request().Body, maxBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fault.Invalid(te.Field, "wrong type: want %s", te.Type)
		}
		return fault.Invalid("body", "is not the JSON object this route takes: %v", err)
	}
	return nil
}

func created(c echo.Context, isNew bool, v any) error {
	if isNew {
		return c.JSON(http.StatusCreated, v)
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Service) handleRequest(c echo.Context) error {
	if s.disabled != "" {
		return s.disabledBody(c)
	}
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	var r control.Request
	if err := decode(c, &r); err != nil {
		return err
	}
	cmd, isNew, err := s.Request(c.Request().Context(), principal(c).Name, key, c.Param("meter_id"), r)
	if err != nil {
		return err
	}
	return created(c, isNew, cmd)
}

// bulkBody is the body of POST /v1/commands.
type bulkBody struct {
	control.Request
	Selector
}

func (s *Service) handleBulk(c echo.Context) error {
	if s.disabled != "" {
		return s.disabledBody(c)
	}
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	var b bulkBody
	if err := decode(c, &b); err != nil {
		return err
	}
	batch, isNew, err := s.Bulk(c.Request().Context(), principal(c).Name, key, b.Request, b.Selector)
	if err != nil {
		return err
	}
	return created(c, isNew, batch)
}

func (s *Service) handleCommand(c echo.Context) error {
	if s.disabled != "" {
		return s.disabledBody(c)
	}
	cmd, err := s.Command(c.Request().Context(), c.Param("command_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cmd)
}

func (s *Service) handleApprove(c echo.Context) error {
	if s.disabled != "" {
		return s.disabledBody(c)
	}
	p := principal(c)
	cmd, err := s.Approve(c.Request().Context(), p.Name, p.Has(api.RoleSupervisor), c.Param("command_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cmd)
}

func (s *Service) handleBatch(c echo.Context) error {
	if s.disabled != "" {
		return s.disabledBody(c)
	}
	b, err := s.Batch(c.Request().Context(), c.Param("batch_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, b)
}

func (s *Service) handleApproveBatch(c echo.Context) error {
	if s.disabled != "" {
		return s.disabledBody(c)
	}
	p := principal(c)
	b, err := s.ApproveBatch(c.Request().Context(), p.Name, p.Has(api.RoleSupervisor), c.Param("batch_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, b)
}

func (s *Service) handleMeterCommands(c echo.Context) error {
	if s.disabled != "" {
		return s.disabledBody(c)
	}
	cs, err := s.MeterCommands(c.Request().Context(), c.Param("meter_id"))
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []*Command{}
	}
	return c.JSON(http.StatusOK, map[string]any{"meter_id": c.Param("meter_id"), "commands": cs})
}

func (s *Service) handleRelay(c echo.Context) error {
	if s.disabled != "" {
		return s.disabledBody(c)
	}
	r, err := s.Relay(c.Request().Context(), c.Param("meter_id"))
	if err != nil {
		return fmt.Errorf("meter %s: %w", c.Param("meter_id"), err)
	}
	return c.JSON(http.StatusOK, r)
}
