package daemon

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/redact/redacttest"
)

func e2eRandom(prefix string) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b)
}

// e2eCanaryIdP is a token endpoint with refresh token rotation that, like
// some real ones, echoes what it was sent in its error descriptions, and an
// API that echoes the Authorization header in its error pages.
type e2eCanaryIdP struct {
	clientID, secret string

	mu     sync.Mutex
	valid  map[string]bool // refresh tokens that may be used (once)
	issued []string        // every token handed out
}

func (p *e2eCanaryIdP) newToken(prefix string) string {
	v := e2eRandom(prefix)
	p.issued = append(p.issued, v)
	return v
}

func (p *e2eCanaryIdP) tokens() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.issued...)
}

func (p *e2eCanaryIdP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	writeErr := func(status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	switch r.URL.Path {
	case "/token", "/echo-token":
		_ = r.ParseForm()
		id, secret, _ := r.BasicAuth()
		rt := r.PostForm.Get("refresh_token")
		if r.URL.Path == "/echo-token" {
			writeErr(http.StatusBadRequest, "invalid_grant", fmt.Sprintf("refresh token %s unknown (Authorization: %s, secret %s)", rt, r.Header.Get("Authorization"), secret))
			return
		}
		if id != p.clientID || secret != p.secret {
			writeErr(http.StatusUnauthorized, "invalid_client", fmt.Sprintf("client %s with secret %s is unknown (%s)", id, secret, r.Header.Get("Authorization")))
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if r.PostForm.Get("grant_type") != "refresh_token" || !p.valid[rt] {
			writeErr(http.StatusBadRequest, "invalid_grant", "refresh token "+rt+" is not valid")
			return
		}
		delete(p.valid, rt)
		next := p.newToken("rt-canary-")
		p.valid[next] = true
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": p.newToken("at-canary-"), "token_type": "Bearer",
			"expires_in": 300, "refresh_token": next})
	case "/api":
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer at-canary-") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	case "/api-echo":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "boom", "you_sent": r.Header.Get("Authorization"),
			"raw": r.Header.Get("Authorization")[min(7, len(r.Header.Get("Authorization"))):]})
	default:
		http.NotFound(w, r)
	}
}

