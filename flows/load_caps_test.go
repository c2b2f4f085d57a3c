package flows_test

import (
	"testing"

	"github.com/authwatch/authwatch/flows"
)

// TestFlowWithoutScheduleLoads: every and cron are optional: a file run
// only by authwatch check needs neither. The flow says it is not scheduled
// (the daemon then leaves it alone).
func TestFlowWithoutScheduleLoads(t *testing.T) {
	set, err := flows.LoadBytes(flows.LoadOptions{}, "adhoc.yaml", []byte("name: adhoc\nsteps:\n  - {id: a, kind: http, url: \"https://api.example.com/\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f := set.Flows[0]; f.Scheduled() || len(set.Warnings) != 0 {
		t.Errorf("Scheduled() = %v, warnings %v; want false and none", f.Scheduled(), set.Warnings)
	}
	for _, src := range []string{"name: a\nevery: 1m\n", "name: a\ncron: \"* * * * *\"\n"} {
		set, err := flows.LoadBytes(flows.LoadOptions{}, "a.yaml", []byte(src+"steps:\n  - {id: a, kind: http, url: \"https://api.example.com/\"}\n"))
		if err != nil || !set.Flows[0].Scheduled() {
			t.Errorf("%q: %v, want a scheduled flow", src, err)
		}
	}
}
