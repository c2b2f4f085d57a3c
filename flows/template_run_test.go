package flows_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
)

// tplRecorder is a tiny target that remembers what each request carried.
type tplRecorder struct {
	mu   sync.Mutex
	seen []string // "path auth x-api-key"
}

func (rc *tplRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	rc.seen = append(rc.seen, r.URL.Path+" "+r.Header.Get("Authorization")+" "+r.Header.Get("X-Api-Key"))
	rc.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"id": 42}`))
}

func (rc *tplRecorder) requests() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.seen...)
}

func tplStartTarget(t *testing.T) (*tplRecorder, string) {
	t.Helper()
	rc := &tplRecorder{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

func tplLoadFlow(t *testing.T, src string) *flows.Flow {
	t.Helper()
	set, err := flows.LoadBytes(flows.LoadOptions{Secrets: loadAllSet()}, "run.yaml", []byte(src))
	if err != nil {
		t.Fatalf("LoadBytes:\n%v\n%s", err, src)
	}
	return set.Flows[0]
}

func tplRunner(env map[string]string, credDir string) *flows.Runner {
	r := flows.NewRunner()
	r.Secrets = conf.SecretSource{
		LookupEnv:      func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		CredentialsDir: credDir,
	}
	return r
}

func tplWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// tplShown is everything a result shows (failure included), for leak checks.
func tplShown(t *testing.T, res *flows.Result) string {
	t.Helper()
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, sr := range res.Steps {
		ex, _ := json.Marshal(sr.Exchanges)
		s += string(ex)
		if sr.Failure != nil {
			fj, _ := json.Marshal(sr.Failure.Evidence)
			s += sr.Failure.Summary + sr.Failure.Next + string(fj)
		}
	}
	return s
}

func TestRunSecretReferences(t *testing.T) {
	dir := t.TempDir()
	tplWriteFile(t, filepath.Join(dir, "token"), "file-token-1234\n")
	tplWriteFile(t, filepath.Join(dir, "token-crlf"), "crlf-token-1234\r\n")
	tplWriteFile(t, filepath.Join(dir, "api-key"), "credential-key-1234\n")

	tests := []struct {
		name   string
		auth   string // YAML for the step's auth and headers
		env    map[string]string
		want   string // what the target saw: "path auth x-api-key"
		reason flows.Reason
		msg    string
		secret string // a value that must not appear in the result
	}{
		{
			name: "env bearer", auth: `auth: {bearer: "${env:API_TOKEN}"}`,
			env: map[string]string{"API_TOKEN": "env-token-1234"}, want: "/api Bearer env-token-1234 ", secret: "env-token-1234",
		},
		{
			name: "file content ending in a newline", auth: `auth: {bearer: "${file:` + dir + `/token}"}`,
			want: "/api Bearer file-token-1234 ", secret: "file-token-1234",
		},
		{
			name: "file content ending in CRLF", auth: `auth: {bearer: "${file:` + dir + `/token-crlf}"}`,
			want: "/api Bearer crlf-token-1234 ", secret: "crlf-token-1234",
		},
		{
			name: "credential from CredentialsDir in a header", auth: `headers: {X-Api-Key: "key=${credential:api-key}"}`,
			want: "/api  key=credential-key-1234", secret: "credential-key-1234",
		},
		{
			name: "unset env", auth: `auth: {bearer: "${env:API_TOKEN}"}`,
			reason: flows.ReasonCredentialsMissing, msg: "${env:API_TOKEN}: environment variable API_TOKEN is not set",
		},
		{
			name: "empty env", auth: `auth: {bearer: "${env:API_TOKEN}"}`, env: map[string]string{"API_TOKEN": ""},
			reason: flows.ReasonCredentialsMissing, msg: "environment variable API_TOKEN is empty",
		},
		{
			name: "missing file", auth: `auth: {bearer: "${file:` + dir + `/gone}"}`,
			reason: flows.ReasonCredentialsMissing, msg: "file " + dir + "/gone does not exist",
		},
		{
			name: "missing credential", auth: `auth: {basic: {username: u, password: "${credential:nope}"}}`,
			reason: flows.ReasonCredentialsMissing, msg: "${credential:nope}: credential nope does not exist",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, url := tplStartTarget(t)
			f := tplLoadFlow(t, "name: secrets\nevery: 1m\nsteps:\n  - id: api\n    kind: http\n    url: "+url+"/api\n    "+tt.auth+"\n")
			res := tplRunner(tt.env, dir).Run(context.Background(), f)
			if tt.reason == "" {
				if !res.OK {
					t.Fatalf("run failed: %v", res.Failure())
				}
				if got := rc.requests(); len(got) != 1 || got[0] != tt.want {
					t.Errorf("target saw %q, want %q", got, tt.want)
				}
				if s := tplShown(t, res); strings.Contains(s, tt.secret) {
					t.Errorf("the result shows the secret %q: %s", tt.secret, s)
				}
				return
			}
			if res.OK || len(res.Steps) != 1 || res.Steps[0].Status != flows.StepFailed {
				t.Fatalf("res = %+v, want the step failed", res)
			}
			fl := res.Failure()
			if fl.Reason != tt.reason || !strings.Contains(fl.Summary, tt.msg) {
				t.Errorf("failure = %s: %s; want %s with %q", fl.Reason, fl.Summary, tt.reason, tt.msg)
			}
			if fl.Flow != "secrets" || fl.Step != "api" {
				t.Errorf("failure names %s/%s", fl.Flow, fl.Step)
			}
			if got := rc.requests(); len(got) != 0 {
				t.Errorf("a request was made without its credential: %q", got)
			}
		})
	}
}

// TestRunRereadsRotatedFile checks that ${file:...} is read on every run,
// so a rotated secret is used without a restart or reload.
func TestRunRereadsRotatedFile(t *testing.T) {
	rc, url := tplStartTarget(t)
	path := filepath.Join(t.TempDir(), "token")
	tplWriteFile(t, path, "first-token-aaaa\n")
	f := tplLoadFlow(t, "name: rotate\nevery: 1m\nsteps:\n  - id: api\n    kind: http\n    url: "+url+"/api\n    auth: {bearer: \"${file:"+path+"}\"}\n")
	r := tplRunner(nil, "")

	first := r.Run(context.Background(), f)
	// Rotate the way secret managers do: write a new file, rename over.
	tplWriteFile(t, path+".new", "second-token-bbbb\n")
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	second := r.Run(context.Background(), f)

	if !first.OK || !second.OK {
		t.Fatalf("runs failed: %v / %v", first.Failure(), second.Failure())
	}
	want := []string{"/api Bearer first-token-aaaa ", "/api Bearer second-token-bbbb "}
	if got := rc.requests(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("target saw %q, want %q", got, want)
	}
	if s := tplShown(t, second); strings.Contains(s, "second-token-bbbb") || strings.Contains(s, "first-token-aaaa") {
		t.Errorf("the result shows a token: %s", s)
	}
}

// TestRunStepOutputs checks ${steps.ID.NAME} between steps of one run, and
// that runs do not share outputs.
func TestRunStepOutputs(t *testing.T) {
	rc, url := tplStartTarget(t)
	f := tplLoadFlow(t, `name: outputs
