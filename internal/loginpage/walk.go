package loginpage

import (
	"regexp"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// walker fills a Page from a parsed document in two passes: the first finds
// forms, ids and labels (a control may name a form, or a label a control,
// that comes later), the second assigns controls and collects the rest.
type walker struct {
	p        *Page
	res      resolver
	byID     map[string]*html.Node // first element with each id
	labelFor map[string]*html.Node // first label for each id
	seen     map[string]bool       // messages already taken
	cands    int                   // message elements looked at
	text     *textBuilder
}

// state is what an element inherits from its ancestors.
type state struct {
	form     *Form
	label    *html.Node // nearest enclosing <label>
	disabled bool       // inside a disabled fieldset
	hidden   bool
	quiet    bool // inside noscript: no text or messages
}

func newWalker(p *Page, root *html.Node) *walker {
	w := &walker{
		p:        p,
		res:      resolver{base: findBase(p.URL, root)},
		byID:     map[string]*html.Node{},
		labelFor: map[string]*html.Node{},
		seen:     map[string]bool{},
		text:     &textBuilder{max: maxText},
	}
	w.index(root)
	budget := int(^uint(0) >> 1) // Text is bounded by maxText and the input size
	for c := root.FirstChild; c != nil; c = c.NextSibling {
		if body := findElement(c, atom.Body); body != nil {
			collect(body, w.text, &budget)
		}
	}
	return w
}

// findElement returns the first element a under n, n included.
func findElement(n *html.Node, a atom.Atom) *html.Node {
	if n.Type == html.ElementNode && n.DataAtom == a {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := findElement(c, a); f != nil {
			return f
		}
	}
	return nil
}

// index is the first pass.
func (w *walker) index(n *html.Node) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode || c.DataAtom == atom.Template {
			continue
		}
		if id := attrVal(c, "id"); id != "" && w.byID[id] == nil {
			w.byID[id] = c
		}
		switch {
		case c.DataAtom == atom.Label:
			if id := attrVal(c, "for"); id != "" && w.labelFor[id] == nil {
				w.labelFor[id] = c
			}
		case c.DataAtom == atom.Form && c.Namespace == "" && len(w.p.Forms) < maxForms:
			w.p.Forms = append(w.p.Forms, w.newForm(c, len(w.p.Forms)))
		}
		w.index(c)
	}
}

func (w *walker) newForm(n *html.Node, i int) *Form {
	f := &Form{
		Index:  i,
		ID:     attrVal(n, "id"),
		Name:   attrVal(n, "name"),
		Class:  attrVal(n, "class"),
		Method: method(attrVal(n, "method"), "GET"),
		Action: w.action(attrVal(n, "action")),
	}
	w.p.owners[n] = f
	return f
}

// method normalises a method attribute; invalid values give def, as in
// browsers.
func method(m, def string) string {
	switch m = strings.ToUpper(strings.TrimSpace(m)); m {
	case "GET", "POST", "DIALOG":
		return m
	}
	return def
}

// action resolves a form action; an empty one submits to the page itself.
func (w *walker) action(a string) string {
	if strings.TrimSpace(a) == "" {
		if w.p.URL == nil {
			return ""
		}
		return w.p.URL.String()
	}
	if u, ok := w.res.resolve(a); ok {
		return u
	}
	return strings.TrimSpace(a) // left for the caller's request to reject
}

// walk is the second pass.
func (w *walker) walk(n *html.Node, st state) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode {
			continue
		}
		switch c.DataAtom {
		case atom.Script:
			w.p.Scripts++
			continue
		case atom.Template, atom.Style:
			continue
		case atom.Noscript:
			w.p.Noscript = true
		}
		cst := w.enter(c, st)
		w.element(c, cst)
		if c.DataAtom != atom.Select { // options are read with their select
			w.walk(c, cst)
		}
	}
}

// enter computes the state c passes to its descendants.
func (w *walker) enter(c *html.Node, st state) state {
	st.hidden = st.hidden || hidden(c)
	switch c.DataAtom {
	case atom.Form:
		if f := w.p.owners[c]; f != nil {
			st.form = f
		}
	case atom.Fieldset:
		st.disabled = st.disabled || hasAttr(c, "disabled")
	case atom.Label:
		st.label = c
	case atom.Noscript:
		st.quiet = true
	}
	return st
}

