package main

// The `check --json` contract (docs/cli.md, docs/check-json.schema.json):
// real output of real flows, against the in-process demo IdP and API and
// the oidc-provider test IdP under libfaketime, validated against the
// schema, with its record types, statuses, primary reasons and exit codes.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/authwatch/authwatch/internal/demo"
	"github.com/authwatch/authwatch/internal/demo/idp"
	"github.com/authwatch/authwatch/internal/report"
	"github.com/authwatch/authwatch/internal/testenv"
)

const checkJSONSchemaFile = "../../docs/check-json.schema.json"

// checkJSONSchema compiles docs/check-json.schema.json, with formats
// (date-time) asserted.
func checkJSONSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(checkJSONSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", checkJSONSchemaFile, err)
	}
	id, _ := doc.(map[string]any)["$id"].(string)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(id)
	if err != nil {
		t.Fatalf("compile %s: %v", checkJSONSchemaFile, err)
	}
	return s
}

// validateJSONLines validates every line of out against the schema and
// returns the decoded records.
func validateJSONLines(t *testing.T, s *jsonschema.Schema, out string) []map[string]any {
	t.Helper()
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(line))
		if err != nil {
			t.Errorf("line %d is not JSON: %v\n%s", i+1, err, line)
			continue
		}
		if err := s.Validate(inst); err != nil {
			t.Errorf("line %d does not match the schema:\n%s\n%v", i+1, line, err)
		}
	}
	return jsonLines(t, out)
}