every: 1m
steps:
  - id: first
    kind: http
    url: `+url+`/first
    extract:
      user_id: {json: .id}
  - id: second
    kind: http
    url: `+url+`/users/${steps.first.user_id}/${steps.first.status}
`)
	res := tplRunner(nil, "").Run(context.Background(), f)
	if !res.OK {
		t.Fatalf("run failed: %v", res.Failure())
	}
	want := []string{"/first  ", "/users/42/200  "}
	if got := rc.requests(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("target saw %q, want %q", got, want)
	}
}

// TestRunBearerRedactedInEvidence checks that the recorded exchange keeps
// the scheme and shows a fingerprint instead of the token.
func TestRunBearerRedactedInEvidence(t *testing.T) {
	_, url := tplStartTarget(t)
	f := tplLoadFlow(t, "name: ev\nevery: 1m\nsteps:\n  - id: api\n    kind: http\n    url: "+url+"/api\n    auth: {bearer: \"${env:T}\"}\n")
	res := tplRunner(map[string]string{"T": "evidence-token-9999"}, "").Run(context.Background(), f)
	if !res.OK || len(res.Steps[0].Exchanges) != 1 {
		t.Fatalf("res = %+v", res)
	}
	auth := res.Steps[0].Exchanges[0].RequestHeaders["Authorization"]
	if len(auth) != 1 || !strings.HasPrefix(auth[0], "Bearer [redacted sha256:") || strings.Contains(auth[0], "evidence-token-9999") {
		t.Errorf("Authorization in evidence = %q", auth)
	}
}
