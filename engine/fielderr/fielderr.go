// Package fielderr is the one way configuration problems are reported.
//
// A stage package validates the typed options the engine's compile step hands
// it and returns its problems as a List, each naming the option by a path
// relative to those options ("allow[2]", "keys[0].secret"). The compile step
// knows where the options came from in the JSON config and merges the list
// under that path ("routes[3].ip_filter"), so every error a user sees names
// its full JSON path while no stage package knows the config's shape.
package fielderr

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Error is one problem, tied to the path of the value it is about. An empty
// Path is the whole object (or, at the top, the whole config).
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Errorf builds an *Error for path.
func Errorf(path, format string, args ...any) *Error {
	return &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// List is a list of problems; it is itself an error, one problem a line.
type List []*Error

func (l List) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Add appends a problem at path.
func (l *List) Add(path, format string, args ...any) {
	*l = append(*l, Errorf(path, format, args...))
}

// Merge appends the problems of err under prefix: the entries of a List (or
// an *Error) keep their own paths, joined below prefix; any other error is
// one problem at prefix. A nil err adds nothing.
func (l *List) Merge(prefix string, err error) {
	if err == nil {
		return
	}
	var list List
	var one *Error
	switch {
	case errors.As(err, &list):
		for _, e := range list {
			*l = append(*l, &Error{Path: under(prefix, e.Path), Msg: e.Msg})
		}
	case errors.As(err, &one):
		*l = append(*l, &Error{Path: under(prefix, one.Path), Msg: one.Msg})
	default:
		*l = append(*l, &Error{Path: prefix, Msg: err.Error()})
	}
}

// Err returns l as an error, or nil when it is empty (a nil List in an
// error interface is not a nil error).
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Join returns path joined with an object key, using a dot. The key is
// taken as written, even when empty or when it starts with "[" (a user may
// name a map key so).
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// under places a relative path below prefix: "" is prefix itself and a
// relative path that starts with an index follows it without a dot.
func under(prefix, rel string) string {
	switch {
	case rel == "":
		return prefix
	case prefix == "":
		return rel
	case rel[0] == '[':
		return prefix + rel
	}
	return prefix + "." + rel
}

// Index returns path joined with an array index.
func Index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }
