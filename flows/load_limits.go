package flows

import (
	"fmt"

	"github.com/goccy/go-yaml/ast"

	"github.com/authwatch/authwatch/internal/conf"
)

// Limits on flow files. Each is far above any real configuration and far
// below what makes a load slow: past them the file is a mistake (or a
// generator gone wrong), and it is refused at the place it passes the
// limit rather than loaded for seconds and hundreds of megabytes. (How
// deep a file may nest is conf.MaxNesting, the same for every file.)
const (
	// MaxFlowFileSize bounds one flow file.
	MaxFlowFileSize = 4 << 20
	// MaxStepsPerFlow bounds the steps of one flow (100,000 steps took
	// 8.3 s and 838 MB to load).
	MaxStepsPerFlow = 200
	// MaxFlows bounds the flows of a whole set of files (10,000 one-step
	// flows load in about 1.6 s; the benchmark's 10,000 flows with at most
	// 34-42 MB of heap in use, BenchmarkLoad10000Flows).
	MaxFlows = 10_000
	// MaxStepsInSet bounds the steps of a whole set of files: the two caps
	// above would otherwise allow 2,000,000 steps (minutes and tens of GB).
	// 50,000 steps load in about 6 s with 420 MB resident.
	MaxStepsInSet = 50_000
)

// offsetPosition is the line and column of byte offset in data.
func offsetPosition(file string, data []byte, offset int) conf.Position {
	line, col := 1, 1
	for _, c := range data[:offset] {
		col++
		if c == '\n' {
			line, col = line+1, 1
		}
	}
	return conf.Position{File: file, Line: line, Column: col}
}

// setCounter counts flows and steps across the parsed files, each file
// before it is decoded, and finds the first that passes MaxFlows or
// MaxStepsInSet.
type setCounter struct {
	flows, steps int
	at           conf.Position
	path, msg    string
}

func (c *setCounter) document(file string, body ast.Node) bool {
	m, ok := body.(*ast.MappingNode)
	if !ok {
		return true
	}
	list, ok := mappingValue(m, "flows").(*ast.SequenceNode)
	if !ok {
		return c.flow(file, "", m)
	}
	for i, n := range list.Values {
		if !c.flow(file, fmt.Sprintf("flows[%d]", i), n) {
			return false
		}
	}
	return true
}

func (c *setCounter) flow(file, path string, n ast.Node) bool {
	if c.flows++; c.flows > MaxFlows {
		c.at, c.path, c.msg = conf.PositionOf(file, n), path, fmt.Sprintf("more than %d flows: a set of flow files holds at most %d", MaxFlows, MaxFlows)
		return false
	}
	m, _ := n.(*ast.MappingNode)
	if m == nil {
		return true
	}
	steps, _ := mappingValue(m, "steps").(*ast.SequenceNode)
	if steps == nil {
		return true
	}
	if c.steps+len(steps.Values) > MaxStepsInSet {
		i := MaxStepsInSet - c.steps
		c.at, c.path = conf.PositionOf(file, steps.Values[i]), conf.JoinPath(path, fmt.Sprintf("steps[%d]", i))
		c.msg = fmt.Sprintf("more than %d steps: a set of flow files holds at most %d", MaxStepsInSet, MaxStepsInSet)
		return false
	}
	c.steps += len(steps.Values)
	return true
}
