// Package loginpage reads the HTML pages of an identity provider's login UI
// the way a browser without JavaScript would: it finds the forms and what
// submitting them sends, the links and script-free navigations, and the
// error messages shown, so a login walker can step through a login and say
// why it stopped.
//
// Pages are hostile input. Parse caps the input, the number of forms,
// fields, options and actions, and the text it reads; it never panics.
package loginpage

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/PuerkitoBio/goquery"
	"github.com/andybalholm/cascadia"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Limits that bound the work done on one page.
const (
	// MaxInput is how much of a body Parse reads; the rest is ignored.
	MaxInput   = 1 << 20
	maxForms   = 50
	maxFields  = 300 // per form
	maxButtons = 50  // per form
	maxOptions = 500 // per select
	maxActions = 200
)

// Page is a parsed HTML page as a login walker sees it.
type Page struct {
	URL   *url.URL
	Title string
	Forms []*Form
	// Messages holds the visible text of elements that carry status or
	// error messages (role=alert|status, aria-live, class or id naming an
	// error, alert, message..., red inline text), trimmed, collapsed,
	// capped at 300 runes each, at most 10, de-duplicated.
	Messages []string
	// Text is the visible text of the body without script, style, template
	// and noscript, white space collapsed, capped at 8 KiB.
	Text string
	// Actions are navigations without a form, with absolute URLs.
	Actions []Action
	// Scripts counts the page's script elements and Noscript reports a
	// noscript element: with no forms and little text they mark a page
	// that JavaScript builds (see ScriptBuilt).
	Scripts  int
	Noscript bool

	doc    *goquery.Document
	owners map[*html.Node]*Form // form elements and form-associated controls
}

// Action is a navigation a page offers without a form.
type Action struct {
	Text string
	URL  string
	Kind string // "link", "button" (an onclick that sets location) or "refresh" (meta refresh)
}

// Parse parses body, the page found at pageURL. It reads at most MaxInput
// bytes. pageURL may be nil; relative URLs then stay relative unless the
// page has an absolute <base href>. The only error is a document that the
// HTML parser refuses (nesting deeper than 512 elements).
func Parse(pageURL *url.URL, body []byte) (*Page, error) {
	if len(body) > MaxInput {
		body = body[:MaxInput]
	}
	root, err := html.ParseWithOptions(bytes.NewReader(body), html.ParseOptionEnableScripting(false))
	if err != nil {
		return nil, fmt.Errorf("loginpage: parsing HTML: %w", err)
	}
	p := &Page{URL: pageURL, doc: goquery.NewDocumentFromNode(root), owners: map[*html.Node]*Form{}}
	w := newWalker(p, root)
	w.walk(root, state{})
	p.Text = w.text.String()
	return p, nil
}

// FormBySelector returns the form the CSS selector matches, or the form
// that owns the first matched element, so "#username" finds the username
// field's form. It returns an error for an invalid selector and (nil, nil)
// when no matched element belongs to a form.
func (p *Page) FormBySelector(css string) (*Form, error) {
	sel, err := cascadia.ParseGroup(css)
	if err != nil {
		return nil, fmt.Errorf("loginpage: invalid selector %q: %w", css, err)
	}
	if p == nil || p.doc == nil {
		return nil, nil
	}
	for _, n := range p.doc.FindMatcher(group{sel}).Nodes {
		if f := p.formOf(n); f != nil {
			return f, nil
		}
	}
	return nil, nil
}

// ValidSelector returns an error when css is not a CSS selector list.
func ValidSelector(css string) error {
	if _, err := cascadia.ParseGroup(css); err != nil {
		return fmt.Errorf("loginpage: invalid selector %q: %w", css, err)
	}
	return nil
}

// VisibleText returns the text of the first element css matches that is
// not hidden by its markup (hidden, aria-hidden, display:none inline, a
// hidden ancestor), collapsed, and whether there is one; "" and false for
// an invalid selector.
func (p *Page) VisibleText(css string) (string, bool) {
	sel, err := cascadia.ParseGroup(css)
	if err != nil || p == nil || p.doc == nil {
		return "", false
	}
	for _, n := range p.doc.FindMatcher(group{sel}).Nodes {
		if hiddenUp(n) {
			continue
		}
		return textOf(n, maxMessage), true
	}
	return "", false
}

