package flows

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// render writes a parsed template back with each reference in its
// canonical form and each escape resolved, for comparing parses.
func render(t Template) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.ref != nil {
			b.WriteString("{" + p.ref.String() + "}")
			continue
		}
		b.WriteString(p.literal)
	}
	return b.String()
}

func TestNewTemplate(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		render string // literals as they expand, references in {…}
		refs   []Ref
		err    string // substring of the parse error
	}{
		{name: "empty", in: "", render: ""},
		{name: "literal", in: "https://api.example.com/orders", render: "https://api.example.com/orders"},
		{name: "env", in: "${env:CLIENT_SECRET}", render: "{${env:CLIENT_SECRET}}", refs: []Ref{{Kind: refEnv, Name: "CLIENT_SECRET"}}},
		{name: "file", in: "${file:/run/secrets/token}", render: "{${file:/run/secrets/token}}", refs: []Ref{{Kind: refFile, Name: "/run/secrets/token"}}},
		{name: "credential", in: "${credential:api-token.v2@prod}", render: "{${credential:api-token.v2@prod}}", refs: []Ref{{Kind: refCredential, Name: "api-token.v2@prod"}}},
		{name: "step output", in: "${steps.token.access_token}", render: "{${steps.token.access_token}}", refs: []Ref{{Kind: refStep, Name: "token", Output: "access_token"}}},
		{
			name: "mixed", in: "Bearer ${env:A} and ${steps.s1.out_2}!", render: "Bearer {${env:A}} and {${steps.s1.out_2}}!",
			refs: []Ref{{Kind: refEnv, Name: "A"}, {Kind: refStep, Name: "s1", Output: "out_2"}},
		},
		{name: "adjacent", in: "${env:A}${env:B}", render: "{${env:A}}{${env:B}}", refs: []Ref{{Kind: refEnv, Name: "A"}, {Kind: refEnv, Name: "B"}}},
		{name: "escape", in: "$${env:A}", render: "${env:A}"},
		{name: "escape then ref", in: "$${x} ${env:A}", render: "${x} {${env:A}}", refs: []Ref{{Kind: refEnv, Name: "A"}}},
		{name: "ref then escape", in: "${env:A}$${x}", render: "{${env:A}}${x}", refs: []Ref{{Kind: refEnv, Name: "A"}}},
		{name: "escape unclosed is fine", in: "price: $${", render: "price: ${"},
		{name: "dollar dollar dollar", in: "$$${env:A}", render: "$${env:A}"},
		{name: "lone dollar and braces", in: "$5 {a} $ {b} }", render: "$5 {a} $ {b} }"},
		{name: "unclosed", in: "Bearer ${env:X", err: `unclosed reference "${env:X": write ${kind:name}, or $${ for a literal ${`},
		{name: "unknown kind", in: "${nope:X}", err: "bad reference ${nope:X}: expected ${env:NAME}, ${file:/absolute/path}, ${credential:NAME} or ${steps.ID.OUTPUT}"},
		{name: "empty ref", in: "${}", err: "bad reference ${}"},
		{name: "env without name", in: "${env:}", err: "bad reference ${env:}"},
		{name: "env name with a dash", in: "${env:MY-VAR}", err: "bad reference ${env:MY-VAR}"},
		{name: "env name starting with a digit", in: "${env:1X}", err: "bad reference ${env:1X}"},
		{name: "relative file", in: "${file:secrets/token}", err: "bad reference ${file:secrets/token}"},
		{name: "credential with a slash", in: "${credential:../etc/passwd}", err: "bad reference ${credential:../etc/passwd}"},
		{name: "step without output", in: "${steps.token}", err: "bad reference ${steps.token}"},
		{name: "step with upper case", in: "${steps.Token.access_token}", err: "bad reference"},
		{name: "step path too deep", in: "${steps.a.b.c}", err: "bad reference"},
		{name: "bare name", in: "${TOKEN}", err: "bad reference ${TOKEN}"},
		{name: "spaces", in: "${ env:A }", err: "bad reference"},
		{name: "error after a good ref", in: "${env:A} ${nope}", err: "bad reference ${nope}"},
		{name: "long body is truncated", in: "${" + strings.Repeat("x", 100) + "}", err: "bad reference ${" + strings.Repeat("x", 60) + "…}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := NewTemplate(tt.in)
			if tp.String() != tt.in {
				t.Errorf("String() = %q, want the input %q", tp.String(), tt.in)
			}
			if tp.IsZero() != (tt.in == "") {
				t.Errorf("IsZero() = %v", tp.IsZero())
			}
			if tt.err != "" {
				if tp.LoadErr() == nil || !strings.Contains(tp.LoadErr().Error(), tt.err) {
					t.Fatalf("LoadErr() = %v, want %q", tp.LoadErr(), tt.err)
				}
				if len(tp.Refs()) != 0 {
					t.Errorf("Refs() = %v for a bad template", tp.Refs())
				}
				return
			}
			if tp.LoadErr() != nil {
				t.Fatalf("LoadErr() = %v", tp.LoadErr())
			}
			if got := render(tp); got != tt.render {
				t.Errorf("parsed as %q, want %q", got, tt.render)
			}
			if got := tp.Refs(); !slices.Equal(got, tt.refs) {
				t.Errorf("Refs() = %+v, want %+v", got, tt.refs)
			}
		})
	}
}

