package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"net/url"
	"strings"
	"unicode/utf8"
)

// A secret reaches stored or shown text in whatever encoding the target
// echoed it in: a JSON error body escapes it (Go as \u0026, others as \"
// or \u00fc), an HTML error page as &amp; or &#34;, a redirect URL
// percent-encodes it, a Basic header or a debug dump base64-encodes it.
// Every such form is registered with the secret and replaced by the
// secret's own marker.

// minFragmentLen is the shortest base64 fragment replaced: fragments come
// from the middle of a larger blob and shorter ones would match by chance.
const minFragmentLen = 6

// forms returns the encodings of v worth looking for, v itself among them:
// v and its JSON forms as they are and HTML-escaped, url-encoded, and
// base64-encoded.
// Duplicates are left to the caller.
func forms(v string) []string {
	if plain(v) {
		// Every text encoding leaves it as it is (most tokens and keys).
		return append([]string{v}, base64Forms(v)...)
	}
	return allForms(v)
}

func allForms(v string) []string {
	out := []string{url.QueryEscape(v), url.PathEscape(v), uriComponent(v)}
	for _, j := range append([]string{v}, jsonForms(v)...) {
		out = append(out, j, html.EscapeString(j), template.HTMLEscapeString(j), htmlTemplateText(j), pythonHTML(j))
	}
	out = append(out, template.JSEscapeString(v))
	return append(out, base64Forms(v)...)
}

// plain: only characters no text encoding changes (url, JSON, HTML, JS).
func plain(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
			return false
		}
	}
	return true
}

// jsonForms are v inside a JSON string, without the quotes: Go's
// encoding/json (HTML-safe: \u0026 \u003c \u003e), a plain encoder (\" \\
// only), one that escapes "/" too (PHP), and an ASCII-only one (Python's
// json.dumps: \u00fc).
func jsonForms(v string) []string {
	goForm, _ := json.Marshal(v)
	var plain bytes.Buffer
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	p := strings.TrimSuffix(plain.String(), "\n")
	p = p[1 : len(p)-1]
	return []string{string(goForm[1 : len(goForm)-1]), p, strings.ReplaceAll(p, "/", `\/`), asciiJSON(p)}
}

// asciiJSON escapes every non-ASCII rune of a JSON string body as \uXXXX
// (UTF-16, lower-case hex, as Python and Java write it).
func asciiJSON(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			b.WriteRune(r)
		case r > 0xFFFF:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

// htmlTemplateText is html/template's escaping of text and quoted
// attributes, which adds &#43; for "+" to HTMLEscapeString's set.
func htmlTemplateText(s string) string {
	return strings.ReplaceAll(template.HTMLEscapeString(s), "+", "&#43;")
}

// pythonHTML is Python's html.escape and many other templates: &quot; and
// &#x27;.
var pythonHTMLReplacer = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#x27;")

func pythonHTML(s string) string { return pythonHTMLReplacer.Replace(s) }

// uriComponent is JavaScript's encodeURIComponent: %20 for a space, and
// !'()* left as they are.
func uriComponent(s string) string {
	return uriComponentReplacer.Replace(url.QueryEscape(s))
}

var uriComponentReplacer = strings.NewReplacer("+", "%20", "%21", "!", "%27", "'", "%28", "(", "%29", ")", "%2A", "*")

// base64Forms are v base64-encoded on its own (std and url alphabets,
// padded and raw), and the fragments that stay the same wherever v sits
// inside a longer encoded blob: v starts at one of three offsets within a
// 3-byte group, and for each only the characters that depend on v's bytes
// alone are fixed. The url alphabet differs from std in two characters.
func base64Forms(v string) []string {
	whole := base64.StdEncoding.EncodeToString([]byte(v))
	out := []string{whole, strings.TrimRight(whole, "=")}
	for offset := range 3 {
		if f := base64Fragment(v, offset); len(f) >= minFragmentLen {
			out = append(out, f)
		}
	}
	for _, f := range out[:len(out):len(out)] {
		if strings.ContainsAny(f, "+/") {
			out = append(out, toURLAlphabet.Replace(f))
		}
	}
	return out
}

var toURLAlphabet = strings.NewReplacer("+", "-", "/", "_")

// base64Fragment encodes v behind offset unknown bytes and keeps the
// characters that unknown neighbours cannot change: the first group loses
// the characters that mix in the bytes before v (2 for one byte, 3 for
// two), and an unfinished last group its last character (it mixes in the
// byte after v).
func base64Fragment(v string, offset int) string {
	s := base64.RawStdEncoding.EncodeToString(append(make([]byte, offset, offset+len(v)), v...))
	lead := []int{0, 2, 3}[offset]
	trail := 0
	if (offset+len(v))%3 != 0 {
		trail = 1
	}
	if len(s) < lead+trail {
		return ""
	}
	return s[lead : len(s)-trail]
}