// writeSecret writes a secret file for a ${file:...} reference (the
// environment stays untouched, so tests run in parallel).
func writeSecret(t *testing.T, dir, name, value string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// contractFlows cover every status: pass, warn (a short token lifetime;
// an IdP clock 10 minutes behind), fail with skipped steps after it.
const contractFlows = `flows:
  - name: passing
    every: 1m
    steps:
      - id: token
        kind: client_credentials
        issuer: "{{issuer}}"
        client_id: orders-client
        client_secret: ${file:{{orders}}}
        scopes: [orders.read]
      - id: list
        kind: http
        url: "{{api}}/orders"
        auth: {bearer: "${steps.token.access_token}", audience: api://orders}
  - name: short-lived
    every: 1m
    steps:
      - id: token
        kind: client_credentials
        issuer: "{{issuer}}"
        client_id: orders-client
        client_secret: ${file:{{orders}}}
        scopes: [orders.read]
        expect: {access_token: {min_lifetime: 24h}}
  - name: skewed-idp
    every: 1m
    steps:
      - id: token
        kind: client_credentials
        issuer: "{{skewed}}"
        client_id: cc-client
        client_secret: ${file:{{cc}}}
        client_auth: client_secret_basic
        resource: [https://api.example.test/]
        scopes: [api:read]
  - name: wrong-audience
    every: 1m
    steps:
      - id: token
        kind: client_credentials
        issuer: "{{issuer}}"
        client_id: billing-client
        client_secret: ${file:{{billing}}}
      - id: list
        kind: http
        url: "{{api}}/orders"
        auth: {bearer: "${steps.token.access_token}", audience: api://orders}
      - id: after
        kind: http
        url: "{{api}}/orders"
`

// TestCheckJSONContract: real `check --json` output matches the schema,
// with one record per step, one per flow and a closing summary; statuses,
// ok, primary reasons of warn and fail flows, and exit codes as documented.
func TestCheckJSONContract(t *testing.T) {
	t.Parallel()
	schema := checkJSONSchema(t)
	env, err := demo.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Close() })
	skewed := testenv.NodeOIDCProvider(t, nil, testenv.Faketime(t, "-10m")...)
	dir := t.TempDir()
	fill := strings.NewReplacer("{{issuer}}", env.IdP.Issuer(), "{{api}}", env.API.URL(), "{{skewed}}", skewed.Issuer,
		"{{orders}}", writeSecret(t, dir, "orders", idp.OrdersClientSecret),
		"{{billing}}", writeSecret(t, dir, "billing", idp.BillingClientSecret),
		"{{cc}}", writeSecret(t, dir, "cc", "cc-secret"))
	flowsDir := filepath.Join(dir, "flows.d")
	if err := os.Mkdir(flowsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(flowsDir, "contract.yaml"), []byte(fill.Replace(contractFlows)), 0o600); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runCmd(t, "check", "--json", flowsDir)
	if code != exitFailed {
		t.Errorf("exit %d, want %d (a flow fails); stderr:\n%s", code, exitFailed, stderr)
	}
	records := validateJSONLines(t, schema, stdout)
	flowRecs, steps := map[string]map[string]any{}, map[string]map[string]any{}
	for _, r := range records {
		switch r["type"] {
		case "flow":
			flowRecs[r["flow"].(string)] = r
		case "step":
			steps[r["flow"].(string)+"/"+r["step"].(string)] = r
		}
	}
	for _, c := range []struct {
		flow, status, reason string
		ok                   any
	}{
		{"passing", "pass", "", true},
		{"short-lived", "warn", "token_lifetime_short", true},
		{"skewed-idp", "warn", "clock_skew", true},
		{"wrong-audience", "fail", "audience_mismatch", false},
	} {
		r := flowRecs[c.flow]
		if r == nil {
			t.Errorf("no flow record for %s", c.flow)
			continue
		}
		reason, _ := r["reason"].(string)
		if r["status"] != c.status || reason != c.reason || r["ok"] != c.ok {
			t.Errorf("flow %s: status %v, reason %q, ok %v; want %s, %q, %v", c.flow, r["status"], reason, r["ok"], c.status, c.reason, c.ok)
		}
	}
	if s := steps["skewed-idp/token"]; s == nil || s["status"] != "warn" || s["reason"] != "clock_skew" || s["layer"] != "client" {
		t.Errorf("the skewed IdP's step: %v; want warn with reason clock_skew, layer client", s)
	}
	if s := steps["wrong-audience/after"]; s == nil || s["status"] != "skip" || s["ok"] != nil {
		t.Errorf("the step after a failure: %v; want skip without ok", s)
	}
	last := records[len(records)-1]
	want := map[string]any{"type": "summary", "schema_version": 1.0, "flows": 4.0, "pass": 1.0, "warn": 2.0, "fail": 1.0, "skip": 0.0, "errors": 0.0, "exit_code": 1.0}
	for k, v := range want {
		if last[k] != v {
			t.Errorf("summary %s = %v, want %v (summary: %v)", k, last[k], v, last)
		}
	}

	t.Run("warnings exit 0, or 1 with --fail-on-warning", func(t *testing.T) {
		if code, stdout, _ := runCmd(t, "check", "--json", "--flow", "skewed-idp", flowsDir); code != exitOK {
			t.Errorf("a warning: exit %d, want %d\n%s", code, exitOK, stdout)
		}
		code, stdout, _ := runCmd(t, "check", "--json", "--fail-on-warning", "--flow", "short-lived", flowsDir)
		recs := validateJSONLines(t, schema, stdout)
		if code != exitFailed || recs[len(recs)-1]["exit_code"] != 1.0 {
			t.Errorf("--fail-on-warning: exit %d, summary %v; want %d", code, recs[len(recs)-1], exitFailed)
		}
		if code, _, _ := runCmd(t, "check", "--fail-on-warning", "--flow", "passing", flowsDir); code != exitOK {
			t.Errorf("--fail-on-warning on a clean pass: exit %d, want %d", code, exitOK)
		}
	})

	t.Run("configuration errors are error records, exit 2", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.yaml")
		if err := os.WriteFile(bad, []byte(badFlows), 0o600); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := runCmd(t, "check", "--json", bad)
		recs := validateJSONLines(t, schema, stdout)
		if code != exitInvalid || len(recs) != 2 {
			t.Fatalf("exit %d, %d records; want %d, an error and the summary:\n%s\nstderr:\n%s", code, len(recs), exitInvalid, stdout, stderr)
		}
		e := recs[0]
		if e["type"] != "error" || e["file"] != bad || e["line"] != 6.0 || e["column"] == nil || !strings.Contains(e["message"].(string), "tokenz") {
			t.Errorf("error record %v; want %s line 6 naming the kind", e, bad)
		}
		if s := recs[1]; s["type"] != "summary" || s["exit_code"] != 2.0 || s["errors"] != 1.0 || s["flows"] != 0.0 {
			t.Errorf("summary %v", s)
		}
		code, stdout, _ = runCmd(t, "check", "--json", "--flow", "nope", flowsDir)
		recs = validateJSONLines(t, schema, stdout)
		if code != exitInvalid || len(recs) != 2 || recs[0]["type"] != "error" || !strings.Contains(fmt.Sprint(recs[0]["message"]), "no flow named nope") {
			t.Errorf("unknown --flow: exit %d, records %v", code, recs)
		}
	})
}

