package conf

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// FieldError is a problem with one field of a step or flow; Path is relative
// to the thing validated ("expect.status[1]"), and the loader turns it into
// file:line:column.
type FieldError struct {
	Path string
	Err  error
}

func (e FieldError) Error() string { return e.Path + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e FieldError) Unwrap() error { return e.Err }

// FieldErrorf makes a FieldError.
func FieldErrorf(path, format string, args ...any) error {
	return FieldError{Path: path, Err: fmt.Errorf(format, args...)}
}

// PrefixErrors prefixes the paths of every FieldError in err (a single
// error or an errors.Join tree) with prefix, so that a nested struct's
// Validate can report paths relative to itself.
func PrefixErrors(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range flatten(err) {
		var fe FieldError
		if errors.As(e, &fe) {
			out = append(out, FieldError{Path: JoinPath(prefix, fe.Path), Err: fe.Err})
		} else {
			out = append(out, FieldError{Path: prefix, Err: e})
		}
	}
	return errors.Join(out...)
}

// JoinPath appends a field path to a prefix: "steps[2]" and "expect"
// make "steps[2].expect", "flows" and "[0]" make "flows[0]".
func JoinPath(prefix, path string) string {
	switch {
	case prefix == "":
		return path
	case path == "":
		return prefix
	case strings.HasPrefix(path, "["):
		return prefix + path
	}
	return prefix + "." + path
}

// flatten lists the leaves of an errors.Join tree.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// Position points into a configuration file.
type Position struct {
	File         string
	Line, Column int
}

func (p Position) String() string {
	if p.Line == 0 {
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column)
}

// Problem is one configuration problem at a position in a file.
type Problem struct {
	Pos     Position
	Path    string // e.g. flows[0].steps[2].expect.status
	Message string
	Source  string // the offending source line with a caret, when known
}

func (p *Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.Pos.String())
	b.WriteString(": ")
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems lists every problem found; a load returns it as its error.
type Problems []*Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Sort orders problems by file, line and column (validation visits maps in
// random order; output must be stable).
func (ps Problems) Sort() {
	slices.SortStableFunc(ps, func(a, b *Problem) int {
		return cmp.Or(strings.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Column, b.Pos.Column), strings.Compare(a.Path, b.Path))
	})
}
