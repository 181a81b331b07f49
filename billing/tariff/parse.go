package tariff

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/meterhouse/meterhouse/fault"
)

// MaxDocumentBytes is the largest document Parse reads: 1 MiB.
const MaxDocumentBytes = 1 << 20

// Parse reads a document, YAML or JSON, strictly: an unknown or repeated field, a value
// of the wrong shape or a number that is not a decimal is a fault.FieldError naming the
// field's path. It then validates the document (Validate). Numbers are read from their
// literal text, never through float64.
func Parse(r io.Reader) (*Document, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read tariff: %w", err)
	}
	if len(b) > MaxDocumentBytes {
		return nil, fault.Invalid("body", "the document is larger than %d bytes", MaxDocumentBytes)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fault.Invalid("body", "the document is empty")
	}
	var n *yaml.Node
	if trimmed := bytes.TrimLeft(b, " \t\r\n\ufeff"); len(trimmed) > 0 && trimmed[0] == '{' {
		if n, err = jsonNode(trimmed); err != nil {
			return nil, fault.Invalid("body", "not JSON: %v", err)
		}
	} else {
		var root yaml.Node
		dec := yaml.NewDecoder(bytes.NewReader(b))
		if err := dec.Decode(&root); err != nil {
			return nil, fault.Invalid("body", "not YAML: %v", err)
		}
		var extra yaml.Node
		if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
			return nil, fault.Invalid("body", "more than one document")
		}
		n = &root
		if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
			n = n.Content[0]
		}
	}
	if err := checkNode(n, reflect.TypeOf(Document{}), ""); err != nil {
		return nil, err
	}
	var d Document
	if err := n.Decode(&d); err != nil {
		return nil, fault.Invalid("body", "%v", err)
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

// jsonNode reads one JSON value into the YAML node tree Parse checks and decodes, keeping
// the order of keys (so a repeated key is seen) and every number's literal text.
func jsonNode(b []byte) (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	n, err := jsonValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one JSON value")
	}
	return n, nil
}

func jsonValue(dec *json.Decoder) (*yaml.Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		if v == '{' {
			n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		for dec.More() {
			if v == '{' {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := k.(string)
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key})
			}
			c, err := jsonValue(dec)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		return n, nil
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}, nil
	case json.Number:
		tag := "!!int"
		if strings.ContainsAny(string(v), ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(v)}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(v)}, nil
	default:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
}

// JSON returns the document as JSON, decimals as strings: what the store keeps and the
// API answers.
func (d *Document) JSON() ([]byte, error) { return json.Marshal(d) }

// YAML returns the document as YAML, in block style, decimals as plain numbers: its JSON
// read as YAML, so that both spell every value alike.
func (d *Document) YAML() ([]byte, error) {
	b, err := d.JSON()
	if err != nil {
		return nil, err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return nil, err
	}
	blockStyle(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// blockStyle clears the flow and quoting styles JSON gave the nodes; strings that would
// read as another type are still quoted by the encoder.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

var (
	decType  = reflect.TypeOf(Dec{})
	dateType = reflect.TypeOf(Date{})
)

// checkNode checks that n has the shape of type t: known fields only, each once, scalars
// where scalars belong, decimals, dates and whole numbers that parse.
func checkNode(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		return fault.Invalid(pathOr(path), "aliases are not allowed")
	}
	if n.Tag == "!!null" && path != "" {
		return fault.Invalid(path, "null is not a value: leave the field out")
	}
	switch {
	case t == decType:
		if _, err := parseDec(n); err != nil {
			return fault.Invalid(path, "%v", err)
		}
		return nil
	case t == dateType:
		if n.Kind != yaml.ScalarNode {
			return fault.Invalid(path, "want a date YYYY-MM-DD")
		}
		if _, err := ParseDate(n.Value); err != nil {
			return fault.Invalid(path, "%v", err)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fault.Invalid(pathOr(path), "want a mapping of fields")
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			p := join(path, key)
			ft, ok := fields[key]
			if !ok {
				return fault.Invalid(p, "unknown field")
			}
			if seen[key] {
				return fault.Invalid(p, "given twice")
			}
			seen[key] = true
			if err := checkNode(n.Content[i+1], ft, p); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fault.Invalid(path, "want a list")
		}
		for i, c := range n.Content {
			if err := checkNode(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Int:
		if n.Kind != yaml.ScalarNode {
			return fault.Invalid(path, "want a whole number")
		}
		if _, err := strconv.Atoi(n.Value); err != nil {
			return fault.Invalid(path, "%q is not a whole number", n.Value)
		}
		return nil
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return fault.Invalid(path, "want a string")
		}
		return nil
	}
	return fmt.Errorf("tariff: no check for %s at %s", t, path)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func pathOr(path string) string {
	if path == "" {
		return "body"
	}
	return path
}
