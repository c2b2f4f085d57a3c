// Package redacttest lists the encodings a secret can take in text, for
// tests that assert no secret leaks. The encodings are computed here with
// the standard library, independently of how package redact finds them.
package redacttest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	htmltemplate "html/template"
	"net/url"
	"strings"
	"text/template"
	"unicode/utf16"
)

// Canaries are secrets that change under every encoding: the printable
// ASCII set (space, quotes, backslash, &<>, %+/=, backquote) and non-ASCII
// letters and CJK. Each is distinct so a leak names its source.
var Canaries = []string{
	`Canary&Amp<Sec>1"q'\` + "`" + ` %+/=x`,
	"Ünïcødé-秘密-canary",
	PrintableASCII("cnry-"),
}

// PrintableASCII is prefix followed by every printable ASCII character
// (0x20 to 0x7e).
func PrintableASCII(prefix string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for c := byte(0x20); c < 0x7f; c++ {
		b.WriteByte(c)
	}
	return b.String()
}

// Encoding is one form of a secret.
type Encoding struct {
	Name string // "json (Go)", "base64url raw", ...
	Text string
}

// MinFragment is the shortest base64 fragment (from a secret inside a
// longer blob) that is expected to be found.
const MinFragment = 6

// Encodings returns the forms of secret that redaction must catch.
func Encodings(secret string) []Encoding {
	out := []Encoding{{"raw", secret}}
	add := func(name, text string) { out = append(out, Encoding{name, text}) }
	goJSON, _ := json.Marshal(secret)
	add("json (Go)", unquote(string(goJSON)))
	var plain bytes.Buffer
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(secret)
	p := unquote(strings.TrimSpace(plain.String()))
	add("json (plain)", p)
	add(`json (\/)`, strings.ReplaceAll(p, "/", `\/`))
	add("json (ASCII)", asciiJSON(p))
	add("query/form", url.QueryEscape(secret))
	add("path", url.PathEscape(secret))
	add("html.EscapeString", html.EscapeString(secret))
	add("template.HTMLEscapeString", htmltemplate.HTMLEscapeString(secret))
	add("html/template text", executeHTML(secret))
	add("html (Python)", strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#x27;").Replace(secret))
	add("html/template text of Go JSON", executeHTML(unquote(string(goJSON))))
	add("JSEscapeString", template.JSEscapeString(secret))
	for _, e := range []struct {
		name string
		enc  *base64.Encoding
	}{{"base64", base64.StdEncoding}, {"base64 raw", base64.RawStdEncoding}, {"base64url", base64.URLEncoding}, {"base64url raw", base64.RawURLEncoding}} {
		add(e.name, e.enc.EncodeToString([]byte(secret)))
		for offset := range 3 {
			if f := Fragment(e.enc, secret, offset); len(f) >= MinFragment {
				add(fmt.Sprintf("%s inside a blob at offset %d", e.name, offset), f)
			}
		}
	}
	return out
}

// Fragment is what stays the same of secret's base64 encoding when it
// sits offset bytes into a 3-byte group of a longer blob: the characters
// whose 6 bits all come from the secret's bytes.
func Fragment(enc *base64.Encoding, secret string, offset int) string {
	blob := append(append(make([]byte, offset), secret...), 0, 0, 0)
	s := enc.WithPadding(base64.NoPadding).EncodeToString(blob)
	first, end := 8*offset, 8*(offset+len(secret)) // the secret's bits
	var b strings.Builder
	for j := range len(s) {
		if 6*j >= first && 6*j+6 <= end {
			b.WriteByte(s[j])
		}
	}
	return b.String()
}

func unquote(q string) string { return q[1 : len(q)-1] }

func asciiJSON(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x80 {
			b.WriteRune(r)
			continue
		}
		for _, u := range utf16.Encode([]rune{r}) {
			fmt.Fprintf(&b, `\u%04x`, u)
		}
	}
	return b.String()
}

var textTemplate = htmltemplate.Must(htmltemplate.New("t").Parse(`{{.}}`))

func executeHTML(s string) string {
	var b bytes.Buffer
	_ = textTemplate.Execute(&b, s)
	return b.String()
}

// Leak is an encoding of a secret found in text.
type Leak struct {
	Secret   int // index into the secrets given
	Encoding string
	Context  string // the text around it, the encoding replaced by <<SECRET>>
}

func (l Leak) String() string {
	return fmt.Sprintf("secret #%d (%s) near …%s…", l.Secret, l.Encoding, l.Context)
}

// Leaks finds every encoding of every secret (shorter than 4 bytes: none
// expected) in text.
func Leaks(text string, secrets ...string) []Leak {
	var out []Leak
	for i, s := range secrets {
		if len(s) < 4 {
			continue
		}
		for _, e := range Encodings(s) {
			if at := strings.Index(text, e.Text); at >= 0 && e.Text != "" {
				ctx := text[max(at-80, 0):min(at+len(e.Text)+40, len(text))]
				out = append(out, Leak{Secret: i, Encoding: e.Name, Context: strings.ReplaceAll(ctx, e.Text, "<<SECRET>>")})
			}
		}
	}
	return out
}
