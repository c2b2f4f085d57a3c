package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/baseline"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// blSaveDrifted saves, in a new state directory, the baseline of flow
// "orders" learned from two runs with an hour-long access token and
// drifted to five minutes.
func blSaveDrifted(t *testing.T) (dir string, since time.Time) {
	t.Helper()
	dir = t.TempDir()
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute)
	run := func(n int, lifetime time.Duration) *flows.Result {
		return &flows.Result{Flow: "orders", Start: at.Add(time.Duration(n) * time.Minute), OK: true, Steps: []flows.StepResult{{
			ID: "token", Kind: "client_credentials", Status: flows.StepPassed, Duration: 40 * time.Millisecond,
			Shape: &flows.Shape{Tokens: []flows.TokenShape{{Kind: "access_token", Alg: "RS256", Kid: "k1", Lifetime: lifetime,
				Scopes: []string{"orders.read"}, Claims: map[string]string{"jti": string(rune('a' + n))}}}}}}}
	}
	b := baseline.New("orders", "digest", 2)
	for n := range 3 {
		lifetime := time.Hour
		if n == 2 {
			lifetime = 5 * time.Minute
		}
		obs, _ := baseline.FromResult(run(n, lifetime))
		b.Observe(obs, baseline.Rules{})
	}
	s, err := sqlite.Open(filepath.Join(dir, "authwatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data, _ := json.Marshal(b)
	if err := s.SaveBaseline(context.Background(), store.Baseline{Flow: "orders", Data: data, Updated: at}); err != nil {
		t.Fatal(err)
	}
	return dir, at.Add(2 * time.Minute)
}

// TestCLIBaselineShowAndAccept: show prints what is normal and what
// changed since when; accept records who and lists what it takes as
// normal; show then lists the accept as pending (the daemon applies it).
func TestCLIBaselineShowAndAccept(t *testing.T) {
	dir, since := blSaveDrifted(t)
	p := paths{config: filepath.Join(dir, "absent.yaml")}
	code, out, errOut := clRunWith(t, p, "baseline", "show", "orders", "--state-dir", dir)
	for _, want := range []string{"flow orders: learned from 2 passing runs",
		"changed (warning baseline_changed):\n  token: access token lifetime 3600 s → 300 s since " + since.Format("2006-01-02 15:04 UTC"),
		"token.access_token.alg = RS256", "token.access_token.scopes = orders.read", "token p50 40 ms, p95 40 ms"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("show: exit %d, lacks %q:\n%s%s", code, want, out, errOut)
		}
	}
	code, out, errOut = clRunWith(t, p, "baseline", "accept", "orders", "--by", "alice", "--state-dir", dir)
	if code != 0 || !strings.Contains(out, "accepted by alice at ") || !strings.Contains(out, "token: access token lifetime 3600 s → 300 s") {
		t.Errorf("accept: exit %d:\n%s%s", code, out, errOut)
	}
	code, out, _ = clRunWith(t, p, "baseline", "show", "orders", "--state-dir", dir, "--json")
	var v struct {
		baseline.View
		Pending []store.BaselineAccept `json:"pending_accepts"`
	}
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil || len(v.Changed) != 1 || len(v.Pending) != 1 || v.Pending[0].By != "alice" {
		t.Errorf("show --json: exit %d, %v:\n%s", code, err, out)
	}
	if code, _, errOut := clRunWith(t, p, "baseline", "show", "billing", "--state-dir", dir); code != 1 || !strings.Contains(errOut, "flow billing has no baseline") {
		t.Errorf("show of a flow without a baseline: exit %d: %s", code, errOut)
	}
	if code, _, errOut := clRunWith(t, p, "baseline", "show", "orders", "--state-dir", t.TempDir()); code != 2 || !strings.Contains(errOut, "no state database") {
		t.Errorf("show without a database: exit %d: %s", code, errOut)
	}
	if code, _, _ := clRunWith(t, p, "baseline", "accept", "--state-dir", dir); code != 2 {
		t.Errorf("accept without a flow: exit %d, want 2", code)
	}
}