// hiddenUp reports whether n or an ancestor is hidden by its markup.
func hiddenUp(n *html.Node) bool {
	for ; n != nil; n = n.Parent {
		if n.Type == html.ElementNode && hidden(n) {
			return true
		}
	}
	return false
}

// group adapts a selector list (a, b) to goquery, which wants Filter and
// MatchAll beside Match.
type group struct{ cascadia.SelectorGroup }

func (g group) MatchAll(n *html.Node) []*html.Node { return cascadia.QueryAll(n, g) }

func (g group) Filter(ns []*html.Node) []*html.Node { return cascadia.Filter(ns, g) }

// formOf is the form n is, belongs to, or sits in.
func (p *Page) formOf(n *html.Node) *Form {
	for ; n != nil; n = n.Parent {
		if f := p.owners[n]; f != nil {
			return f
		}
	}
	return nil
}

// PasswordForm returns the first form with a password input, or nil.
func (p *Page) PasswordForm() *Form {
	return p.FormWithField(func(f *Field) bool { return f.Type == "password" })
}

// FormWithField returns the first form with a field for which match is
// true, or nil.
func (p *Page) FormWithField(match func(*Field) bool) *Form {
	if p == nil {
		return nil
	}
	for _, f := range p.Forms {
		for i := range f.Fields {
			if match(&f.Fields[i]) {
				return f
			}
		}
	}
	return nil
}

// scriptBuiltText is the most visible text, in runes, a page that
// JavaScript builds shows before its scripts run ("Loading...").
const scriptBuiltText = 200

// ScriptBuilt reports whether the page looks built by JavaScript: no forms,
// a script or noscript element, and hardly any text. A reader that runs
// no scripts cannot see such a page's login form.
func (p *Page) ScriptBuilt() bool {
	if p == nil || len(p.Forms) > 0 || (p.Scripts == 0 && !p.Noscript) {
		return false
	}
	return utf8.RuneCountInString(p.Text) <= scriptBuiltText
}

// DescribeForms describes every form briefly, for error messages:
// "2 forms: form#a (...); form[1] (...)" or "no forms".
func (p *Page) DescribeForms() string {
	if p == nil || len(p.Forms) == 0 {
		return "no forms"
	}
	parts := make([]string, len(p.Forms))
	for i, f := range p.Forms {
		parts[i] = f.Describe()
	}
	noun := "forms"
	if len(parts) == 1 {
		noun = "form"
	}
	return fmt.Sprintf("%d %s: %s", len(parts), noun, strings.Join(parts, "; "))
}

// resolver turns attribute URLs into absolute ones against the document's
// base URL.
type resolver struct{ base *url.URL }

// resolve returns ref resolved, or ok false when ref is not a URL.
func (r resolver) resolve(ref string) (string, bool) {
	// Browsers strip surrounding white space and drop tabs and newlines.
	ref = strings.Map(func(c rune) rune {
		if c == '\t' || c == '\n' || c == '\r' {
			return -1
		}
		return c
	}, strings.TrimSpace(ref))
	u, err := url.Parse(ref)
	if err != nil {
		return "", false
	}
	if r.base != nil {
		u = r.base.ResolveReference(u)
	}
	return u.String(), true
}

// findBase returns the URL relative references resolve against: the first
// <base href>, resolved against the page URL, or the page URL.
func findBase(pageURL *url.URL, root *html.Node) *url.URL {
	var href string
	var found bool
	var visit func(n *html.Node)
	visit = func(n *html.Node) {
		for c := n.FirstChild; c != nil && !found; c = c.NextSibling {
			if c.Type == html.ElementNode && c.DataAtom == atom.Base && c.Namespace == "" {
				href, found = attr(c, "href")
			}
			if c.DataAtom != atom.Template {
				visit(c)
			}
		}
	}
	visit(root)
	if !found {
		return pageURL
	}
	u, err := url.Parse(strings.TrimSpace(href))
	if err != nil {
		return pageURL
	}
	if pageURL != nil {
		return pageURL.ResolveReference(u)
	}
	if u.IsAbs() {
		return u
	}
	return nil
}
