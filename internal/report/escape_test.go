package report

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
)

func TestPrintable(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "plain", in: "invalid_client: the secret expired", want: "invalid_client: the secret expired"},
		{name: "any script and emoji", in: "Passwort ungültig — 密码错误 👨‍👩‍👧 ملف", want: "Passwort ungültig — 密码错误 👨‍👩‍👧 ملف"},
		{name: "backslash kept", in: `C:\path`, want: `C:\path`},
		{name: "ESC and OSC with BEL", in: "a\x1b]0;t\x07b\x1b[2J", want: `a\x1b]0;t\x07b\x1b[2J`},
		{name: "CR LF TAB NUL", in: "a\r\nb\tc\x00", want: `a\r\nb\tc\x00`},
		{name: "DEL and C1", in: "a\x7fb\u0085c\u009bd", want: `a\x7fb\u0085c\u009bd`},
		{name: "separators", in: "a\u2028b\u2029c", want: `a\u2028b\u2029c`},
		{name: "bidi controls", in: "\u202aa\u202bb\u202cc\u202dd\u202ee\u2066f\u2067g\u2068h\u2069i\u200ej\u200fk\u061cl",
			want: `\u202aa\u202bb\u202cc\u202dd\u202ee\u2066f\u2067g\u2068h\u2069i\u200ej\u200fk\u061cl`},
		{name: "not UTF-8", in: "a\xffb\xc3", want: `a\xffb\xc3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Printable(tt.in); got != tt.want {
				t.Errorf("Printable(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzPrintable: no control, separator or bidi control survives, the
// output is valid UTF-8, text without them is unchanged, and escaping
// twice changes nothing more.
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"plain", "a\x1b]0;x\x07\r\n\u202e\u2028\u0085\x7f", "\xff\xfe", "ünï©ødé 😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Printable(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Printable(%q) = %q is not UTF-8", s, got)
		}
		for _, r := range got {
			if unsafeRune(r) {
				t.Fatalf("Printable(%q) = %q keeps %U", s, got, r)
			}
		}
		clean := utf8.ValidString(s) && !strings.ContainsFunc(s, unsafeRune)
		if clean && got != s {
			t.Fatalf("Printable(%q) = %q changed printable text", s, got)
		}
		if again := Printable(got); again != got {
			t.Fatalf("Printable(Printable(%q)) = %q, want %q", s, again, got)
		}
	})
}

// TestProblemsEscaped: a flow file with a control character in a value
// prints it escaped, in the message and the source line, with the caret
// still under the column.
func TestProblemsEscaped(t *testing.T) {
	src := "name: x\nevery: 1m\nsteps: [{id: \"a\x1b[2Jb\", kind: nope}]\n"
	_, err := flows.LoadBytes(flows.LoadOptions{}, "esc.yaml", []byte(src))
	var ps conf.Problems
	if !errorsAs(err, &ps) {
		t.Fatalf("want problems, got %v", err)
	}
	var out bytes.Buffer
	Problems(&out, ps, map[string][]byte{"esc.yaml": []byte(src)})
	if strings.ContainsRune(out.String(), 0x1b) {
		t.Fatalf("raw ESC printed:\n%q", out.String())
	}
	lines := strings.Split(out.String(), "\n")
	under := map[string]bool{}
	for i, l := range lines {
		if strings.Contains(l, "kind: nope") && i+1 < len(lines) {
			code, caret := l[strings.Index(l, "| ")+2:], lines[i+1][strings.Index(lines[i+1], "| ")+2:]
			if at := strings.Index(caret, "^"); at >= 0 && at < len(code) {
				under[code[at:at+4]] = true
			}
		}
	}
	if !under["nope"] || !under[`"a\x`] {
		t.Errorf("the carets are not under the id and the kind (%v):\n%s", under, out.String())
	}
}

func errorsAs(err error, ps *conf.Problems) bool { return errors.As(err, ps) }
