package metrics_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/internal/metrics"
)

// TestPerFlowSeriesLocationLabel: a cluster node's per-flow series carry
// its location (WithLocation) and are otherwise those of a single daemon,
// byte for byte; authwatch_flow_info, the same on every node, and the
// series not per flow have none.
func TestPerFlowSeriesLocationLabel(t *testing.T) {
	m := metrics.New(metrics.WithLocation("eu-west"))
	perFlowScenario(m)
	got := ownLines(exposition(t, m))
	want, err := os.ReadFile(filepath.Join("testdata", "perflow.golden"))
	if err != nil {
		t.Fatal(err)
	}
	labelled := 0
	var stripped []string
	for line := range strings.SplitSeq(strings.TrimSuffix(got, "\n"), "\n") {
		if !strings.Contains(line, `{flow="`) || strings.HasPrefix(line, "authwatch_flow_info") {
			stripped = append(stripped, line)
			continue
		}
		if !strings.Contains(line, `location="eu-west"`) {
			t.Errorf("a per-flow series without the location label: %s", line)
		}
		labelled++
		line = strings.Replace(line, `,location="eu-west"`, "", 1)
		stripped = append(stripped, strings.Replace(line, `location="eu-west",`, "", 1))
	}
	if labelled == 0 {
		t.Fatal("no per-flow series")
	}
	if s := strings.Join(stripped, "\n") + "\n"; s != string(want) {
		t.Errorf("without the location label the series differ from testdata/perflow.golden:\n%s", s)
	}
}
