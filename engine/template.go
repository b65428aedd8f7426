package engine

import (
	"fmt"
	"strings"

	"github.com/sluice-gw/sluice/engine/pipeline"
)

// template is a parsed path template such as "/v2/items/{sku}": literal
// pieces and route parameters, filled in without allocating.
type template struct {
	parts []templatePart
}

type templatePart struct {
	literal []byte
	param   string
}

func parseTemplate(s string, params []string) (*template, error) {
	if !strings.HasPrefix(s, "/") {
		return nil, fmt.Errorf("must start with '/'")
	}
	t := &template{}
	for len(s) > 0 {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			t.parts = append(t.parts, templatePart{literal: []byte(s)})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, templatePart{literal: []byte(s[:i])})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("unclosed '{' in %q", s)
		}
		name := s[i+1 : i+j]
		known := false
		for _, p := range params {
			known = known || p == name
		}
		if !known {
			return nil, fmt.Errorf("unknown path parameter {%s}", name)
		}
		t.parts = append(t.parts, templatePart{param: name})
		s = s[i+j+1:]
	}
	return t, nil
}

// appendTo fills the template with x's path parameters.
func (t *template) appendTo(dst []byte, x *pipeline.Exchange) []byte {
	for _, p := range t.parts {
		if p.param == "" {
			dst = append(dst, p.literal...)
			continue
		}
		v, _ := x.Params.Get(p.param)
		dst = append(dst, v...)
	}
	return dst
}