// element handles one element of the second pass.
func (w *walker) element(c *html.Node, st state) {
	if c.Namespace != "" { // svg and math
		return
	}
	switch c.DataAtom {
	case atom.Title:
		if w.p.Title == "" {
			w.p.Title = textOfRaw(c, maxTitle)
		}
	case atom.Input, atom.Select, atom.Textarea, atom.Button:
		w.control(c, st)
	case atom.A, atom.Area:
		w.link(c)
	case atom.Meta:
		w.refresh(c)
	}
	if v := attrVal(c, "onclick"); v != "" {
		w.onclick(c, v)
	}
	if !st.quiet && !st.hidden && isMessage(c) {
		w.message(c)
	}
}

// textOfRaw is the collapsed text of n's children, for elements such as
// <title> whose content is raw text.
func textOfRaw(n *html.Node, max int) string {
	var b strings.Builder
	for c := n.FirstChild; c != nil && b.Len() < max*4; c = c.NextSibling {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return collapse(b.String(), max)
}

func (w *walker) message(c *html.Node) {
	if len(w.p.Messages) >= maxMessages || w.cands >= maxCandidates {
		return
	}
	w.cands++
	m := textOf(c, maxMessage)
	if m == "" || w.seen[m] {
		return
	}
	w.seen[m] = true
	w.p.Messages = append(w.p.Messages, m)
}

func (w *walker) addAction(a Action) {
	if len(w.p.Actions) < maxActions {
		w.p.Actions = append(w.p.Actions, a)
	}
}

// link records an <a href> that leads somewhere other than the page itself
// or a script.
func (w *walker) link(c *html.Node) {
	href, ok := attr(c, "href")
	if !ok || len(w.p.Actions) >= maxActions || strings.HasPrefix(strings.TrimSpace(href), "#") {
		return
	}
	u, ok := w.res.resolve(href)
	if !ok || !navigable(u) {
		return
	}
	w.addAction(Action{Text: w.name(c), URL: u, Kind: "link"})
}

// navigable reports whether u is a URL a walker can follow: http(s), or
// relative when the page URL is unknown.
func navigable(u string) bool {
	i := strings.IndexAny(u, ":/?#")
	if i < 0 || u[i] != ':' {
		return true
	}
	s := strings.ToLower(u[:i])
	return s == "http" || s == "https"
}

// name is what a link or button says: its text, or failing that its
// aria-label, title or value.
func (w *walker) name(c *html.Node) string {
	if t := textOf(c, maxLabel); t != "" {
		return t
	}
	for _, k := range []string{"aria-label", "title", "value", "alt"} {
		if v := collapse(attrVal(c, k), maxLabel); v != "" {
			return v
		}
	}
	return ""
}

// locationRE finds script-free navigations in onclick handlers:
// location.href='...', window.location = "...", location.assign('...').
var locationRE = regexp.MustCompile(`(?:^|[^\w.$])(?:(?:window|document|self|top)\s*\.\s*)?location(?:\s*\.\s*href)?\s*=\s*(?:'([^']*)'|"([^"]*)")|location\s*\.\s*(?:assign|replace)\s*\(\s*(?:'([^']*)'|"([^"]*)")\s*\)`)

func (w *walker) onclick(c *html.Node, js string) {
	if len(js) > 4096 || len(w.p.Actions) >= maxActions {
		return // not a one-line navigation
	}
	m := locationRE.FindStringSubmatch(js)
	if m == nil {
		return
	}
	target := m[1] + m[2] + m[3] + m[4]
	target = strings.ReplaceAll(target, `\/`, `/`)
	u, ok := w.res.resolve(target)
	if !ok || !navigable(u) {
		return
	}
	w.addAction(Action{Text: w.name(c), URL: u, Kind: "button"})
}

// refreshRE reads a meta refresh's content: a delay, then the URL, which
// may be quoted and may lack "url=".
var refreshRE = regexp.MustCompile(`(?i)^\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?(?:'([^']*)'?|"([^"]*)"?|(.*))$`)

func (w *walker) refresh(c *html.Node) {
	if !strings.EqualFold(strings.TrimSpace(attrVal(c, "http-equiv")), "refresh") {
		return
	}
	m := refreshRE.FindStringSubmatch(attrVal(c, "content"))
	if m == nil {
		return
	}
	target := strings.TrimSpace(m[1] + m[2] + m[3])
	if target == "" {
		return // reloads the page itself
	}
	u, ok := w.res.resolve(target)
	if !ok || !navigable(u) {
		return
	}
	w.addAction(Action{URL: u, Kind: "refresh"})
}
