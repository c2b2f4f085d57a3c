package loginpage

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Form is an HTML form and the controls that belong to it.
type Form struct {
	Index           int // position in Page.Forms
	ID, Name, Class string
	// Method is GET, POST or DIALOG, upper case; GET when absent or invalid.
	Method string
	// Action is the absolute URL the form submits to, resolved against the
	// page URL and <base href>; an empty action is the page URL.
	Action string
	// Fields are the form's inputs (but not its buttons), selects and
	// textareas in document order, including controls elsewhere on the
	// page that name the form with form="id".
	Fields []Field
	// Buttons are the form's submit buttons: <button> of type submit (the
	// default) and <input type=submit|image>.
	Buttons []Button
}

// Field is one form control that carries a value.
type Field struct {
	Name string
	// Type is lower case: an input's type ("text" when absent or unknown),
	// or "select" or "textarea".
	Type  string
	Value string // value attribute; selected option's value; textarea text
	ID    string
	// Autocomplete, InputMode and Placeholder are the attributes as written.
	Autocomplete, InputMode, Placeholder string
	// Label is the text of <label for=id>, else of the enclosing <label>,
	// else aria-label or aria-labelledby.
	Label   string
	Checked bool
	Options []string // a select's option values
	// Disabled controls are never submitted.
	Disabled bool
	// Hidden is true for type=hidden and for controls hidden by the hidden
	// attribute, inline style or a utility class; the username and OTP
	// heuristics skip them, as a person could not type into them.
	Hidden bool

	selected []string // a multiple select's selected values
	multiple bool
}

// Button is a control that submits its form.
type Button struct {
	Name, Value, Text string
	Type              string // "submit" or "image"
	// Action and Method are set from formaction and formmethod, which
	// override the form's own when this button submits it.
	Action, Method string
	Disabled       bool
}

// inputTypes are the types browsers know; others are "text".
var inputTypes = map[string]bool{
	"hidden": true, "text": true, "search": true, "tel": true, "url": true, "email": true,
	"password": true, "date": true, "month": true, "week": true, "time": true,
	"datetime-local": true, "number": true, "range": true, "color": true, "checkbox": true,
	"radio": true, "file": true, "submit": true, "image": true, "reset": true, "button": true,
}

