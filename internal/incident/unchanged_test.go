package incident

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/authwatch/authwatch/notify"
)

// TestUnchangedSeesEveryField: a change to any field of a State (or of its
// Detail and WarningState) is a change worth storing, except a pass count
// that stays at or above ResolveAfter. Walked by reflection, so that a
// field added later and forgotten in Unchanged fails here.
func TestUnchangedSeesEveryField(t *testing.T) {
	p := Policy{ResolveAfter: 2}
	base := func() State {
		return State{Flow: "login", Key: "k", Reason: "a", NotifiedReason: "a",
			Last:   &Detail{Step: "s", Layer: "l", Summary: "x", NextStep: "n", Evidence: []notify.Fact{{Name: "n", Value: "v"}}, RequestIDs: map[string]string{"a": "b"}},
			Labels: map[string]string{"team": "id"}, OpenedAt: t0, FirstFailure: t0, LastNotified: t0,
			ConsecutivePasses: 5, Recent: []bool{true, false}, MutedBy: "m",
			Warning: &WarningState{Key: "w", Reason: "r", NotifiedReason: "r", Findings: []Finding{{Reason: "r", Summary: "s"}}, OpenedAt: t0, MutedBy: "m"}}
	}
	if st := base(); !Unchanged(p, st, base()) {
		t.Fatal("Unchanged(st, copy of st) = false")
	}
	more := base()
	more.ConsecutivePasses = 6
	if !Unchanged(p, base(), more) {
		t.Error("5 and 6 passes with ResolveAfter 2: Unchanged = false, want true")
	}
	few, fewer := base(), base()
	few.ConsecutivePasses, fewer.ConsecutivePasses = 2, 1
	if Unchanged(p, fewer, few) {
		t.Error("1 and 2 passes with ResolveAfter 2: Unchanged = true, want false")
	}
	open := base()
	open.Open = true
	if Unchanged(p, open, open) {
		t.Error("an open incident: Unchanged = true, want false (its passes count)")
	}
	for _, m := range fieldChanges("State", reflect.TypeOf(State{}), func(v reflect.Value) reflect.Value { return v }) {
		switch m.name {
		case "State.Open", "State.ConsecutivePasses":
			continue // checked above
		}
		st := base() // fresh pointers and maps: changed in place
		m.change(reflect.ValueOf(&st).Elem())
		if Unchanged(p, base(), st) {
			t.Errorf("Unchanged does not see a change of %s", m.name)
		}
	}
}

// fieldChange changes one field of a State, found from the State by at.
type fieldChange struct {
	name   string
	change func(state reflect.Value)
}

// fieldChanges lists a change of every field of typ (a struct), and of the
// fields of the structs its pointers point at; at finds typ's value in a
// State.
func fieldChanges(path string, typ reflect.Type, at func(reflect.Value) reflect.Value) []fieldChange {
	var out []fieldChange
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := path + "." + f.Name
		field := func(st reflect.Value) reflect.Value { return at(st).Field(i) }
		if f.Type.Kind() == reflect.Pointer {
			out = append(out, fieldChange{name + " = nil", func(st reflect.Value) { field(st).SetZero() }})
			out = append(out, fieldChanges(name, f.Type.Elem(), func(st reflect.Value) reflect.Value { return field(st).Elem() })...)
			continue
		}
		out = append(out, fieldChange{name, func(st reflect.Value) { changeValue(name, field(st)) }})
	}
	return out
}

// changeValue changes v by its kind; it panics on a kind it does not know,
// so that a new kind of field is noticed.
func changeValue(name string, v reflect.Value) {
	switch {
	case v.Type() == reflect.TypeOf(time.Time{}):
		v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Second)))
	case v.Kind() == reflect.String:
		v.SetString(v.String() + "x")
	case v.Kind() == reflect.Bool:
		v.SetBool(!v.Bool())
	case v.Kind() == reflect.Int:
		v.SetInt(v.Int() + 1)
	case v.Kind() == reflect.Slice:
		v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
	case v.Kind() == reflect.Map:
		v.SetMapIndex(reflect.ValueOf("new"), reflect.ValueOf("value"))
	default:
		panic(fmt.Sprintf("%s: a field of kind %s the test cannot change: teach it (and Unchanged)", name, v.Kind()))
	}
}