// TestCheckJSONCancelledFlowIsSkip: a flow cut short by authwatch itself
// (Ctrl-C while its request hangs) is a skip flow, without ok, and the
// check exits 1: not everything was checked.
func TestCheckJSONCancelledFlowIsSkip(t *testing.T) {
	t.Parallel()
	schema := checkJSONSchema(t)
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	file := filepath.Join(t.TempDir(), "hang.yaml")
	if err := os.WriteFile(file, []byte("name: hang\nevery: 1m\nsteps:\n  - {id: call, kind: http, url: \""+srv.URL+"/\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	go func() {
		select {
		case <-arrived:
			cancel()
		case <-ctx.Done():
		}
	}()
	var out, errb strings.Builder
	code := run(ctx, []string{"check", "--json", file}, &out, &errb)
	recs := validateJSONLines(t, schema, out.String())
	if code != exitFailed || len(recs) != 3 {
		t.Fatalf("exit %d, %d records; want %d and step, flow, summary:\n%s\nstderr:\n%s", code, len(recs), exitFailed, out.String(), errb.String())
	}
	if f := recs[1]; f["status"] != "skip" || f["ok"] != nil || f["cancelled"] != true {
		t.Errorf("flow record %v; want skip, cancelled, no ok", f)
	}
	if s := recs[2]; s["skip"] != 1.0 || s["exit_code"] != 1.0 {
		t.Errorf("summary %v", s)
	}
}

// TestCheckJSONSchemaNamesEveryField: every field the records can carry is
// in the schema (which closes each record), so a field added to a record
// type fails here until it is documented.
func TestCheckJSONSchemaNamesEveryField(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(checkJSONSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Defs map[string]struct {
			Properties map[string]any `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	for def, v := range map[string]any{"step": report.StepJSON{}, "flow": report.FlowJSON{}, "summary": report.SummaryJSON{},
		"error": report.ErrorJSON{}, "finding": report.FindingJSON{}} {
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			if _, ok := schema.Defs[def].Properties[name]; !ok {
				t.Errorf("%s.%s (json %q) is not in $defs/%s of %s", rt.Name(), rt.Field(i).Name, name, def, checkJSONSchemaFile)
			}
		}
		if n, m := rt.NumField(), len(schema.Defs[def].Properties); n != m {
			t.Errorf("$defs/%s has %d properties, %s %d fields", def, m, rt.Name(), n)
		}
	}
}

// TestValidateStrict: an unset secret is a warning (exit 0, as a flow file
// is often checked where its secrets are not set); --strict makes it exit 2.
func TestValidateStrict(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "unset.yaml")
	flow := "name: unset\nevery: 1m\nsteps:\n  - id: token\n    kind: client_credentials\n    token_url: http://127.0.0.1:9/token\n" +
		"    client_id: a\n    client_secret: ${env:AW_STRICT_TEST_SURELY_UNSET}\n"
	if err := os.WriteFile(file, []byte(flow), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCmd(t, "validate", file)
	if code != exitOK || !strings.Contains(stderr, "warning: "+file+":8:20:") || !strings.Contains(stdout, "ok: 1 flows") {
		t.Errorf("validate: exit %d, stdout %q, stderr:\n%s\nwant exit %d with a positioned warning", code, stdout, stderr, exitOK)
	}
	code, stdout, stderr = runCmd(t, "validate", "--strict", file)
	if code != exitInvalid || stdout != "" || !strings.Contains(stderr, "AW_STRICT_TEST_SURELY_UNSET") || !strings.Contains(stderr, "1 warning with --strict: the configuration is invalid") {
		t.Errorf("validate --strict: exit %d, stdout %q, stderr:\n%s\nwant exit %d", code, stdout, stderr, exitInvalid)
	}
}

// TestCheckJSONErrorCanary: a literal secret on the line of a configuration
// error, and one in the field the error is about, appear in no error
// record (records never quote the source line), nor in the lines stderr
// quotes under each problem (before, line 4 showed the secret there).
func TestCheckJSONErrorCanary(t *testing.T) {
	t.Parallel()
	const secret = "Canary-literal-s3cret&<x>"
	file := filepath.Join(t.TempDir(), "leak.yaml")
	flow := "name: leak\nevery: 1m\nsteps:\n" +
		"  - {id: token, kind: client_credentials, token_url: \"http://127.0.0.1:9/token\", client_id: a, client_secret: \"" + secret + "\", bogus: 1}\n" +
		"  - id: again\n    kind: client_credentials\n    token_url: http://127.0.0.1:9/token\n    client_id: a\n    client_secret: {nested: \"" + secret + "\"}\n"
	if err := os.WriteFile(file, []byte(flow), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCmd(t, "check", "--json", file)
	recs := validateJSONLines(t, checkJSONSchema(t), stdout)
	if code != exitInvalid || len(recs) < 3 || recs[0]["type"] != "error" || recs[0]["line"] != 4.0 {
		t.Errorf("exit %d, records:\n%s\nwant %d with an error record at line 4 and one at line 9", code, stdout, exitInvalid)
	}
	assertNoSecrets(t, "check --json stdout", stdout, []string{secret, "Canary-literal"})
	// stderr quotes each line under its problem, the secret hidden.
	assertNoSecrets(t, "check --json stderr", stderr, []string{secret, "Canary-literal"})
	if !strings.Contains(stderr, `client_secret: [redacted], bogus: 1}`) {
		t.Errorf("stderr does not quote line 4 with the secret hidden:\n%s", stderr)
	}
}

// TestCheckJSONTemplateErrorCanary: a literal password that happens to
// contain "${" is a template error; neither the error record nor stderr
// quotes the field's text to explain it.
func TestCheckJSONTemplateErrorCanary(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "leak.yaml")
	flow := "name: leak\nevery: 1m\nsteps:\n" +
		"  - id: token\n    kind: client_credentials\n    token_url: http://127.0.0.1:9/token\n    client_id: a\n" +
		"    client_secret: \"Canary-${s3cret}-word\"\n" +
		"  - id: again\n    kind: client_credentials\n    token_url: http://127.0.0.1:9/token\n    client_id: a\n" +
		"    client_secret: \"Canary-${unclosed-s3cret\"\n"
	if err := os.WriteFile(file, []byte(flow), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCmd(t, "check", "--json", file)
	recs := validateJSONLines(t, checkJSONSchema(t), stdout)
	if code != exitInvalid || len(recs) < 2 || recs[0]["type"] != "error" || !strings.Contains(stdout, "bad reference at character 8") || !strings.Contains(stdout, "unclosed reference at character 8") {
		t.Errorf("exit %d, records:\n%s\nwant %d with the two template errors", code, stdout, exitInvalid)
	}
	assertNoSecrets(t, "check --json stdout", stdout, []string{"s3cret", "Canary-"})
	assertNoSecrets(t, "check --json stderr", stderr, []string{"s3cret", "Canary-"})
}
