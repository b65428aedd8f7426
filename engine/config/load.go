package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/sluice-gw/sluice/engine/fielderr"
)

// Error is one problem in a configuration, tied to the JSON path of the value.
type Error = fielderr.Error

// Errors is a list of configuration problems; it is itself an error.
type Errors = fielderr.List

// Errorf builds an *Error for path.
func Errorf(path, format string, args ...any) *Error { return fielderr.Errorf(path, format, args...) }

// Join returns path joined with an object key, using dots.
func Join(path, key string) string { return fielderr.Join(path, key) }

// Index returns path joined with an array index.
func Index(path string, i int) string { return fielderr.Index(path, i) }

// Parse strictly decodes data. It reports every unknown key and type mismatch
// it finds, each with its JSON path, as Errors. Unless data is not JSON at
// all, the config decoded so far is returned with the errors, so that callers
// can go on to report compile problems in the same run.
func Parse(data []byte) (*Config, error) {
	sum := sha256.Sum256(data)
	cfg := &Config{SHA256: hex.EncodeToString(sum[:])}
	data = bytes.TrimSpace(data)
	if !json.Valid(data) {
		var probe any
		err := json.Unmarshal(data, &probe)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, Errors{Errorf("", "config is not valid JSON: %v", err)}
	}
	var errs Errors
	duplicateKeys(data, &errs)
	decodeValue("", data, reflect.ValueOf(cfg).Elem(), &errs, cfg)
	if len(errs) > 0 {
		return cfg, errs
	}
	return cfg, nil
}

// Duration is a time.Duration written in JSON as a Go duration string ("250ms").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(time.Duration(d).String())), nil
}

func (d *Duration) decodeJSON(path string, raw []byte, errs *Errors) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		errs.Add(path, "expected a duration string such as \"250ms\"")
		return
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		errs.Add(path, "invalid duration %q", s)
		return
	}
	if v < 0 {
		errs.Add(path, "duration %q must not be negative", s)
		return
	}
	*d = Duration(v)
}

func (t *Target) decodeJSON(path string, raw []byte, errs *Errors) {
	if len(raw) > 0 && raw[0] == '"' {
		_ = json.Unmarshal(raw, &t.Addr)
		return
	}
	if len(raw) == 0 || raw[0] != '{' {
		errs.Add(path, "expected \"host:port\" or {\"addr\": ..., \"weight\": n}")
		return
	}
	type plain Target
	var p plain
	decodeValue(path, raw, reflect.ValueOf(&p).Elem(), errs, nil)
	*t = Target(p)
}

// RawJSON keeps a JSON value verbatim.
type RawJSON []byte

// MarshalJSON writes the value verbatim (null when empty).
func (r RawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

func (r *RawJSON) decodeJSON(_ string, raw []byte, _ *Errors) {
	*r = append(RawJSON(nil), raw...)
}

// Object iterates the members of a JSON object in order. It returns an error
// when raw is not an object.
func Object(raw []byte, fn func(key string, value []byte)) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("expected an object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		fn(key, v)
	}
	return nil
}

func array(raw []byte, fn func(i int, value []byte)) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return errors.New("expected an array")
	}
	for i := 0; dec.More(); i++ {
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		fn(i, v)
	}
	return nil
}

type decoder interface {
	decodeJSON(path string, raw []byte, errs *Errors)
}

var kindNames = map[reflect.Kind]string{
	reflect.String: "a string", reflect.Bool: "true or false",
	reflect.Int: "an integer", reflect.Int64: "an integer", reflect.Float64: "a number",
}

// decodeValue decodes raw into v, reporting problems under path. root, when
// set, records map key order.
func decodeValue(path string, raw []byte, v reflect.Value, errs *Errors, root *Config) {
	if v.CanAddr() {
		if d, ok := v.Addr().Interface().(decoder); ok {
			d.decodeJSON(path, raw, errs)
			return
		}
	}
	isNull := bytes.Equal(raw, []byte("null"))
	switch v.Kind() {
	case reflect.Pointer:
		if isNull {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		decodeValue(path, raw, v.Elem(), errs, root)
	case reflect.Struct:
		if isNull {
			return
		}
		fields := map[string]int{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name != "" && name != "-" {
				fields[name] = i
			}
		}
		err := Object(raw, func(key string, value []byte) {
			i, ok := fields[key]
			if !ok {
				errs.Add(Join(path, key), "unknown key")
				return
			}
			decodeValue(Join(path, key), value, v.Field(i), errs, root)
		})
		if err != nil {
			errs.Add(path, "expected an object")
		}
	case reflect.Map:
		if isNull {
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		var order []string
		err := Object(raw, func(key string, value []byte) {
			elem := reflect.New(v.Type().Elem()).Elem()
			decodeValue(Join(path, key), value, elem, errs, root)
			v.SetMapIndex(reflect.ValueOf(key), elem)
			order = append(order, key)
		})
		if err != nil {
			errs.Add(path, "expected an object")
			return
		}
		if root != nil {
			switch path {
			case "services":
				root.Order.Services = order
			case "auth":
				root.Order.Auth = order
			case "rate_limits":
				root.Order.RateLimits = order
			}
		}
	case reflect.Slice:
		if isNull {
			return
		}
		s := reflect.MakeSlice(v.Type(), 0, 4)
		err := array(raw, func(i int, value []byte) {
			elem := reflect.New(v.Type().Elem()).Elem()
			decodeValue(Index(path, i), value, elem, errs, root)
			s = reflect.Append(s, elem)
		})
		if err != nil {
			errs.Add(path, "expected an array")
			return
		}
		v.Set(s)
	default:
		if err := json.Unmarshal(raw, v.Addr().Interface()); err != nil {
			want := kindNames[v.Kind()]
			if want == "" {
				want = v.Kind().String()
			}
			errs.Add(path, "expected %s", want)
		}
	}
}
