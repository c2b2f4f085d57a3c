package schema

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
)

// flowWith is a valid flow around the given steps (YAML, indented 2).
func flowWith(steps string) string {
	return "name: t\nevery: 1m\nsteps:\n" + steps
}

const httpStep = "  - id: api\n    kind: http\n    url: https://api.example.com/\n"

// TestSchemaAgreesWithLoader: what the schema accepts, the loader accepts,
// and the other way round, except where a rule spans fields (the loader's
// alone) or the YAML decoder is lenient (the schema is stricter on purpose).
func TestSchemaAgreesWithLoader(t *testing.T) {
	tests := []struct {
		name          string
		yaml          string
		schemaOK      bool
		loaderOK      bool
		whyTheyDiffer string
	}{
		{name: "minimal", yaml: flowWith(httpStep), schemaOK: true, loaderOK: true},
		{name: "flows list, two documents", yaml: "flows:\n- " + strings.ReplaceAll(strings.TrimSpace(flowWith(httpStep)), "\n", "\n  ") + "\n---\n" + strings.Replace(flowWith(httpStep), "name: t", "name: u", 1), schemaOK: true, loaderOK: true},
		{name: "cron", yaml: strings.Replace(flowWith(httpStep), "every: 1m", `cron: "*/5 * * * *"`, 1), schemaOK: true, loaderOK: true},
		{name: "no schedule", yaml: strings.Replace(flowWith(httpStep), "every: 1m\n", "", 1), schemaOK: true, loaderOK: true},
		{name: "every and cron", yaml: strings.Replace(flowWith(httpStep), "every: 1m", "every: 1m\ncron: \"* * * * *\"", 1)},
		{name: "bad flow name", yaml: strings.Replace(flowWith(httpStep), "name: t", "name: -t", 1)},
		{name: "bad label name", yaml: strings.Replace(flowWith(httpStep), "every: 1m", "every: 1m\nlabels: {1team: x}", 1)},
		{name: "unknown flow key", yaml: strings.Replace(flowWith(httpStep), "every: 1m", "every: 1m\nretries: 3", 1)},
		{name: "unknown top-level key", yaml: "flows: []\nversion: 1\n"},
		{name: "no steps", yaml: "name: t\nevery: 1m\nsteps: []\n"},
		{name: "unknown kind", yaml: flowWith("  - id: a\n    kind: grpc\n")},
		{name: "missing kind", yaml: flowWith("  - id: a\n    url: https://x/\n")},
		{name: "bad step id", yaml: flowWith(strings.Replace(httpStep, "id: api", "id: Api", 1))},
		{name: "step id of 64 characters", yaml: flowWith(strings.Replace(httpStep, "id: api", "id: a"+strings.Repeat("b", 63), 1))},
		{name: "unknown step key", yaml: flowWith(httpStep + "    retries: 3\n")},
		{name: "key of another kind", yaml: flowWith(httpStep + "    origin: https://app.example.com\n")},
		{name: "missing url", yaml: flowWith("  - id: a\n    kind: http\n")},
		{name: "step timeout", yaml: flowWith(httpStep + "    timeout: 1.5s\n"), schemaOK: true, loaderOK: true},
		{name: "user_agent on flow and step", yaml: strings.Replace(flowWith(httpStep+"    user_agent: probe/2\n"), "every: 1m", "every: 1m\nuser_agent: probe/1", 1), schemaOK: true, loaderOK: true},
		{name: "step user_agent too long", yaml: flowWith(httpStep + "    user_agent: " + strings.Repeat("a", flows.MaxUserAgentLength+1) + "\n")},
		{name: "flow user_agent too long", yaml: strings.Replace(flowWith(httpStep), "every: 1m", "every: 1m\nuser_agent: "+strings.Repeat("a", flows.MaxUserAgentLength+1), 1)},
		{name: "duration without unit", yaml: flowWith(httpStep + "    timeout: \"30\"\n")},
		{name: "negative duration", yaml: flowWith(httpStep + "    timeout: -1s\n")},
		{name: "baseline off", yaml: strings.Replace(flowWith(httpStep), "every: 1m", "every: 1m\nbaseline: false", 1), schemaOK: true, loaderOK: true},
		{name: "baseline options", yaml: strings.Replace(flowWith(httpStep), "every: 1m", "every: 1m\nbaseline: {learn: 50, ignore: [\"*.latency\"], latency: {factor: 3, window: 10, min_increase: 200ms}}", 1), schemaOK: true, loaderOK: true},
		{name: "baseline latency off", yaml: strings.Replace(flowWith(httpStep), "every: 1m", "every: 1m\nbaseline: {latency: false}", 1), schemaOK: true, loaderOK: true},
		{name: "baseline learn too small", yaml: strings.Replace(flowWith(httpStep), "every: 1m", "every: 1m\nbaseline: {learn: 1}", 1)},
		{name: "baseline unknown key", yaml: strings.Replace(flowWith(httpStep), "every: 1m", "every: 1m\nbaseline: {lern: 5}", 1)},
		{name: "baseline a number", yaml: strings.Replace(flowWith(httpStep), "every: 1m", "every: 1m\nbaseline: 5", 1)},
		{name: "baseline latency factor 1", yaml: strings.Replace(flowWith(httpStep), "every: 1m", "every: 1m\nbaseline: {latency: {factor: 1}}", 1), schemaOK: true, whyTheyDiffer: "the loader wants a factor above 1; the schema says so in words"},
		{name: "status list", yaml: flowWith(httpStep + "    expect: {status: [401, 403], challenge: Bearer}\n"), schemaOK: true, loaderOK: true},
		{name: "status out of range", yaml: flowWith(httpStep + "    expect: {status: 700}\n")},
		{name: "status not a number", yaml: flowWith(httpStep + "    expect: {status: ok}\n")},
		{name: "header check", yaml: flowWith(httpStep + "    expect: {headers: {Cache-Control: {contains: no-store}}}\n"), schemaOK: true, loaderOK: true},
		{name: "unknown header check", yaml: flowWith(httpStep + "    expect: {headers: {Cache-Control: {starts_with: no}}}\n")},
		{name: "json check without path", yaml: flowWith(httpStep + "    expect: {json: [{equals: 1}]}\n")},
		{name: "references", yaml: flowWith(httpStep + "    headers: {X-A: \"${env:A}\", X-B: \"${file:/run/b}\", X-C: \"${credential:c.d}\", X-D: \"$${literal}\"}\n"), schemaOK: true, loaderOK: true},
		{name: "unknown reference kind", yaml: flowWith(httpStep + "    headers: {X-A: \"${secret:A}\"}\n")},
		{name: "relative file reference", yaml: flowWith(httpStep + "    headers: {X-A: \"${file:run/a}\"}\n")},
		{name: "unclosed reference", yaml: flowWith(httpStep + "    headers: {X-A: \"${env:A\"}\n")},
		{name: "bad client_auth", yaml: flowWith(tokenStep("    client_auth: secret_handshake\n"))},
		{name: "private_key_jwt without client_key", yaml: flowWith(tokenStep("    client_auth: private_key_jwt\n")),
			schemaOK: true, whyTheyDiffer: "a rule across fields"},
		{name: "token step", yaml: flowWith(tokenStep("    expect: {access_token: {audience: [api://orders], kind: access, min_lifetime: 5m}}\n")), schemaOK: true, loaderOK: true},
		{name: "bad token kind", yaml: flowWith(tokenStep("    expect: {access_token: {kind: refresh}}\n"))},
		{name: "scopes not a list", yaml: flowWith(tokenStep("    scopes: orders.read\n"))},
		{name: "preflight without origin", yaml: flowWith("  - id: p\n    kind: preflight\n    url: https://api.example.com/\n")},
		{name: "token_check", yaml: flowWith("  - id: c\n    kind: token_check\n    token: ${env:TOKEN}\n    issuer: https://sso.example.com\n    expect: {audience: [x]}\n"), schemaOK: true, loaderOK: true},

		{name: "no issuer and no token_url", yaml: flowWith(strings.Replace(tokenStep(""), "    token_url: https://sso.example.com/token\n", "", 1)),
			schemaOK: true, whyTheyDiffer: "a rule across fields"},
		{name: "bearer and basic", yaml: flowWith(httpStep + "    auth: {bearer: x, basic: {username: u, password: p}}\n"),
			schemaOK: true, whyTheyDiffer: "a rule across fields"},
		{name: "reference to a later step", yaml: flowWith(httpStep + "    headers: {X-A: \"${steps.later.status}\"}\n"),
			schemaOK: true, whyTheyDiffer: "references are checked against earlier steps"},
		{name: "unquoted number in a text field", yaml: flowWith(strings.Replace(tokenStep(""), "client_id: monitor", "client_id: 0123", 1)),
			loaderOK: true, whyTheyDiffer: "the YAML decoder turns 0123 into \"83\"; the schema asks for a quoted string"},
	}
	v := &validator{root: loadSchema(t)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			schemaErrs := schemaErrors(t, v, []byte(tt.yaml))
			_, loadErr := flows.LoadBytes(flows.LoadOptions{}, "test.yaml", []byte(tt.yaml))
			if got := len(schemaErrs) == 0; got != tt.schemaOK {
				t.Errorf("schema accepts: %v, want %v; errors: %v\n%s", got, tt.schemaOK, schemaErrs, tt.yaml)
			}
			if got := loadErr == nil; got != tt.loaderOK {
				t.Errorf("loader accepts: %v, want %v (%v)\n%s", got, tt.loaderOK, loadErr, tt.yaml)
			}
		})
	}
}