func TestRef(t *testing.T) {
	tests := []struct {
		name   string
		ref    Ref
		str    string
		secret bool
	}{
		{name: "env", ref: Ref{Kind: refEnv, Name: "X"}, str: "${env:X}", secret: true},
		{name: "file", ref: Ref{Kind: refFile, Name: "/a/b"}, str: "${file:/a/b}", secret: true},
		{name: "credential", ref: Ref{Kind: refCredential, Name: "c"}, str: "${credential:c}", secret: true},
		{name: "step", ref: Ref{Kind: refStep, Name: "s", Output: "o"}, str: "${steps.s.o}", secret: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ref.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			if got := tt.ref.IsSecret(); got != tt.secret {
				t.Errorf("IsSecret() = %v, want %v", got, tt.secret)
			}
			if refs := NewTemplate(tt.str).Refs(); len(refs) != 1 || refs[0] != tt.ref {
				t.Errorf("String() does not parse back: %+v", refs)
			}
		})
	}
}

// TestTemplateMarshalShowsReferences checks that a template marshals as
// written, after it has been expanded with real values: the flow never
// keeps a value, so dumping a loaded flow never shows a secret.
func TestTemplateMarshalShowsReferences(t *testing.T) {
	const value = "the-real-client-secret"
	r := NewRunner()
	r.Secrets = SecretSource{LookupEnv: func(string) (string, bool) { return value, true }}
	step := &HTTPStep{URL: NewTemplate("https://api.example.com/${env:PATH_PART}"), Auth: &HTTPAuth{Bearer: NewTemplate("${env:TOKEN}")}}
	st := newState(r, &Flow{Name: "f"})
	for _, tp := range []Template{step.URL, step.Auth.Bearer} {
		if _, err := st.Expand(tp); err != nil {
			t.Fatal(err)
		}
	}
	text, err := step.Auth.Bearer.MarshalText()
	if err != nil || string(text) != "${env:TOKEN}" {
		t.Errorf("MarshalText() = %q, %v", text, err)
	}
	j, err := json.Marshal(step)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(j), value) || !strings.Contains(string(j), `"${env:TOKEN}"`) || !strings.Contains(string(j), `"https://api.example.com/${env:PATH_PART}"`) {
		t.Errorf("json.Marshal(step) = %s", j)
	}
}