// control adds an input, select, textarea or button to the form that owns
// it. A form="id" attribute overrides the enclosing form, as in browsers.
func (w *walker) control(c *html.Node, st state) {
	owner := st.form
	if id, ok := attr(c, "form"); ok {
		owner = w.p.owners[w.byID[id]]
	}
	if owner == nil {
		return
	}
	if c.DataAtom == atom.Button && len(owner.Buttons) >= maxButtons {
		return // before reading its text, which costs
	}
	w.p.owners[c] = owner
	disabled := st.disabled || hasAttr(c, "disabled")
	switch c.DataAtom {
	case atom.Button:
		t := strings.ToLower(strings.TrimSpace(attrVal(c, "type")))
		if t == "button" || t == "reset" {
			return
		}
		w.button(owner, c, "submit", w.name(c), disabled)
	case atom.Input:
		t := strings.ToLower(strings.TrimSpace(attrVal(c, "type")))
		if !inputTypes[t] {
			t = "text"
		}
		switch t {
		case "submit":
			w.button(owner, c, t, orDefault(attrVal(c, "value"), "Submit"), disabled)
		case "image":
			w.button(owner, c, t, w.name(c), disabled)
		case "button", "reset":
		default:
			w.field(owner, c, st, t, disabled)
		}
	case atom.Select:
		w.field(owner, c, st, "select", disabled)
	case atom.Textarea:
		w.field(owner, c, st, "textarea", disabled)
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (w *walker) button(f *Form, c *html.Node, typ, text string, disabled bool) {
	if len(f.Buttons) >= maxButtons {
		return
	}
	b := Button{
		Name:     attrVal(c, "name"),
		Value:    attrVal(c, "value"),
		Text:     text,
		Type:     typ,
		Method:   method(attrVal(c, "formmethod"), ""),
		Disabled: disabled,
	}
	if a, ok := attr(c, "formaction"); ok && strings.TrimSpace(a) != "" {
		b.Action = w.action(a)
	}
	f.Buttons = append(f.Buttons, b)
}

func (w *walker) field(f *Form, c *html.Node, st state, typ string, disabled bool) {
	if len(f.Fields) >= maxFields {
		return
	}
	fd := Field{
		Name:         attrVal(c, "name"),
		Type:         typ,
		Value:        attrVal(c, "value"),
		ID:           attrVal(c, "id"),
		Autocomplete: attrVal(c, "autocomplete"),
		InputMode:    attrVal(c, "inputmode"),
		Placeholder:  attrVal(c, "placeholder"),
		Checked:      hasAttr(c, "checked"),
		Disabled:     disabled,
		Hidden:       typ == "hidden" || st.hidden,
	}
	fd.Label = w.label(c, fd.ID, st)
	switch typ {
	case "select":
		w.options(&fd, c)
	case "textarea":
		fd.Value = rawText(c)
	case "hidden":
		// The spec fills an empty hidden field named _charset_ in.
		if strings.EqualFold(fd.Name, "_charset_") && fd.Value == "" {
			fd.Value = "UTF-8"
		}
	}
	f.Fields = append(f.Fields, fd)
}

// rawText is the text content of n, as written, capped at MaxInput.
func rawText(n *html.Node) string {
	var b strings.Builder
	for c := n.FirstChild; c != nil && b.Len() < MaxInput; c = c.NextSibling {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return b.String()
}

// label finds a control's accessible label.
func (w *walker) label(c *html.Node, id string, st state) string {
	if l := w.labelFor[id]; id != "" && l != nil {
		if t := textOf(l, maxLabel); t != "" {
			return t
		}
	}
	if st.label != nil {
		if t := textOf(st.label, maxLabel); t != "" {
			return t
		}
	}
	if t := collapse(attrVal(c, "aria-label"), maxLabel); t != "" {
		return t
	}
	var parts []string
	for _, ref := range strings.Fields(attrVal(c, "aria-labelledby")) {
		if n := w.byID[ref]; n != nil && len(parts) < 4 {
			parts = append(parts, textOf(n, maxLabel))
		}
	}
	return collapse(strings.Join(parts, " "), maxLabel)
}

// options reads a select's options, including those in optgroups, and
// works out what the select submits as the HTML spec does.
func (w *walker) options(fd *Field, sel *html.Node) {
	fd.multiple = hasAttr(sel, "multiple")
	first, last := "", ""
	var haveFirst, haveLast bool
	var visit func(n *html.Node, disabled bool)
	visit = func(n *html.Node, disabled bool) {
		for c := n.FirstChild; c != nil && len(fd.Options) < maxOptions; c = c.NextSibling {
			if c.Type != html.ElementNode {
				continue
			}
			switch c.DataAtom {
			case atom.Optgroup:
				visit(c, disabled || hasAttr(c, "disabled"))
				continue
			case atom.Option:
			default:
				continue
			}
			v, ok := attr(c, "value")
			if !ok {
				v = collapse(rawText(c), maxLabel)
			}
			fd.Options = append(fd.Options, v)
			off := disabled || hasAttr(c, "disabled")
			if !off && !haveFirst {
				first, haveFirst = v, true
			}
			if hasAttr(c, "selected") && !off {
				last, haveLast = v, true
				fd.selected = append(fd.selected, v)
			}
		}
	}
	visit(sel, false)
	switch {
	case fd.multiple:
		if len(fd.selected) > 0 {
			fd.Value = fd.selected[0]
		}
	case haveLast: // browsers keep the last of several selected options
		fd.Value = last
	case haveFirst:
		fd.Value = first
	}
}

// Field returns the first field named name, or nil.
func (f *Form) Field(name string) *Field {
	if f == nil {
		return nil
	}
	for i := range f.Fields {
		if f.Fields[i].Name == name {
			return &f.Fields[i]
		}
	}
	return nil
}

// Values returns what submitting the form with submit sends, per the HTML
// spec's form data set: named, enabled controls; checkboxes and radios only
// when checked (value "on" by default); a select's selected option (or its
// first); and submit's own name=value when it has a name (name.x and name.y
// for an image button). submit may be nil. Fields' Value and Checked are
// read as they are now, so a caller may fill them in first.
func (f *Form) Values(submit *Button) url.Values {
	v := url.Values{}
	if f == nil {
		return v
	}
	for i := range f.Fields {
		fd := &f.Fields[i]
		if fd.Name == "" || fd.Disabled {
			continue
		}
		switch {
		case fd.Type == "checkbox" || fd.Type == "radio":
			if fd.Checked {
				v.Add(fd.Name, orDefault(fd.Value, "on"))
			}
		case fd.Type == "select" && fd.multiple:
			for _, s := range fd.selected {
				v.Add(fd.Name, s)
			}
		case fd.Type == "select" && len(fd.Options) == 0:
		default:
			v.Add(fd.Name, fd.Value)
		}
	}
	if submit != nil && submit.Name != "" {
		if submit.Type == "image" {
			v.Add(submit.Name+".x", "0")
			v.Add(submit.Name+".y", "0")
		} else {
			v.Add(submit.Name, submit.Value)
		}
	}
	return v
}

// SubmitButton returns the first enabled button whose Text or Value
// matches pattern, or the first enabled button when pattern is nil; nil if
// none does. Browsers never submit through a disabled button.
func (f *Form) SubmitButton(pattern *regexp.Regexp) *Button {
	if f == nil {
		return nil
	}
	for i := range f.Buttons {
		b := &f.Buttons[i]
		if b.Disabled {
			continue
		}
		if pattern == nil || pattern.MatchString(b.Text) || pattern.MatchString(b.Value) {
			return b
		}
	}
	return nil
}

// Describe names the form briefly for error messages, e.g.
// `form#login-form (POST /interaction/abc/login; fields login, password)`.
// It gives the action's path only: query strings may carry codes.
func (f *Form) Describe() string {
	if f == nil {
		return "no form"
	}
	var names []string
	hiddenN := 0
	for _, fd := range f.Fields {
		switch {
		case fd.Name == "":
		case fd.Hidden:
			hiddenN++
		case len(names) < maxDescribeNames:
			names = append(names, safe(fd.Name))
		case len(names) == maxDescribeNames:
			names = append(names, "...")
		}
	}
	fields := "no fields"
	if len(names) > 0 {
		fields = "fields " + strings.Join(names, ", ")
	}
	if hiddenN > 0 {
		fields += fmt.Sprintf("; %d hidden", hiddenN)
	}
	return fmt.Sprintf("%s (%s %s; %s)", f.label(), f.Method, actionPath(f.Action), fields)
}

// label is how Describe names the form: by id, name, or position.
func (f *Form) label() string {
	switch {
	case f.ID != "":
		return "form#" + safe(f.ID)
	case f.Name != "":
		return fmt.Sprintf("form[name=%s]", safe(f.Name))
	}
	return fmt.Sprintf("form[%d]", f.Index)
}

// actionPath is the path of an action URL, without query or fragment.
func actionPath(a string) string {
	u, err := url.Parse(a)
	if err != nil {
		return "?"
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	return clip(p, 120)
}

// safe shortens a page-supplied name and replaces control characters, so
// it cannot forge lines in a log or an error message.
func safe(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return '?'
		}
		return r
	}, s)
	if c := clip(s, maxDescribeName); c != s {
		return c + "..."
	}
	return s
}
