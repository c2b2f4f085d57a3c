package conf

import (
	"errors"
	"testing"
)

// TestPrefixErrors: every leaf of a joined error gets the prefix, a plain
// error becomes a FieldError at the prefix, and list indexes join without
// a dot.
func TestPrefixErrors(t *testing.T) {
	err := errors.Join(FieldErrorf("url", "bad"), FieldErrorf("[2]", "odd"), FieldErrorf("", "whole"), errors.New("plain"))
	got := PrefixErrors("notifiers.ops", err).Error()
	want := "notifiers.ops.url: bad\nnotifiers.ops[2]: odd\nnotifiers.ops: whole\nnotifiers.ops: plain"
	if got != want {
		t.Errorf("PrefixErrors =\n%s\nwant\n%s", got, want)
	}
	if PrefixErrors("x", nil) != nil {
		t.Error("PrefixErrors(nil) is not nil")
	}
}

// TestProblemsSort: by file, line, column, then path.
func TestProblemsSort(t *testing.T) {
	ps := Problems{
		{Pos: Position{File: "b.yaml", Line: 1, Column: 1}, Message: "4"},
		{Pos: Position{File: "a.yaml", Line: 2, Column: 1}, Message: "3"},
		{Pos: Position{File: "a.yaml", Line: 1, Column: 5}, Path: "y", Message: "2"},
		{Pos: Position{File: "a.yaml", Line: 1, Column: 5}, Path: "x", Message: "1"},
		{Pos: Position{File: "a.yaml"}, Message: "0"},
	}
	ps.Sort()
	want := "a.yaml: 0\na.yaml:1:5: x: 1\na.yaml:1:5: y: 2\na.yaml:2:1: 3\nb.yaml:1:1: 4"
	if got := ps.Error(); got != want {
		t.Errorf("sorted =\n%s\nwant\n%s", got, want)
	}
}
