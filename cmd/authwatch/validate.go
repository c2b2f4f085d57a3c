package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/report"
)

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "Usage: authwatch validate [PATH...]  (default: flows.d)") }
	if err := fs.Parse(args); err != nil {
		return exitInvalid
	}
	set, code := loadFlows(fs.Args(), stderr)
	if set == nil {
		return code
	}
	fmt.Fprintf(stdout, "ok: %d flows, %d steps\n", len(set.Flows), countSteps(set))
	return exitOK
}

// loadFlows loads and reports problems and warnings; a nil set means the
// configuration is invalid (the returned code says how to exit).
func loadFlows(paths []string, stderr io.Writer) (*flows.Set, int) {
	if len(paths) == 0 {
		paths = []string{"flows.d"}
	}
	set, err := flows.Load(flows.LoadOptions{}, paths...)
	var problems flows.Problems
	switch {
	case errors.As(err, &problems):
		report.Problems(stderr, problems, nil)
		fmt.Fprintf(stderr, "%d problems: the configuration is invalid\n", len(problems))
		return nil, exitInvalid
	case err != nil:
		fmt.Fprintf(stderr, "authwatch: %v\n", err)
		return nil, exitInvalid
	}
	for _, w := range set.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w.Error())
	}
	return set, exitOK
}

func countSteps(set *flows.Set) int {
	n := 0
	for _, f := range set.Flows {
		n += len(f.Steps)
	}
	return n
}
