package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// OpenAPIVersion is the version of the OpenAPI specification the document follows.
const OpenAPIVersion = "3.0.3"

// OpenAPI returns the OpenAPI 3 document of every route registered so far, as a value
// that encoding/json renders. Non-public operations require the bearer scheme and list
// their roles in the x-roles extension (admin is always allowed).
func (s *Server) OpenAPI() map[string]any {
	routes := s.Routes()
	slices.SortFunc(routes, func(a, b Route) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	paths := map[string]any{}
	for _, r := range routes {
		p := OpenAPIPath(r.Path)
		item, _ := paths[p].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[p] = item
		}
		item[strings.ToLower(r.Method)] = operation(r)
	}
	return map[string]any{
		"openapi": OpenAPIVersion,
		"info": map[string]any{
			"title":   "Meterhouse API",
			"version": "1",
			"description": "Meter data management: consumption, analytics, billing and remote control. " +
				"Every route but /healthz, /readyz and /metrics needs `Authorization: Bearer <token>`; " +
				"errors have the body {\"error\":{\"code\":…,\"message\":…,\"field\":…}}.",
		},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "An API token from `meterhouse token create`."},
			},
			"schemas": map[string]any{
				"Error": map[string]any{
					"type":     "object",
					"required": []string{"error"},
					"properties": map[string]any{
						"error": map[string]any{
							"type":     "object",
							"required": []string{"code", "message"},
							"properties": map[string]any{
								"code":    map[string]any{"type": "string", "description": "Stable error code, like invalid_parameter or unauthorized."},
								"message": map[string]any{"type": "string", "description": "What went wrong, for people."},
								"field":   map[string]any{"type": "string", "description": "The parameter or body field at fault, when there is one."},
							},
						},
					},
				},
			},
			"responses": map[string]any{
				"Error": map[string]any{
					"description": "An error; see the code.",
					"content":     map[string]any{"application/json": map[string]any{"schema": ref("schemas", "Error")}},
				},
			},
		},
	}
}

// OpenAPIPath turns an Echo route path (/v1/meters/:meter_id) into an OpenAPI path
// template (/v1/meters/{meter_id}).
func OpenAPIPath(echoPath string) string {
	segs := strings.Split(echoPath, "/")
	for i, seg := range segs {
		if name, ok := strings.CutPrefix(seg, ":"); ok {
			segs[i] = "{" + name + "}"
		}
	}
	return strings.Join(segs, "/")
}

func ref(kind, name string) map[string]any {
	return map[string]any{"$ref": "#/components/" + kind + "/" + name}
}

func operation(r Route) map[string]any {
	op := map[string]any{
		"operationId": operationID(r),
		"summary":     r.Summary,
	}
	if r.Description != "" {
		op["description"] = r.Description
	}
	if len(r.Params) > 0 {
		var params []any
		for _, p := range r.Params {
			typ := p.Type
			if typ == "" {
				typ = "string"
			}
			params = append(params, map[string]any{
				"name": p.Name, "in": p.In, "required": p.Required || p.In == "path",
				"description": p.Description, "schema": map[string]any{"type": typ},
			})
		}
		op["parameters"] = params
	}
	if r.Body != nil {
		content := map[string]any{}
		for _, ct := range r.Body.ContentTypes {
			mt := map[string]any{}
			if r.Body.Example != nil {
				mt["example"] = r.Body.Example
			}
			content[ct] = mt
		}
		op["requestBody"] = map[string]any{"description": r.Body.Description, "required": r.Body.Required, "content": content}
	}
	desc := r.Response
	if desc == "" {
		desc = "Success."
	}
	success := map[string]any{"description": desc}
	switch r.ResponseType {
	case "-":
	case "":
		success["content"] = map[string]any{"application/json": map[string]any{}}
	default:
		success["content"] = map[string]any{r.ResponseType: map[string]any{}}
	}
	responses := map[string]any{
		strconv.Itoa(r.status()): success,
		"default":                ref("responses", "Error"),
	}
	if r.Public {
		op["security"] = []any{}
	} else {
		op["security"] = []any{map[string]any{"bearer": []string{}}}
		op["x-roles"] = append([]Role{RoleAdmin}, r.Roles...)
		responses["401"] = ref("responses", "Error")
		responses["403"] = ref("responses", "Error")
	}
	op["responses"] = responses
	return op
}

// operationID derives a unique, stable id from the method and path, like
// get_v1_meters_meter_id_consumption.
func operationID(r Route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(r.Method))
	for _, seg := range strings.Split(r.Path, "/") {
		seg = strings.TrimPrefix(seg, ":")
		if seg == "" {
			continue
		}
		b.WriteByte('_')
		for _, c := range seg {
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
				b.WriteRune(c)
			} else {
				b.WriteByte('_')
			}
		}
	}
	return b.String()
}

func (s *Server) handleOpenAPI(c echo.Context) error {
	return c.JSON(http.StatusOK, s.OpenAPI())
}