func tokenStep(extra string) string {
	return "  - id: token\n    kind: client_credentials\n    token_url: https://sso.example.com/token\n" +
		"    client_id: monitor\n    client_secret: ${env:SECRET}\n" + extra
}

// TestTemplatePatternMatchesParser compares the Template pattern with the
// loader on references written right and wrong.
func TestTemplatePatternMatchesParser(t *testing.T) {
	texts := []string{
		"", "plain", "$", "a$", "$$", "$x", "$$x", "${", "x${", "$${", "$$${", "$${x}", "$$${env:A}",
		"${env:A}", "${env:A_1}", "${env:1A}", "${env:}", "${env:A-B}", "${ENV:A}", "${env A}",
		"${file:/a}", "${file:/a b/c.txt}", "${file:a}", "${file:}", "${file:/a${b}",
		"${credential:c}", "${credential:c.d@e-f_g}", "${credential:c/d}", "${credential:c:d}",
		"${steps.prev.status}", "${steps.prev.Status}", "${steps.prev}", "${steps.prev.status.x}", "${steps.Prev.status}",
		"Bearer ${steps.prev.status}!", "${env:A}${env:B}", "${env:A}}", "}{$", "${}", "${env:A", "a ${env:A} b ${file:/c} d",
		"$${env:A", "$$${x}", "x$${y}${env:A}$",
	}
	v := &validator{root: loadSchema(t)}
	template := v.resolve("#/$defs/Template")
	for _, text := range texts {
		quoted, _ := json.Marshal(text)
		y := flowWith("  - id: prev\n    kind: http\n    url: https://x.example/\n" +
			"  - id: next\n    kind: http\n    url: https://x.example/\n    headers: {X-T: " + string(quoted) + "}\n")
		_, loadErr := flows.LoadBytes(flows.LoadOptions{}, "t.yaml", []byte(y))
		schemaOK := len(v.validate(template, text, "$")) == 0
		if schemaOK != (loadErr == nil) {
			t.Errorf("%q: pattern accepts %v, loader accepts %v (%v)", text, schemaOK, loadErr == nil, loadErr)
		}
	}
}

