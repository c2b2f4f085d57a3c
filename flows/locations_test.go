package flows_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/authwatch/authwatch/flows"
)

func TestLocationsLoad(t *testing.T) {
	dir := t.TempDir()
	yaml := `flows:
  - name: everywhere
    every: 1m
    steps:
      - {id: api, kind: http, url: "https://api.example.com/health"}
  - name: two
    every: 1m
    locations: [eu-west, us-east]
    locations_policy: any
    steps:
      - {id: api, kind: http, url: "https://api.example.com/health"}
`
	if err := os.WriteFile(filepath.Join(dir, "f.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := flows.Load(flows.LoadOptions{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	all, two := set.Flows[0], set.Flows[1]
	if !all.RunsIn("eu-west") || !all.RunsIn("default") || all.PageOnAny() {
		t.Errorf("a flow without locations: RunsIn = %v, PageOnAny = %v", all.RunsIn("eu-west"), all.PageOnAny())
	}
	if !two.RunsIn("us-east") || two.RunsIn("ap-south") || !two.PageOnAny() {
		t.Errorf("locations %v: RunsIn(us-east) = %v, RunsIn(ap-south) = %v, PageOnAny = %v",
			two.Locations, two.RunsIn("us-east"), two.RunsIn("ap-south"), two.PageOnAny())
	}
}
