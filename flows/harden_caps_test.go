package flows_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
)

// capsStepsFlow is one flow with n http steps, one a line; step i is on
// line 4+i.
func capsStepsFlow(n int) string {
	var b strings.Builder
	b.WriteString("name: big\nevery: 1m\nsteps:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - {id: s%d, kind: http, url: \"http://127.0.0.1:9/\"}\n", i)
	}
	return b.String()
}

// capsFlows is a file of n flows under flows:, four lines each; flow i
// starts on line 2+4i.
func capsFlows(prefix string, n int) string {
	var b strings.Builder
	b.WriteString("flows:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "- name: %s%d\n  every: 1m\n  steps:\n  - {id: a, kind: http, url: \"http://127.0.0.1:9/\"}\n", prefix, i)
	}
	return b.String()
}

// capsDeepEquals is a flow whose expected JSON value (equals: any, where
// nesting is legal) nests block mappings so that the deepest mapping is
// at depth levels, counting the document's own mapping as 1: the root,
// steps, the step, expect, json and its item are 6 levels.
func capsDeepEquals(levels int) string {
	var b strings.Builder
	b.WriteString("name: deep\nevery: 1m\nsteps:\n  - id: a\n    kind: http\n    url: http://127.0.0.1:9/\n    expect:\n      json:\n        - path: .a\n          equals:\n")
	for i := 0; i < levels-7; i++ {
		b.WriteString(strings.Repeat("  ", 6+i) + "k:\n")
	}
	b.WriteString(strings.Repeat("  ", levels-1) + "k: v\n")
	return b.String()
}

// capsLoad loads src (bounded against hangs) and returns its problems.
func capsLoad(t *testing.T, name, src string) (*flows.Set, conf.Problems) {
	t.Helper()
	var set *flows.Set
	var err error
	hardWithin(t, "LoadBytes", func() { set, err = flows.LoadBytes(flows.LoadOptions{}, name, []byte(src)) })
	var ps conf.Problems
	if err != nil && !errors.As(err, &ps) {
		t.Fatalf("err is %T: %v", err, err)
	}
	return set, ps
}

// capsWantOne checks that ps is exactly one problem, starting with want.
func capsWantOne(t *testing.T, ps conf.Problems, want string) {
	t.Helper()
	if len(ps) != 1 || !strings.HasPrefix(ps[0].Error(), want) {
		got := ps.Error()
		if len(got) > 2000 {
			got = got[:2000] + "…"
		}
		t.Errorf("problems (%d):\n%s\nwant one starting with:\n%s", len(ps), got, want)
	}
}

// TestFlowStepsCap: 200 steps load; a 201st is refused where it stands,
// before any step is decoded (before: 100,000 steps took 8.3 s and 838 MB).
func TestFlowStepsCap(t *testing.T) {
	t.Parallel() // parsing sets at the limits takes seconds under -race
	if _, ps := capsLoad(t, "steps.yaml", capsStepsFlow(200)); len(ps) != 0 {
		t.Fatalf("200 steps: %v", ps)
	}
	_, ps := capsLoad(t, "steps.yaml", capsStepsFlow(201))
	capsWantOne(t, ps, "steps.yaml:204:5: steps[200]: a flow holds at most 200 steps; this one has 201 (split it into several flows)")
	_, ps = capsLoad(t, "steps.yaml", capsStepsFlow(10_000))
	capsWantOne(t, ps, "steps.yaml:204:5: steps[200]: a flow holds at most 200 steps; this one has 10000")
}

// TestFlowNestingCap: 64 levels load, 65 are refused at the node that
// passes the limit, whatever the style: block mappings (found after
// parsing), flow collections and chains of "- " (found before parsing:
// the parser is quadratic in them: 30,000 of either took 11-12 s).
func TestFlowNestingCap(t *testing.T) {
	if _, ps := capsLoad(t, "deep.yaml", capsDeepEquals(64)); len(ps) != 0 {
		t.Fatalf("64 levels: %v", ps)
	}
	tests := []struct {
		name, src, want string
	}{
		{"block mappings, 65 levels", capsDeepEquals(65), "deep.yaml:69:129: nesting deeper than 64 levels"},
		{"block mappings, 1,500 levels", capsDeepEquals(1500), "deep.yaml:69:129: nesting deeper than 64 levels"},
		{"flow collections", "name: deep\nevery: 1m\nlabels: " + strings.Repeat("[", 65) + strings.Repeat("]", 65) + "\n", "deep.yaml:3:73: nesting deeper than 64 levels"},
		{"a million flow collections", "x: " + strings.Repeat("{a: ", 1_000_000), "deep.yaml:1:260: nesting deeper than 64 levels"},
		{"a chain of dashes", "steps:\n  " + strings.Repeat("- ", 65) + "x\n", "deep.yaml:2:131: nesting deeper than 64 levels"},
		{"100,000 dashes", "steps:\n  " + strings.Repeat("- ", 100_000) + "x\n", "deep.yaml:2:131: nesting deeper than 64 levels"},
		{"dashes, then flow collections", strings.Repeat("- ", 10) + strings.Repeat("[", 55) + strings.Repeat("]", 55), "deep.yaml:1:75: nesting deeper than 64 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := capsLoad(t, "deep.yaml", tt.src)
			capsWantOne(t, ps, tt.want)
		})
	}
}