// TestE2ESecretCanary: with known secret values (client secrets, seed and
// rotated refresh tokens, access tokens), nothing the daemon shows carries
// one: its log (at debug, so every run is logged), /metrics, /healthz, and
// the run history (steps, summaries) and flow states. The secrets table
// holds the rotated refresh token: that is its job. Targets that echo what
// they were sent are the hard case.
func TestE2ESecretCanary(t *testing.T) {
	t.Parallel()
	idp := &e2eCanaryIdP{clientID: "canary-client", secret: e2eRandom("cs-canary-"), valid: map[string]bool{}}
	seeds := map[string]string{"seed-rotate": e2eRandom("rt-seed-"), "seed-echo": e2eRandom("rt-seed-"), "seed-api": e2eRandom("rt-seed-")}
	wrongSecret := e2eRandom("cs-wrong-")
	for _, k := range []string{"seed-rotate", "seed-api"} {
		idp.valid[seeds[k]] = true
	}
	srv := httptest.NewServer(idp)
	t.Cleanup(srv.Close)

	secretDir := t.TempDir()
	writeSecret := func(name, v string) string {
		p := filepath.Join(secretDir, name)
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	clientSecretFile := writeSecret("client-secret", idp.secret)
	wrongSecretFile := writeSecret("wrong-secret", wrongSecret)
	seedFiles := map[string]string{}
	for k, v := range seeds {
		seedFiles[k] = writeSecret(k, v)
	}
	refresh := func(id, endpoint, secretFile, seedFile string, persist bool) string {
		return fmt.Sprintf(`  - id: %s
    kind: refresh
    token_url: %q
    client_id: canary-client
    client_secret: ${file:%s}
    refresh_token: ${file:%s}
    persist: %v
`, id, srv.URL+endpoint, secretFile, seedFile, persist)
	}
	call := func(path string) string {
		return fmt.Sprintf(`  - id: call
    kind: http
    url: %q
    auth: {bearer: "${steps.refresh.access_token}"}
    expect: {status: 200}
`, srv.URL+path)
	}
	files := map[string]string{
		"rotate.yaml":   "name: canary-rotate\nevery: 1s\nsteps:\n" + refresh("refresh", "/token", clientSecretFile, seedFiles["seed-rotate"], true) + call("/api"),
		"echo-idp.yaml": "name: canary-echo-idp\nevery: 1s\nsteps:\n" + refresh("refresh", "/echo-token", clientSecretFile, seedFiles["seed-echo"], false),
		"bad-client.yaml": "name: canary-bad-client\nevery: 1s\nsteps:\n" +
			refresh("refresh", "/token", wrongSecretFile, seedFiles["seed-echo"], false),
		"echo-api.yaml": "name: canary-echo-api\nevery: 1s\nsteps:\n" + refresh("refresh", "/token", clientSecretFile, seedFiles["seed-api"], true) + call("/api-echo"),
	}
	d := e2eStart(t, files, e2eOptions{logLevel: "debug"})

	e2eWaitFor(t, 15*time.Second, "3 runs of every canary flow", func() bool {
		for _, f := range []string{"canary-rotate", "canary-echo-idp", "canary-bad-client", "canary-echo-api"} {
			if st, ok := d.flowState(f); !ok || st.Runs < 3 {
				return false
			}
		}
		return true
	})

	// The flows did what they are for: rotation worked through the store
	// (each run used the token the previous one stored), the others failed
	// at the step that echoes.
	if st, _ := d.flowState("canary-rotate"); !st.OK || st.ConsecutivePasses < 3 {
		t.Errorf("canary-rotate: %+v, want 3 passes in a row (the stored rotated token is used)", st)
	}
	for flow, want := range map[string]string{"canary-echo-idp": "refresh", "canary-bad-client": "refresh", "canary-echo-api": "call"} {
		if st, _ := d.flowState(flow); st.OK {
			t.Errorf("%s passed; it must fail", flow)
		}
		for _, r := range d.runs(flow) {
			if r.OK || r.FailedStep != want {
				t.Errorf("%s: run failed at %q (%s), want %q", flow, r.FailedStep, r.Reason, want)
				break
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stored, ok, err := d.m.store.LoadSecret(ctx, "refresh_token/canary-rotate/refresh")
	if err != nil || !ok || !strings.HasPrefix(stored, "rt-canary-") {
		t.Errorf("the stored refresh token of canary-rotate: %v %v (%d chars), want a rotated one", ok, err, len(stored))
	}

	// Every form of every secret.
	var secrets []string
	add := func(vs ...string) {
		for _, v := range vs {
			secrets = append(secrets, v, url.QueryEscape(v))
		}
	}
	add(idp.secret, wrongSecret)
	for _, v := range seeds {
		add(v)
	}
	add(idp.tokens()...)
	for _, s := range []string{idp.secret, wrongSecret} {
		add(base64.StdEncoding.EncodeToString([]byte("canary-client:" + s)))
	}
	if len(idp.tokens()) < 6 {
		t.Fatalf("only %d tokens were issued", len(idp.tokens()))
	}

	check := func(where, text string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(text, s) {
				i := strings.Index(text, s)
				t.Errorf("%s carries a secret (%.12s...): ...%s...", where, s, text[max(0, i-120):min(len(text), i+len(s)+40)])
				return
			}
		}
	}
	_, metrics := d.get("/metrics")
	check("/metrics", metrics)
	_, health := d.get("/healthz")
	check("/healthz", health)
	_, ready := d.get("/readyz")
	check("/readyz", ready)
	states, err := d.m.store.FlowStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		check("flow state "+st.Flow, fmt.Sprintf("%+v", st))
		for _, r := range d.runs(st.Flow) {
			where := fmt.Sprintf("run %d of %s", r.ID, r.Flow)
			check(where+" steps", string(r.Steps))
			check(where+" summary", r.Summary)
			check(where, fmt.Sprintf("%s %s %s %s", r.Reason, r.Layer, r.FailedStep, r.Flow))
		}
	}
	// The log last, after the daemon stopped (the shutdown is logged too).
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	log := d.log.String()
	if !strings.Contains(log, "canary-echo-idp") || !strings.Contains(log, "flow failing") {
		t.Errorf("the log does not show the failing flows; is the check looking at the right thing?\n%s", log)
	}
	check("the log", log)
}

// TestE2EEveryEncodingCanary: canaries drawn from the printable ASCII set
// (`&<>"'\` %+/=` included) and from non-ASCII text, read from files, sent
// as client secrets, a password, a bearer token, an API key header, a
// query and a form body to targets that echo every credential in every
// encoding. No encoding of any canary appears in the daemon's log, the
// webhook notifications, the state directory's files (every DB row, the
// outbox included, read raw), the status page's HTML, the JSON API,
// /metrics or /healthz.
func TestE2EEveryEncodingCanary(t *testing.T) {
	t.Parallel()
	echo := httptest.NewServer(redacttest.Echo{})
	t.Cleanup(echo.Close)
	hook := pgNewHook(t)
	secretDir := t.TempDir()
	canaries := map[string]string{"secret": redacttest.Canaries[0], "password": redacttest.Canaries[1],
		"bearer": redacttest.Canaries[2], "apikey": "Ünïcødé-秘密-api-key-<&>\"'"}
	files := map[string]string{}
	var all []string
	for name, v := range canaries {
		files[name] = pgWriteSecret(t, secretDir, name, v)
		all = append(all, v)
	}
	flowFiles := map[string]string{
		"token.yaml": fmt.Sprintf(`name: enc-token
every: 1s
steps:
  - id: token
    kind: client_credentials
    token_url: %q
    client_id: canary-client
    client_secret: ${file:%s}
`, echo.URL+"/token", files["secret"]),
		"password.yaml": fmt.Sprintf(`name: enc-password
every: 1s
steps:
  - id: token
    kind: password
    token_url: %q
    client_id: canary-client
    client_secret: ${file:%s}
    client_auth: client_secret_post
    username: synthetic
    password: ${file:%s}
`, echo.URL+"/token.html", files["secret"], files["password"]),
		"api.yaml": fmt.Sprintf(`name: enc-api
every: 1s
steps:
  - id: call
    kind: http
    method: POST
    url: "%s/api.json-plain?k=${file:%s}"
    auth: {bearer: "${file:%s}"}
    headers: {X-Api-Key: "${file:%s}", Content-Type: application/x-www-form-urlencoded}
    body: "p=${file:%s}"
`, echo.URL, files["password"], files["bearer"], files["apikey"], files["secret"]),
		"api-text.yaml": fmt.Sprintf(`name: enc-api-text
every: 1s
steps:
  - id: call
    kind: http
    url: %q
    auth: {basic: {username: u, password: "${file:%s}"}}
`, echo.URL+"/api.txt", files["bearer"]),
	}
	d := pgStartInProcess(t, fmt.Sprintf(`notifiers:
  hook: {kind: webhook, url: %s/hook, allow_http: true}
routes:
  - {name: all, default: true, notifiers: [hook]}
policy: {open_after: 1, resolve_after: 1}
`, hook.URL), flowFiles)
	flowNames := []string{"enc-token", "enc-password", "enc-api", "enc-api-text"}
	e2eWaitFor(t, 30*time.Second, "2 runs of every flow and a page for each", func() bool {
		for _, f := range flowNames {
			if st, ok := d.flowState(f); !ok || st.Runs < 2 {
				return false
			}
		}
		return len(hook.Accepted()) >= len(flowNames)
	})
	check := func(where, text string) {
		t.Helper()
		for _, l := range redacttest.Leaks(text, all...) {
			t.Errorf("%s: %s", where, l)
		}
	}
	paths := []string{"/", "/incidents", "/api/v1/flows", "/api/v1/incidents", "/metrics", "/healthz"}
	for _, f := range flowNames {
		paths = append(paths, "/flows/"+f, "/api/v1/flows/"+f, "/api/v1/flows/"+f+"/runs")
	}
	for _, p := range paths {
		code, body := d.get(p)
		if code != http.StatusOK {
			t.Errorf("GET %s: %d", p, code)
		}
		check("GET "+p, body)
	}
	for i, r := range hook.Requests() {
		check(fmt.Sprintf("webhook delivery %d", i), string(r.Body))
	}
	for _, f := range flowNames {
		for _, r := range d.runs(f) {
			check(fmt.Sprintf("stored run %d of %s", r.ID, f), fmt.Sprintf("%+v %s", r, r.Steps))
		}
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	check("the log", d.log.String())
	entries, err := os.ReadDir(d.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join(d.stateDir, e.Name())); err == nil {
			check("the state file "+e.Name(), string(b))
		}
	}
}
