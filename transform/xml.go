package transform

import (
	"encoding/json"
	"encoding/xml"
	"math"
	"strconv"
	"strings"

	"github.com/athlake/athlake/schemas"
)

// XML turns the elements of an XML record (<athlete><athlete_id>7</athlete_id>
// ...) into the JSON object the JSON decoder takes, guided by the table's
// column types: XML carries only text, so text that is a number where a
// number belongs becomes a JSON number, 1/0 where a boolean belongs a JSON
// boolean, an empty element null. Text of the wrong kind stays a string, and
// the JSON decoder rejects the record with the reason. Lists of child
// records (<results><result>...) become JSON arrays. Unknown elements are
// kept as strings (or objects, when they nest) and land in _extra.
type XML struct {
	types    map[string]schemas.Type
	children map[string]*XML // list element name -> decoder of its items
}

// NewXML returns a converter for table t and its child tables.
func NewXML(reg *schemas.Registry, t *schemas.Table) *XML {
	x := &XML{types: map[string]schemas.Type{}, children: map[string]*XML{}}
	for _, c := range t.Columns {
		if !c.Derived && c.Field != schemas.FieldPosition {
			x.types[c.FieldName()] = c.Type
		}
	}
	for _, ct := range reg.Tables() {
		if ct.Parent != nil && ct.Source == t.Source && ct.Parent.Table == t.Name {
			x.children[ct.Parent.Field] = NewXML(reg, ct)
		}
	}
	return x
}

// node is an element with everything inside it.
type node struct {
	XMLName xml.Name
	Text    string `xml:",chardata"`
	Nodes   []node `xml:",any"`
}

// Convert reads the record that start opens from d and returns it as JSON.
func (x *XML) Convert(d *xml.Decoder, start xml.StartElement) (json.RawMessage, error) {
	var n node
	if err := d.DecodeElement(&n, &start); err != nil {
		return nil, err
	}
	return x.object(n), nil
}

func (x *XML) object(n node) json.RawMessage {
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range n.Nodes {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(quote(f.XMLName.Local))
		b.WriteByte(':')
		if sub, ok := x.children[f.XMLName.Local]; ok {
			b.WriteByte('[')
			for j, item := range f.Nodes {
				if j > 0 {
					b.WriteByte(',')
				}
				b.Write(sub.object(item))
			}
			b.WriteByte(']')
			continue
		}
		typ, known := x.types[f.XMLName.Local]
		switch {
		case len(f.Nodes) > 0:
			// Structure the schema does not expect: keep it whole.
			b.Write((&XML{}).object(f))
		case !known:
			b.WriteString(quote(strings.TrimSpace(f.Text)))
		default:
			b.WriteString(textValue(strings.TrimSpace(f.Text), typ))
		}
	}
	b.WriteByte('}')
	return json.RawMessage(b.String())
}

// textValue renders XML text as the JSON value of a column of type t.
func textValue(s string, t schemas.Type) string {
	if s == "" {
		return "null"
	}
	switch t {
	case schemas.Int64, schemas.Float64:
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return strconv.FormatInt(i, 10)
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
	case schemas.Bool:
		switch s {
		case "1", "true":
			return "true"
		case "0", "false":
			return "false"
		}
	}
	return quote(s)
}