// TestDurationPatternMatchesLoader compares the Duration pattern with the
// loader.
func TestDurationPatternMatchesLoader(t *testing.T) {
	texts := []string{
		"0", "0s", "1s", "1.5s", "1.s", ".5s", "500ms", "1h30m", "2h45m30.5s", "10us", "10µs", "10μs", "3ns", "+5s",
		"", "1", "30", "-1s", "1d", "1 s", "s", ".s", ".", "1S", "1m-1s", "1e3s", "00", "01s",
		"1w", "1w2d3h", "1.5d", "0d", "1d1d", "1dd", "1wd", "1D", "1d-1h", "d", "1 d",
	}
	v := &validator{root: loadSchema(t)}
	duration := v.resolve("#/$defs/Duration")
	for _, text := range texts {
		y := fmt.Sprintf("name: t\nevery: 1m\ntimeout: %q\nsteps:\n%s", text, httpStep)
		_, loadErr := flows.LoadBytes(flows.LoadOptions{}, "t.yaml", []byte(y))
		schemaOK := len(v.validate(duration, text, "$")) == 0
		if schemaOK != (loadErr == nil) {
			t.Errorf("%q: pattern accepts %v, loader accepts %v (%v)", text, schemaOK, loadErr == nil, loadErr)
		}
	}
}
