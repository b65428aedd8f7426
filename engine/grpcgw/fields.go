package grpcgw

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// maxFieldDepth bounds dotted field paths (and the walk of untrusted query
// names).
const maxFieldDepth = 8

// fieldPath is a resolved field: the message fields leading to it, then the
// field itself (always last).
type fieldPath []protoreflect.FieldDescriptor

// last is the field a value is set on.
func (p fieldPath) last() protoreflect.FieldDescriptor { return p[len(p)-1] }

// resolveField resolves a dotted name ("filter.min_price") against md; each
// segment is a proto name or a JSON name. Every segment but the last must be
// a singular message field, and the last must not be a map.
func resolveField(md protoreflect.MessageDescriptor, name string) (fieldPath, error) {
	var p fieldPath
	for seg := range strings.SplitSeq(name, ".") {
		if len(p) == maxFieldDepth {
			return nil, fmt.Errorf("field path %q is deeper than %d", name, maxFieldDepth)
		}
		if len(p) > 0 {
			prev := p.last()
			if prev.Kind() != protoreflect.MessageKind || prev.IsList() || prev.IsMap() {
				return nil, fmt.Errorf("field %q of %s is not a singular message", prev.Name(), md.FullName())
			}
			md = prev.Message()
		}
		fd := md.Fields().ByName(protoreflect.Name(seg))
		if fd == nil {
			fd = md.Fields().ByJSONName(seg)
		}
		if fd == nil {
			return nil, fmt.Errorf("%s has no field %q", md.FullName(), seg)
		}
		p = append(p, fd)
	}
	if p.last().IsMap() {
		return nil, fmt.Errorf("map field %q cannot be set from text", p.last().Name())
	}
	return p, nil
}

// target walks to the message holding p's last field, creating the
// intermediate messages.
func (p fieldPath) target(m protoreflect.Message) protoreflect.Message {
	for _, fd := range p[:len(p)-1] {
		m = m.Mutable(fd).Message()
	}
	return m
}

// clear removes p's field (used before query values replace a list).
func (p fieldPath) clear(m protoreflect.Message) {
	for _, fd := range p[:len(p)-1] {
		if !m.Has(fd) {
			return
		}
		m = m.Mutable(fd).Message()
	}
	m.Clear(p.last())
}

// set parses text as the value of p's field and sets it on m (appends, for a
// repeated field).
func (p fieldPath) set(m protoreflect.Message, text []byte) error {
	m = p.target(m)
	fd := p.last()
	v, err := parseValue(m, fd, text)
	if err != nil {
		return fmt.Errorf("%s: %w", fd.Name(), err)
	}
	if fd.IsList() {
		m.Mutable(fd).List().Append(v)
	} else {
		m.Set(fd, v)
	}
	return nil
}

var errSyntax = errors.New("invalid value")

// parseValue converts a path or query value to fd's type. Bytes are base64
// (standard or URL alphabet, padding optional); enums take a name or a
// number; message fields (well-known types such as Timestamp, Duration or
// the wrappers) take their protojson text, quoted or not.
func parseValue(m protoreflect.Message, fd protoreflect.FieldDescriptor, text []byte) (protoreflect.Value, error) {
	s := string(text)
	switch fd.Kind() {
	case protoreflect.StringKind:
		// Protobuf strings must be UTF-8; a query or path value may not be.
		if !utf8.ValidString(s) {
			return protoreflect.Value{}, errSyntax
		}
		return protoreflect.ValueOfString(s), nil
	case protoreflect.BytesKind:
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(s); err == nil {
				return protoreflect.ValueOfBytes(b), nil
			}
		}
		return protoreflect.Value{}, errors.New("invalid base64")
	case protoreflect.BoolKind:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return protoreflect.Value{}, errSyntax
		}
		return protoreflect.ValueOfBool(b), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return protoreflect.Value{}, errSyntax
		}
		return protoreflect.ValueOfInt32(int32(n)), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return protoreflect.Value{}, errSyntax
		}
		return protoreflect.ValueOfInt64(n), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return protoreflect.Value{}, errSyntax
		}
		return protoreflect.ValueOfUint32(uint32(n)), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return protoreflect.Value{}, errSyntax
		}
		return protoreflect.ValueOfUint64(n), nil
	case protoreflect.FloatKind:
		f, err := strconv.ParseFloat(s, 32)
		if err != nil {
			return protoreflect.Value{}, errSyntax
		}
		return protoreflect.ValueOfFloat32(float32(f)), nil
	case protoreflect.DoubleKind:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return protoreflect.Value{}, errSyntax
		}
		return protoreflect.ValueOfFloat64(f), nil
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByName(protoreflect.Name(s)); ev != nil {
			return protoreflect.ValueOfEnum(ev.Number()), nil
		}
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return protoreflect.Value{}, errors.New("unknown enum value")
		}
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		var sub protoreflect.Message
		if fd.IsList() {
			sub = m.Mutable(fd).List().NewElement().Message()
		} else {
			sub = m.NewField(fd).Message()
		}
		quoted, _ := json.Marshal(s)
		if err := protojson.Unmarshal(quoted, sub.Interface()); err == nil {
			return protoreflect.ValueOfMessage(sub), nil
		}
		if err := protojson.Unmarshal(text, sub.Interface()); err != nil {
			return protoreflect.Value{}, errSyntax
		}
		return protoreflect.ValueOfMessage(sub), nil
	}
	return protoreflect.Value{}, errSyntax
}
