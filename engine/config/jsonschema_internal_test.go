package config

import (
	"reflect"
	"strings"
	"testing"
)

// TestSchemaHintsNameRealFields: every hint names an existing field of a
// config type, so renaming a field cannot leave a hint behind unnoticed.
func TestSchemaHintsNameRealFields(t *testing.T) {
	types := map[string]reflect.Type{}
	var collect func(reflect.Type)
	collect = func(typ reflect.Type) {
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			collect(typ.Elem())
		case reflect.Struct:
			if _, seen := types[typ.Name()]; seen {
				return
			}
			types[typ.Name()] = typ
			for i := 0; i < typ.NumField(); i++ {
				collect(typ.Field(i).Type)
			}
		}
	}
	collect(reflect.TypeFor[Config]())
	for hint := range schemaHints {
		typeName, field, _ := strings.Cut(hint, ".")
		typ, ok := types[typeName]
		if !ok {
			t.Errorf("hint %q: no config type %s", hint, typeName)
			continue
		}
		if _, ok := typ.FieldByName(field); !ok {
			t.Errorf("hint %q: %s has no field %s", hint, typeName, field)
		}
	}
}
