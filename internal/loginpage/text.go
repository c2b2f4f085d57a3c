package loginpage

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Caps on text, so a hostile page costs bounded memory and time.
const (
	maxText          = 8 << 10 // Page.Text, bytes
	maxMessage       = 300     // one message, runes
	maxMessages      = 10
	maxCandidates    = 100  // message elements looked at
	maxLabel         = 200  // runes
	textNodeBudget   = 2000 // nodes visited per label, button, link or message
	maxTitle         = 300  // runes
	maxDescribeName  = 40
	maxDescribeNames = 8
)

// textBuilder collects text with runs of white space collapsed to one space,
// and stops at max bytes (on a rune boundary).
type textBuilder struct {
	b       strings.Builder
	max     int
	pending bool // a space is owed before the next visible rune
	full    bool
}

func (t *textBuilder) add(s string) {
	for _, r := range s {
		if t.full {
			return
		}
		if unicode.IsSpace(r) {
			t.pending = true
			continue
		}
		n := utf8.RuneLen(r)
		if n < 0 {
			n = 3 // utf8.RuneError as written by WriteRune
		}
		if t.pending && t.b.Len() > 0 {
			n++
		}
		if t.b.Len()+n > t.max {
			t.full = true
			return
		}
		if t.pending && t.b.Len() > 0 {
			t.b.WriteByte(' ')
		}
		t.pending = false
		t.b.WriteRune(r)
	}
}

// brk marks a boundary between blocks, so "<p>a</p><p>b</p>" reads "a b".
func (t *textBuilder) brk() { t.pending = true }

func (t *textBuilder) String() string { return t.b.String() }

// inline elements do not separate words; every other element does.
var inline = map[atom.Atom]bool{
	atom.A: true, atom.Abbr: true, atom.B: true, atom.Bdi: true, atom.Bdo: true,
	atom.Cite: true, atom.Code: true, atom.Data: true, atom.Dfn: true, atom.Em: true,
	atom.I: true, atom.Kbd: true, atom.Mark: true, atom.Q: true, atom.S: true,
	atom.Samp: true, atom.Small: true, atom.Span: true, atom.Strong: true, atom.Sub: true,
	atom.Sup: true, atom.Time: true, atom.U: true, atom.Var: true, atom.Font: true,
	atom.Label: true,
}

// noText elements never show their content as text.
func noText(n *html.Node) bool {
	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Template, atom.Noscript, atom.Select,
		atom.Datalist, atom.Head, atom.Title, atom.Iframe, atom.Object:
		return true
	}
	return false
}

// collect appends the visible text under n to t, visiting at most *budget
// nodes. The tree is at most 512 elements deep (x/net/html refuses deeper
// documents), so recursion is safe.
func collect(n *html.Node, t *textBuilder, budget *int) {
	for c := n.FirstChild; c != nil && !t.full && *budget > 0; c = c.NextSibling {
		*budget--
		switch c.Type {
		case html.TextNode:
			t.add(c.Data)
		case html.ElementNode:
			if noText(c) || hidden(c) {
				continue
			}
			if c.DataAtom == atom.Br || !inline[c.DataAtom] {
				t.brk()
			}
			collect(c, t, budget)
			if !inline[c.DataAtom] {
				t.brk()
			}
		}
	}
}

// textOf is the visible text of n, collapsed, at most max runes.
func textOf(n *html.Node, max int) string {
	t := &textBuilder{max: max * utf8.UTFMax}
	budget := textNodeBudget
	collect(n, t, &budget)
	return clip(t.String(), max)
}

// clip cuts s to at most max runes.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := 0
	for j := range s {
		if i == max {
			return s[:j]
		}
		i++
	}
	return s
}

// collapse trims s and collapses its white space.
func collapse(s string, max int) string {
	t := &textBuilder{max: max * utf8.UTFMax}
	t.add(s)
	return clip(t.String(), max)
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func attrVal(n *html.Node, key string) string {
	v, _ := attr(n, key)
	return v
}

func hasAttr(n *html.Node, key string) bool {
	_, ok := attr(n, key)
	return ok
}

// hiddenClasses are utility classes that common CSS frameworks define as
// display:none. IdPs ship error templates hidden this way for scripts to
// reveal; reading them as shown would invent errors.
var hiddenClasses = map[string]bool{
	"hidden": true, "d-none": true, "hide": true, "is-hidden": true, "invisible": true,
}

// hidden reports whether n itself is hidden by attribute, inline style or a
// well-known utility class. Stylesheets are not evaluated.
func hidden(n *html.Node) bool {
	if n.Type != html.ElementNode {
		return false
	}
	if hasAttr(n, "hidden") {
		return true
	}
	if s, ok := attr(n, "style"); ok {
		s = squash(s)
		if strings.Contains(s, "display:none") || strings.Contains(s, "visibility:hidden") {
			return true
		}
	}
	for _, c := range strings.Fields(attrVal(n, "class")) {
		if hiddenClasses[strings.ToLower(c)] {
			return true
		}
	}
	return false
}

// squash lower-cases s and drops its white space, so CSS declarations
// compare simply.
func squash(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}

// messageWords mark status and error containers in class and id values.
var messageWords = []string{"error", "alert", "danger", "warning", "invalid", "message", "notice", "feedback", "flash"}

// isMessage reports whether n is an element that carries a status or error
// message: ARIA live regions, elements named like one, and the red
// paragraphs of zitadel's example templates.
func isMessage(n *html.Node) bool {
	switch n.DataAtom {
	case atom.Html, atom.Body, atom.Form, atom.Input, atom.Textarea, atom.Select,
		atom.Option, atom.Button, atom.Meta, atom.Link, atom.Title, atom.Svg:
		return false
	}
	for _, r := range strings.Fields(strings.ToLower(attrVal(n, "role"))) {
		if r == "alert" || r == "status" {
			return true
		}
	}
	if v, ok := attr(n, "aria-live"); ok && !strings.EqualFold(strings.TrimSpace(v), "off") {
		return true
	}
	names := strings.ToLower(attrVal(n, "class") + " " + attrVal(n, "id"))
	for _, w := range messageWords {
		if strings.Contains(names, w) {
			return true
		}
	}
	return redText(attrVal(n, "style"))
}

// redText reports whether an inline style sets the text colour to red.
func redText(style string) bool {
	s := squash(style)
	for _, red := range []string{"color:red", "color:#f00", "color:#ff0000"} {
		for i := 0; i < len(s); {
			j := strings.Index(s[i:], red)
			if j < 0 {
				break
			}
			at := i + j
			// background-color:red is not red text.
			if at == 0 || s[at-1] == ';' || s[at-1] == '"' {
				return true
			}
			i = at + 1
		}
	}
	return false
}
