package main

// The README's commands are what a new user types first: each flow they
// name exists, and the flow the service section installs reads its secret
// the way the unit gives secrets (LoadCredential=, as ${credential:NAME}).

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

var (
	rmFlowFlag  = regexp.MustCompile(`--flow ([A-Za-z0-9_.:/@-]+)`)
	rmInstalled = regexp.MustCompile(`(?m)^(?:sed '(s/[^']*)' )?(flows\.d/[a-z0-9-]+\.yaml) \| sudo tee /etc/authwatch/flows\.d/`)
	rmCopied    = regexp.MustCompile(`cp flows\.d/`)
	rmSedSubst  = regexp.MustCompile(`^s/([^/]*)/([^/]*)/$`)
	rmCredRef   = regexp.MustCompile(`\$\{credential:([A-Za-z0-9_.@-]+)\}`)
)

func rmReadme(t *testing.T) (root, readme string) {
	t.Helper()
	root = testenv.RepoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return root, string(b)
}

// TestReadmeFlowNamesExist: before, `check --json --flow orders-api
// flows.d/` named a flow that flows.d does not have (exit 2).
func TestReadmeFlowNamesExist(t *testing.T) {
	root, readme := rmReadme(t)
	set, err := flows.Load(flows.LoadOptions{}, filepath.Join(root, "flows.d"))
	if err != nil {
		t.Fatal(err)
	}
	names := rmFlowFlag.FindAllStringSubmatch(readme, -1)
	if len(names) == 0 {
		t.Fatal("the README names no flow with --flow; this test checks nothing")
	}
	for _, m := range names {
		if _, ok := set.Flow(m[1]); !ok {
			t.Errorf("README: --flow %s: no such flow in flows.d (flows: %s)", m[1], strings.Join(flowNames(set), ", "))
		}
	}
}

// TestReadmeServiceFlowUsesCredentials: before, the service section copied
// flows.d/keycloak.yaml, which reads ${env:ORDERS_MONITOR_SECRET}, though
// the unit passes no environment: the flow failed as credentials_missing.
// The flow installed (after the README's sed) must read only credentials,
// each loaded by a LoadCredential= line the README writes, and load.
func TestReadmeServiceFlowUsesCredentials(t *testing.T) {
	root, readme := rmReadme(t)
	if rmCopied.MatchString(readme) {
		t.Error("the README copies a flow file from flows.d as it is; the examples read ${env:...}")
	}
	installs := rmInstalled.FindAllStringSubmatch(readme, -1)
	if len(installs) == 0 {
		t.Fatal("the README installs no flow into /etc/authwatch/flows.d; this test checks nothing")
	}
	for _, m := range installs {
		data, err := os.ReadFile(filepath.Join(root, m[2]))
		if err != nil {
			t.Fatal(err)
		}
		flow := string(data)
		if m[1] != "" {
			s := rmSedSubst.FindStringSubmatch(m[1])
			if s == nil || !strings.Contains(flow, s[1]) {
				t.Fatalf("README: sed '%s' does not apply to %s", m[1], m[2])
			}
			flow = strings.ReplaceAll(flow, s[1], s[2])
		}
		if strings.Contains(stripComments(flow), "${env:") {
			t.Errorf("the installed %s still reads ${env:...}, which the unit does not give", m[2])
		}
		for _, ref := range rmCredRef.FindAllStringSubmatch(stripComments(flow), -1) {
			if !strings.Contains(readme, "LoadCredential="+ref[1]+":") {
				t.Errorf("the installed %s reads ${credential:%s}, but the README loads no such credential", m[2], ref[1])
			}
		}
		if _, err := flows.LoadBytes(flows.LoadOptions{}, m[2], []byte(flow)); err != nil {
			t.Errorf("the installed %s does not load: %v", m[2], err)
		}
	}
}

func stripComments(yaml string) string {
	var b strings.Builder
	for line := range strings.Lines(yaml) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// TestCLIDocCoversCommands: docs/cli.md is written by hand; a new command
// must reach it.
func TestCLIDocCoversCommands(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "docs", "cli.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range manCommands(newRoot(installed)) {
		if !strings.Contains(string(b), c.CommandPath()+" ") {
			t.Errorf("docs/cli.md does not show %q", c.CommandPath())
		}
	}
}
