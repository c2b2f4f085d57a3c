package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// authwatch validate refuses, at the step, a refresh token kept by
// persist: true in a PostgreSQL store without a secret key, as the daemon
// does at its start; with a key the same flows are valid.
func TestValidatePersistNeedsASecretKeyOnPostgres(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	flowsDir := filepath.Join(dir, "flows.d")
	if err := os.Mkdir(flowsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	flow := "name: rotate\nevery: 1m\nsteps:\n  - id: refresh\n    kind: refresh\n    token_url: http://127.0.0.1:1/token\n" +
		"    client_id: c\n    client_auth: none\n    refresh_token: ${env:AW_VALIDATE_PERSIST_SEED}\n    persist: true\n"
	flowFile := filepath.Join(flowsDir, "rotate.yaml")
	if err := os.WriteFile(flowFile, []byte(flow), 0o600); err != nil {
		t.Fatal(err)
	}
	writeConfig := func(extra string) string {
		path := filepath.Join(dir, "authwatch.yaml")
		cfg := "state_dir: " + filepath.Join(dir, "state") + "\nflows_dir: " + flowsDir +
			"\nstore:\n  postgres:\n    dsn: host=/run/postgresql dbname=authwatch\n" + extra
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	code, _, stderr := runCmd(t, "validate", "--config", writeConfig(""))
	if code != exitInvalid || !strings.Contains(stderr, flowFile+":4:5: steps[0].persist: the state store is PostgreSQL without store.postgres.secret_key") {
		t.Errorf("without secret_key: exit %d, stderr:\n%s\nwant %d and the problem at the step's persist", code, stderr, exitInvalid)
	}
	code, stdout, stderr := runCmd(t, "validate", "--config", writeConfig("    secret_key: ${env:AW_VALIDATE_PERSIST_KEY}\n"))
	if code != exitOK || !strings.Contains(stdout, "ok: 1 flows") {
		t.Errorf("with secret_key: exit %d, stdout %q, stderr:\n%s\nwant %d", code, stdout, stderr, exitOK)
	}
}