// TestFlowSetCap: 10,001 flows are refused at the 10,001st, counted across
// files; the set is refused with that one problem, whatever the flows
// decoded before it (a.yaml: an unknown step kind) would have said.
func TestFlowSetCap(t *testing.T) {
	t.Parallel() // parsing sets at the limits takes seconds under -race
	_, ps := capsLoad(t, "set.yaml", capsFlows("f", 10_001))
	capsWantOne(t, ps, "set.yaml:40002:3: flows[10000]: more than 10000 flows: a set of flow files holds at most 10000")

	dir := t.TempDir()
	tplWriteFile(t, filepath.Join(dir, "a.yaml"), "name: a\nevery: 1m\nsteps:\n  - {id: x, kind: nope}\n")
	tplWriteFile(t, filepath.Join(dir, "b.yaml"), capsFlows("b", 10_000))
	var err error
	hardWithin(t, "Load", func() { _, err = flows.Load(flows.LoadOptions{}, dir) })
	if !errors.As(err, &ps) {
		t.Fatalf("err = %v", err)
	}
	capsWantOne(t, ps, filepath.Join(dir, "b.yaml")+":39998:3: flows[9999]: more than 10000 flows")
}

// TestFlowFileCap: a flow file over 4 MiB is refused, pointing at where it
// passes the limit, and a named pipe in flows.d no longer hangs a load.
func TestFlowFileCap(t *testing.T) {
	dir := t.TempDir()
	line := "# " + strings.Repeat("x", 1021) + "\n" // 1 KiB a line
	big := capsStepsFlow(1) + strings.Repeat(line, 4<<10)
	path := filepath.Join(dir, "big.yaml")
	tplWriteFile(t, path, big)
	var err error
	hardWithin(t, "Load", func() { _, err = flows.Load(flows.LoadOptions{}, path) })
	var ps conf.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("err = %v", err)
	}
	// The flow is 80 bytes on 4 lines, then 4,096 comment lines of 1 KiB:
	// byte 4 MiB is 944 bytes into the last one, line 4,100.
	capsWantOne(t, ps, path+":4100:945: the file is larger than 4 MiB, the limit for a flow file")
	_, ps = capsLoad(t, "big.yaml", big)
	capsWantOne(t, ps, "big.yaml:4100:945: the file is larger than 4 MiB")

	fifo := filepath.Join(t.TempDir(), "pipe.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	hardWithin(t, "Load", func() { _, err = flows.Load(flows.LoadOptions{}, filepath.Dir(fifo)) })
	if !errors.As(err, &ps) {
		t.Fatalf("err = %v", err)
	}
	capsWantOne(t, ps, fifo+": a flow file must be a regular file, not a named pipe")
	if _, err := os.Stat(fifo); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkLoadCaps measures loading sets at the limits: one flow of
// MaxStepsPerFlow steps, and MaxFlows one-step flows in one file.
func BenchmarkLoadCaps(b *testing.B) {
	for _, bc := range []struct {
		name string
		src  string
	}{
		{"200 steps", capsStepsFlow(flows.MaxStepsPerFlow)},
		{"10000 flows", capsFlows("f", flows.MaxFlows)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.src)))
			for b.Loop() {
				if _, err := flows.LoadBytes(flows.LoadOptions{}, "bench.yaml", []byte(bc.src)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestFlowSetStepsCap: the steps of a whole set are capped too, counted
// before decoding: 251 flows of 200 steps are refused at step 50,001
// (before, 50,000 steps took 6.2 s and 420 MB to load, and the two
// other caps allow 2,000,000).
func TestFlowSetStepsCap(t *testing.T) {
	t.Parallel() // parsing sets at the limits takes seconds under -race
	var b strings.Builder
	b.WriteString("flows:\n")
	for f := 0; f < 251; f++ {
		fmt.Fprintf(&b, "- name: f%d\n  every: 1m\n  steps:\n", f)
		for i := 0; i < flows.MaxStepsPerFlow; i++ {
			fmt.Fprintf(&b, "  - {id: s%d, kind: http, url: \"http://127.0.0.1:9/\"}\n", i)
		}
	}
	_, ps := capsLoad(t, "steps.yaml", b.String())
	// Flow 250 starts on line 2+250*203; its first step is 3 lines on.
	capsWantOne(t, ps, "steps.yaml:50755:5: flows[250].steps[0]: more than 50000 steps: a set of flow files holds at most 50000")
}

// TestFlowNestingScanText: brackets in quoted scalars and comments are text,
// not nesting; an apostrophe inside a plain word does not hide what follows.
func TestFlowNestingScanText(t *testing.T) {
	many := strings.Repeat("[", 100)
	ok := "name: text\nevery: 1m\n# " + strings.Repeat("{", 100) + "\nlabels: {a: \"" + many + "\", b: '" + many + "''" + many + "', c: \"\\\"" + many + "\"}\n" +
		"steps:\n  - {id: a, kind: http, url: \"http://127.0.0.1:9/\"}  # " + many + "\n"
	if _, ps := capsLoad(t, "text.yaml", ok); len(ps) != 0 {
		t.Errorf("brackets in text were taken for nesting: %v", ps)
	}
	_, ps := capsLoad(t, "text.yaml", "name: text\nevery: 1m\nlabels: {a: don't, b: "+strings.Repeat("[", 70)+"\n")
	capsWantOne(t, ps, "text.yaml:3:86: nesting deeper than 64 levels")
}
