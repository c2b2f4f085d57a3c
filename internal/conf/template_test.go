package conf

import (
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
		{name: "env", in: "${env:CLIENT_SECRET}", render: "{${env:CLIENT_SECRET}}", refs: []Ref{{Kind: RefEnv, Name: "CLIENT_SECRET"}}},
		{name: "file", in: "${file:/run/secrets/token}", render: "{${file:/run/secrets/token}}", refs: []Ref{{Kind: RefFile, Name: "/run/secrets/token"}}},
		{name: "credential", in: "${credential:api-token.v2@prod}", render: "{${credential:api-token.v2@prod}}", refs: []Ref{{Kind: RefCredential, Name: "api-token.v2@prod"}}},
		{name: "step output", in: "${steps.token.access_token}", render: "{${steps.token.access_token}}", refs: []Ref{{Kind: RefStep, Name: "token", Output: "access_token"}}},
		{
			name: "mixed", in: "Bearer ${env:A} and ${steps.s1.out_2}!", render: "Bearer {${env:A}} and {${steps.s1.out_2}}!",
			refs: []Ref{{Kind: RefEnv, Name: "A"}, {Kind: RefStep, Name: "s1", Output: "out_2"}},
		},
		{name: "adjacent", in: "${env:A}${env:B}", render: "{${env:A}}{${env:B}}", refs: []Ref{{Kind: RefEnv, Name: "A"}, {Kind: RefEnv, Name: "B"}}},
		{name: "escape", in: "$${env:A}", render: "${env:A}"},
		{name: "escape then ref", in: "$${x} ${env:A}", render: "${x} {${env:A}}", refs: []Ref{{Kind: RefEnv, Name: "A"}}},
		{name: "ref then escape", in: "${env:A}$${x}", render: "{${env:A}}${x}", refs: []Ref{{Kind: RefEnv, Name: "A"}}},
		{name: "escape unclosed is fine", in: "price: $${", render: "price: ${"},
		{name: "dollar dollar dollar", in: "$$${env:A}", render: "$${env:A}"},
		{name: "lone dollar and braces", in: "$5 {a} $ {b} }", render: "$5 {a} $ {b} }"},
		{name: "unclosed", in: "Bearer ${env:X", err: `unclosed reference at character 8: write ${kind:name}, or $${ for a literal ${`},
		{name: "unknown kind", in: "${nope:X}", err: "bad reference at character 1: expected ${env:NAME}, ${file:/absolute/path}, ${credential:NAME} or ${steps.ID.OUTPUT}"},
		{name: "empty ref", in: "${}", err: "bad reference at character 1"},
		{name: "env without name", in: "${env:}", err: "bad reference at character 1"},
		{name: "env name with a dash", in: "${env:MY-VAR}", err: "bad reference at character 1"},
		{name: "env name starting with a digit", in: "${env:1X}", err: "bad reference at character 1"},
		{name: "relative file", in: "${file:secrets/token}", err: "bad reference at character 1"},
		{name: "credential with a slash", in: "${credential:../etc/passwd}", err: "bad reference at character 1"},
		{name: "step without output", in: "${steps.token}", err: "bad reference at character 1"},
		{name: "step with upper case", in: "${steps.Token.access_token}", err: "bad reference"},
		{name: "step path too deep", in: "${steps.a.b.c}", err: "bad reference"},
		{name: "bare name", in: "${TOKEN}", err: "bad reference at character 1"},
		{name: "spaces", in: "${ env:A }", err: "bad reference"},
		{name: "error after a good ref", in: "${env:A} ${nope}", err: "bad reference at character 10"},
		{name: "position counts characters", in: "pässwörd ${x}", err: "bad reference at character 10"},
		{name: "after an escape", in: "$${a} ${x}", err: "bad reference at character 7"},
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

// TestTemplateErrorsLeaveTheTextOut: a literal password may contain "${";
// the load error points at the character, never quotes the field.
func TestTemplateErrorsLeaveTheTextOut(t *testing.T) {
	for _, secret := range []string{"hunter2-${oops-sekrit", "pa${sekrit}word-hunter2", "${env:A}hunter2${sekrit"} {
		err := NewTemplate(secret).LoadErr()
		if err == nil {
			t.Fatalf("%q: no error", secret)
		}
		for _, part := range []string{"hunter2", "sekrit"} {
			if strings.Contains(err.Error(), part) {
				t.Errorf("the error quotes the field's text: %v", err)
			}
		}
	}
}

func TestRef(t *testing.T) {
	tests := []struct {
		name   string
		ref    Ref
		str    string
		secret bool
	}{
		{name: "env", ref: Ref{Kind: RefEnv, Name: "X"}, str: "${env:X}", secret: true},
		{name: "file", ref: Ref{Kind: RefFile, Name: "/a/b"}, str: "${file:/a/b}", secret: true},
		{name: "credential", ref: Ref{Kind: RefCredential, Name: "c"}, str: "${credential:c}", secret: true},
		{name: "step", ref: Ref{Kind: RefStep, Name: "s", Output: "o"}, str: "${steps.s.o}", secret: false},
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
	if v, err := s.Resolve(Ref{Kind: RefCredential, Name: "api"}); err != nil || v != "v" {
		t.Errorf("Resolve = %q, %v", v, err)
	}
	if _, err := s.Resolve(Ref{Kind: RefStep, Name: "a", Output: "b"}); err == nil || errors.Is(err, ErrSecretMissing) {
		t.Errorf("Resolve(step ref) = %v, want a non-secret error", err)
	}
}
