package flows

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/internal/conf"
)

// TestTemplateMarshalShowsReferences checks that a template marshals as
// written, after it has been expanded with real values: the flow never
// keeps a value, so dumping a loaded flow never shows a secret.
func TestTemplateMarshalShowsReferences(t *testing.T) {
	const value = "the-real-client-secret"
	r := NewRunner()
	r.Secrets = conf.SecretSource{LookupEnv: func(string) (string, bool) { return value, true }}
	step := &HTTPStep{URL: conf.NewTemplate("https://api.example.com/${env:PATH_PART}"), Auth: &HTTPAuth{Bearer: conf.NewTemplate("${env:TOKEN}")}}
	st := newState(r, &Flow{Name: "f"})
	for _, tp := range []conf.Template{step.URL, step.Auth.Bearer} {
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
	r.Secrets = conf.SecretSource{
		LookupEnv:      func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		CredentialsDir: dir,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newState(r, &Flow{Name: "f"})
			st.beginStep(&StepSpec{ID: "first"}, nil)
			st.SetOutput("user_id", "42", false)
			st.beginStep(&StepSpec{ID: "second"}, nil)
			got, err := st.Expand(conf.NewTemplate(tt.tmpl))
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
			if tt.reason == ReasonCredentialsMissing && !errors.Is(err, conf.ErrSecretMissing) {
				t.Errorf("credentials_missing does not unwrap to conf.ErrSecretMissing: %v", err)
			}
		})
	}
}

// TestStateExpandRegistersSecrets checks the value net: a resolved secret,
// and the whole expansion containing it, are redacted; step outputs only
// when they are secret.
func TestStateExpandRegistersSecrets(t *testing.T) {
	r := NewRunner()
	r.Secrets = conf.SecretSource{LookupEnv: func(string) (string, bool) { return "s3cret-value", true }}
	st := newState(r, &Flow{Name: "f"})
	st.beginStep(&StepSpec{ID: "first"}, nil)
	st.SetOutput("user_id", "user-12345", false)
	st.SetOutput("session_value", "opaque-session", true)
	st.beginStep(&StepSpec{ID: "second"}, nil)

	for _, tmpl := range []string{"key=${env:K}", "${steps.first.user_id}", "${steps.first.session_value}"} {
		if _, err := st.Expand(conf.NewTemplate(tmpl)); err != nil {
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
