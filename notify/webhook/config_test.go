package webhook

import (
	"errors"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/notifytest"
)

// decode decodes settings as the config loader does: strictly, from a
// YAML node, then Validate.
func decode(t *testing.T, src string) (*Config, error) {
	t.Helper()
	c, err := notifytest.DecodeConfig(t, "webhook", src)
	return c.(*Config), err
}

// fieldErrors lists "path: message" of every FieldError in err.
func fieldErrors(t *testing.T, err error) []string {
	t.Helper()
	var out []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var fe conf.FieldError
		if !errors.As(e, &fe) {
			t.Errorf("not a conf.FieldError: %T %v", e, e)
			return
		}
		out = append(out, fe.Error())
	}
	if err != nil {
		walk(err)
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of each FieldError, in order; none: valid
	}{
		{name: "env url", yaml: "url: ${env:WEBHOOK_URL}"},
		{name: "literal https", yaml: "url: https://hooks.example.com/in/abc"},
		{name: "all settings", yaml: `
url: https://hooks.example.com/${credential:hook_path}
headers:
  Authorization: Bearer ${env:TOKEN}
  X-Team: identity
hmac_secret: ${file:/etc/authwatch/webhook.key}
timeout: 10s`},
		{name: "http loopback allowed", yaml: "url: http://127.0.0.1:9000/hook\nallow_http: true"},
		{name: "http localhost allowed", yaml: "url: http://localhost:9000/hook\nallow_http: true"},
		{name: "missing url", yaml: "timeout: 5s", want: []string{"url: required"}},
		{name: "step ref", yaml: "url: ${steps.token.access_token}", want: []string{"url: step outputs"}},
		{name: "malformed ref", yaml: "url: https://x/${oops", want: []string{"url: unclosed reference"}},
		{name: "http refused", yaml: "url: http://hooks.example.com/x", want: []string{"url: must use https"}},
		{name: "http literal scheme refused", yaml: "url: http://${env:HOST}/x", want: []string{"url: must use https"}},
		{name: "http remote with allow_http", yaml: "url: http://hooks.example.com/x\nallow_http: true", want: []string{"url: may use http only to localhost"}},
		{name: "not http", yaml: "url: ftp://hooks.example.com/x", want: []string{"url: must be an absolute https:// URL"}},
		{name: "relative", yaml: "url: /hook", want: []string{"url: must be an absolute"}},
		{name: "credentials in url", yaml: "url: https://bot:" + notifytest.WebhookToken + "@hooks.example.com/x", want: []string{"url: must not carry a user name"}},
		{name: "own header", yaml: "url: ${env:U}\nheaders:\n  content-type: text/plain", want: []string{"headers.content-type: Content-Type is set by authwatch"}},
		{name: "authwatch header", yaml: "url: ${env:U}\nheaders:\n  X-Authwatch-Signature-256: x", want: []string{"headers.X-Authwatch-Signature-256: X-Authwatch-Signature-256 is set by authwatch"}},
		{name: "bad header name", yaml: "url: ${env:U}\nheaders:\n  \"bad name\": x", want: []string{"headers.bad name: not a valid header name"}},
		{name: "header step ref", yaml: "url: ${env:U}\nheaders:\n  Authorization: Bearer ${steps.t.access_token}", want: []string{"headers.Authorization: step outputs"}},
		{name: "hmac step ref", yaml: "url: ${env:U}\nhmac_secret: ${steps.t.x}", want: []string{"hmac_secret: step outputs"}},
		{name: "every problem at once", yaml: "url: http://x.example\nhmac_secret: ${steps.t.x}\nheaders:\n  Host: x",
			want: []string{"url: must use https", "hmac_secret: step outputs", "headers.Host: Host is set by authwatch"}},
		{name: "bad duration", yaml: "url: ${env:U}\ntimeout: soon", want: []string{"timeout: bad duration"}},
		{name: "unknown key", yaml: "url: ${env:U}\nsecret: x", want: []string{"secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode(t, tt.yaml)
			got := fieldErrors(t, err)
			if len(got) != len(tt.want) {
				t.Fatalf("errors %q, want %d matching %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("error %d = %q, want it to contain %q", i, got[i], w)
				}
			}
			notifytest.CheckNoSecretInError(t, err)
		})
	}
}

// TestValidateMalformed: Validate alone (without the loader's decoding)
// reports a malformed reference, without echoing the text.
func TestValidateMalformed(t *testing.T) {
	c := &Config{URL: conf.NewTemplate("https://x/" + notifytest.WebhookToken + "${oops")}
	err := c.Validate()
	if got := fieldErrors(t, err); len(got) != 1 || !strings.HasPrefix(got[0], "url: malformed reference") {
		t.Errorf("Validate = %q", got)
	}
	notifytest.CheckNoSecretInError(t, err)
}

func TestRegistered(t *testing.T) {
	k, ok := notify.Lookup("webhook")
	if !ok || k.Doc == "" {
		t.Fatalf("kind webhook: %+v, registered %v", k, ok)
	}
	a, b := k.NewConfig(), k.NewConfig()
	if a == b {
		t.Error("NewConfig returns the same config twice")
	}
}