func TestStateExpand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	nl := write("nl", "from-file\n")
	crlf := write("crlf", "from-crlf\r\n")
	blank := write("blank", "\n\n")
	inner := write("inner", "line1\nline2\n")
	write("cred", "from-credential\n")
	env := map[string]string{"SET": "env-value", "EMPTY": ""}

	tests := []struct {
		name   string
		tmpl   string
		want   string
		reason Reason // of the Failure, when the expansion fails
		msg    string // substring of its summary
	}{
		{name: "literal", tmpl: "plain", want: "plain"},
		{name: "env in text", tmpl: "key=${env:SET};", want: "key=env-value;"},
		{name: "escape", tmpl: "$${env:SET}", want: "${env:SET}"},
		{name: "file newline trimmed", tmpl: "${file:" + nl + "}", want: "from-file"},
		{name: "file CRLF trimmed", tmpl: "${file:" + crlf + "}", want: "from-crlf"},
		{name: "file inner newline kept", tmpl: "${file:" + inner + "}", want: "line1\nline2"},
		{name: "credential", tmpl: "${credential:cred}", want: "from-credential"},
		{name: "step output", tmpl: "id=${steps.first.user_id}", want: "id=42"},
		{name: "env unset", tmpl: "${env:UNSET}", reason: ReasonCredentialsMissing, msg: "${env:UNSET}: environment variable UNSET is not set"},
		{name: "env empty", tmpl: "${env:EMPTY}", reason: ReasonCredentialsMissing, msg: "environment variable EMPTY is empty"},
		{name: "file missing", tmpl: "${file:" + dir + "/nope}", reason: ReasonCredentialsMissing, msg: "file " + dir + "/nope does not exist"},
		{name: "file only newlines", tmpl: "${file:" + blank + "}", reason: ReasonCredentialsMissing, msg: "file " + blank + " is empty"},
		{name: "file is a directory", tmpl: "${file:" + dir + "}", reason: ReasonCredentialsMissing, msg: "file " + dir},
		{name: "credential missing", tmpl: "${credential:nope}", reason: ReasonCredentialsMissing, msg: "credential nope does not exist"},
		{name: "step output missing", tmpl: "${steps.first.nothing}", reason: ReasonAssertionFailed, msg: `${steps.first.nothing} is empty: step "first" produced no nothing`},
		{name: "bad template", tmpl: "${env:X", reason: ReasonConfigInvalid, msg: "unclosed reference"},
	}
	r := NewRunner()
	r.Secrets = SecretSource{
		LookupEnv:      func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		CredentialsDir: dir,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newState(r, &Flow{Name: "f"})
			st.beginStep(&StepSpec{ID: "first"}, nil)
			st.SetOutput("user_id", "42", false)
			st.beginStep(&StepSpec{ID: "second"}, nil)
			got, err := st.Expand(NewTemplate(tt.tmpl))
			if tt.reason == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Expand(%q) = %q, %v; want %q", tt.tmpl, got, err, tt.want)
				}
				return
			}
			var f *Failure
			if !errors.As(err, &f) {
				t.Fatalf("Expand(%q) = %q, %v; want a *Failure", tt.tmpl, got, err)
			}
			if f.Reason != tt.reason || !strings.Contains(f.Summary, tt.msg) {
				t.Errorf("Failure = %s: %s; want %s containing %q", f.Reason, f.Summary, tt.reason, tt.msg)
			}
			if tt.reason == ReasonCredentialsMissing && !errors.Is(err, errSecretMissing) {
				t.Errorf("credentials_missing does not unwrap to errSecretMissing: %v", err)
			}
		})
	}
}

// TestStateExpandRegistersSecrets checks the value net: a resolved secret,
// and the whole expansion containing it, are redacted; step outputs only
// when they are secret.
func TestStateExpandRegistersSecrets(t *testing.T) {
	r := NewRunner()
	r.Secrets = SecretSource{LookupEnv: func(string) (string, bool) { return "s3cret-value", true }}
	st := newState(r, &Flow{Name: "f"})
	st.beginStep(&StepSpec{ID: "first"}, nil)
	st.SetOutput("user_id", "user-12345", false)
	st.SetOutput("session_value", "opaque-session", true)
	st.beginStep(&StepSpec{ID: "second"}, nil)

	for _, tmpl := range []string{"key=${env:K}", "${steps.first.user_id}", "${steps.first.session_value}"} {
		if _, err := st.Expand(NewTemplate(tmpl)); err != nil {
			t.Fatal(err)
		}
	}
	out := st.Secrets.String("a key=s3cret-value b s3cret-value c user-12345 d opaque-session")
	for _, leak := range []string{"s3cret-value", "opaque-session"} {
		if strings.Contains(out, leak) {
			t.Errorf("%q not redacted: %s", leak, out)
		}
	}
	if !strings.Contains(out, "user-12345") {
		t.Errorf("a non-secret output was redacted: %s", out)
	}
}

func TestSecretSourceCredentialsDirFromEnv(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "api"), []byte("v\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := SecretSource{LookupEnv: func(k string) (string, bool) {
		if k == "CREDENTIALS_DIRECTORY" {
			return dir, true
		}
		return "", false
	}}
	if v, err := s.Resolve(Ref{Kind: refCredential, Name: "api"}); err != nil || v != "v" {
		t.Errorf("Resolve = %q, %v", v, err)
	}
	if _, err := s.Resolve(Ref{Kind: refStep, Name: "a", Output: "b"}); err == nil || errors.Is(err, errSecretMissing) {
		t.Errorf("Resolve(step ref) = %v, want a non-secret error", err)
	}
}
