package report

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/redact"
)

// Problems prints configuration problems as file:line:col: path: message,
// each followed by the offending source line and a caret under the column.
func Problems(w io.Writer, ps conf.Problems, sources map[string][]byte) {
	for _, p := range ps {
		fmt.Fprintln(w, Printable(p.Error()))
		if line, ok := sourceLine(p.Pos, sources); ok {
			line, col := redactSourceLine(line, p.Pos.Column)
			fmt.Fprintf(w, "  %4d | %s\n", p.Pos.Line, Printable(line))
			fmt.Fprintf(w, "       | %s^\n", strings.Repeat(" ", caretOffset(line, col)))
		}
	}
}

// caretOffset is how far the caret under column col of line goes once
// the line is shown through Printable.
func caretOffset(line string, col int) int {
	runes, col := []rune(line), max(col-1, 0)
	return utf8.RuneCountInString(Printable(string(runes[:min(col, len(runes))]))) + max(col-len(runes), 0)
}

// sourceLine returns line p.Line of p.File, from sources or the disk.
func sourceLine(p conf.Position, sources map[string][]byte) (string, bool) {
	if p.Line <= 0 {
		return "", false
	}
	var r io.Reader
	if b, ok := sources[p.File]; ok {
		r = strings.NewReader(string(b))
	} else {
		f, err := os.Open(p.File)
		if err != nil {
			return "", false
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		if n == p.Line {
			return strings.ReplaceAll(sc.Text(), "\t", " "), true
		}
	}
	return "", false
}

// sourceKey is a "key:" on a source line; refOnly is a value that is only
// a ${...} reference, leadingRef one that starts with one.
var (
	sourceKey  = regexp.MustCompile(`([A-Za-z0-9_-]+)["']?[ \t]*:[ \t]*`)
	refOnly    = regexp.MustCompile(`^["']?\$\{[^}]*\}["']?[ \t]*$`)
	leadingRef = regexp.MustCompile(`^\$\{[^}]*\}`)
)

// redactedSource stands for a value hidden on a quoted source line.
const redactedSource = "[redacted]"

// redactSourceLine hides the values of secret-bearing keys
// (client_secret, password, ...) on a source line quoted under a problem:
// the problem may be anywhere on the line, and a literal secret there must
// not be shown. col (1-based, in runes) moves with the text; inside a
// hidden value it points at its start.
func redactSourceLine(line string, col int) (string, int) {
	runes := []rune(line)
	at := len(string(runes[:min(max(col-1, 0), len(runes))]))
	var b strings.Builder
	last, newAt := 0, -1
	for _, m := range sourceKey.FindAllStringSubmatchIndex(line, -1) {
		start := m[1]
		end := start + valueLen(line[start:], strings.ContainsAny(line[:m[0]], "{["))
		value := line[start:end]
		if m[0] < last || !redact.SecretFieldName(line[m[2]:m[3]]) || strings.TrimSpace(value) == "" || refOnly.MatchString(value) {
			continue
		}
		b.WriteString(line[last:start])
		if newAt < 0 && at < end {
			newAt = b.Len() - (start - min(at, start))
		}
		b.WriteString(redactedSource)
		last = end
	}
	if last == 0 {
		return line, col
	}
	if newAt < 0 {
		newAt = b.Len() + at - last
	}
	b.WriteString(line[last:])
	out := b.String()
	return out, utf8.RuneCountInString(out[:newAt]) + 1
}

// valueLen is the length of the value at the start of v: a flow mapping
// or sequence to its closing bracket, a quoted scalar to its closing quote,
// a plain one in a flow mapping to the next , } or ], in a block to a
// comment or the end of the line.
func valueLen(v string, flow bool) int {
	if v == "" {
		return 0
	}
	if v[0] == '{' || v[0] == '[' { // a secret field holds no structure: all of it goes
		return nestedLen(v)
	}
	if q := v[0]; q == '"' || q == '\'' {
		if i := strings.IndexByte(v[1:], q); i >= 0 {
			return i + 2
		}
		return len(v)
	}
	if r := leadingRef.FindStringIndex(v); r != nil { // its "}" ends no mapping
		return r[1] + valueLen(v[r[1]:], flow)
	}
	stop := " #"
	if flow {
		if i := strings.IndexAny(v, ",}]"); i >= 0 {
			return i
		}
		return len(v)
	}
	if i := strings.Index(v, stop); i >= 0 {
		return i
	}
	return len(v)
}

// nestedLen is the length of the flow mapping or sequence at the start of
// v, through its closing bracket (quoted brackets skipped), or all of v.
func nestedLen(v string) int {
	depth := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"', '\'':
			if j := strings.IndexByte(v[i+1:], v[i]); j >= 0 {
				i += j + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return len(v)
}
